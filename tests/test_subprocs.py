"""The refresh's child processes without multiprocessing (syndicator.subprocs): messages both ways, a pool's
results and errors, a worker that dies, and no resource tracker started."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syndicator import subprocs

ROOT = Path(__file__).resolve().parent.parent


def echo(inbox, outbox, prefix: str) -> None:
    """A child's target: answers each message with ``prefix`` and its pid until ``None``."""
    while (msg := inbox.get()) is not None:
        outbox.put((prefix, msg, os.getpid()))
    outbox.put("bye")


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


class _Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("no pickle")
        self.lock = __import__("threading").Lock()


def fail_unpicklably() -> None:
    raise _Unpicklable()


def unpicklable_result():
    return __import__("threading").Lock()


def die() -> None:
    os._exit(3)


def test_a_child_answers_in_order_and_puts_never_block():
    child = subprocs.Child(echo, ("got",))
    try:
        big = "x" * 200_000  # beyond a pipe's buffer: sent by the feeder thread while the child answers
        for n in range(20):
            child.put((n, big))
        answers = [child.get(timeout=30) for _ in range(20)]
        assert [a[1][0] for a in answers] == list(range(20))
        assert {a[0] for a in answers} == {"got"} and {a[2] for a in answers} == {child.pid} != {os.getpid()}
        with pytest.raises(queue.Empty):
            child.get_nowait()
        child.put(None)
        assert child.get(timeout=30) == "bye"
        child.join(timeout=30)
        assert child.exitcode == 0 and not child.is_alive()
        with pytest.raises(EOFError):  # it closed its end
            child.get(timeout=5)
    finally:
        child.kill()
        child.close()


def test_a_pool_returns_results_and_raises_the_workers_errors():
    pool = subprocs.Pool(2, name="test-pool")
    try:
        futures = [pool.submit(square, n) for n in range(30)]
        assert [f.result(timeout=60) for f in futures] == [n * n for n in range(30)]
        assert len(set(pool.pids)) == 2 and os.getpid() not in pool.pids
        with pytest.raises(ValueError, match="bad input"):
            pool.submit(fail, "bad input").result(timeout=60)
        with pytest.raises(RuntimeError, match="_Unpicklable: no pickle"):
            pool.submit(fail_unpicklably).result(timeout=60)
        with pytest.raises(RuntimeError, match="unpicklable_result's result does not pickle"):
            pool.submit(unpicklable_result).result(timeout=60)
        assert pool.submit(square, 7).result(timeout=60) == 49  # the workers carry on
    finally:
        pool.shutdown()
    assert pool.pids == []


def test_a_dead_worker_fails_its_task_and_every_later_one():
    pool = subprocs.Pool(1)
    try:
        assert pool.submit(square, 3).result(timeout=60) == 9
        dying = pool.submit(die)
        later = [pool.submit(square, n) for n in range(3)]
        with pytest.raises(subprocs.WorkerDied, match="exit code 3"):
            dying.result(timeout=60)
        for f in later:
            with pytest.raises(subprocs.WorkerDied):
                f.result(timeout=60)
    finally:
        pool.shutdown()


def nap(seconds: float) -> str:
    time.sleep(seconds)
    return "rested"


def test_shutdown_cancels_what_no_worker_started_and_waits_for_the_rest():
    pool = subprocs.Pool(1)
    first = pool.submit(nap, 1.0)
    deadline = time.monotonic() + 60
    while not first.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    queued = [pool.submit(square, n) for n in range(200)]
    pool.shutdown()
    assert first.result(timeout=0) == "rested"
    assert all(f.cancelled() for f in queued)


def test_no_resource_tracker_is_started():
    """multiprocessing's "spawn" started a resource tracker, a process of 13 MB, beside the first child."""
    code = (
        "from multiprocessing import resource_tracker\n"
        "from syndicator import subprocs\n"
        "from tests.test_subprocs import echo, square\n"
        "pool = subprocs.Pool(1)\n"
        "assert pool.submit(square, 5).result(timeout=60) == 25\n"
        "child = subprocs.Child(echo, ('x',))\n"
        "child.put(1)\n"
        "assert child.get(timeout=60)[1] == 1\n"
        "child.put(None); child.get(timeout=60); child.join(30); child.close()\n"
        "pool.shutdown()\n"
        "print(resource_tracker._resource_tracker._pid)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"
