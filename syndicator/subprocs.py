"""The refresh's child processes (its parse workers, its linking process), without multiprocessing.

multiprocessing's "spawn" starts, beside the first child, a resource tracker: a Python process of its own,
13 MB of RSS for the whole refresh (bench/scale_run.py's process tree), which would unlink the named
semaphores and shared memory that children leave behind. Ours use neither: each child gets pickled messages
over two pipes of its own. So a :class:`Child` is ``python -c`` started with :mod:`subprocess`, and its pipes
are :class:`multiprocessing.connection.Connection` objects (pickles with a length prefix; no process of
multiprocessing's is started). Started fresh, as "spawn" does: nothing of the refresh's threads or locks is
inherited. The children are the refresh's own, reaped by it, so their CPU time is counted in its own
(``os.wait4`` of a refresh, bench/scale_run.py).

:class:`Pool` is what the refresh needs of a process pool: ``submit`` a function and its arguments, get a
:class:`concurrent.futures.Future`; a worker that dies fails its task and every later one with
:class:`WorkerDied`, as a broken ``ProcessPoolExecutor`` does.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_CODE = "import sys; from syndicator.subprocs import _main; _main(int(sys.argv[1]), int(sys.argv[2]))"
_STOP = object()  # the feeder thread's last message


class WorkerDied(RuntimeError):
    """A child process ended while it had work to do."""


class Inbox:
    """The child's end of the parent's messages: ``get()`` blocks for the next one."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self) -> Any:
        return self._conn.recv()


class Outbox:
    """The child's end of its messages to the parent: ``put`` blocks while the pipe is full."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def put(self, obj: Any) -> None:
        self._conn.send(obj)


class Child:
    """A Python process running ``target(inbox, outbox, *args)`` (``target`` a module-level function).

    :meth:`put` never blocks the caller (a thread sends, as :class:`multiprocessing.Queue` does): the child may
    be blocked sending its own results while the parent sends it more. :meth:`get` takes the child's messages.
    """

    def __init__(self, target: Callable[..., None], args: tuple = (), *, name: str = "") -> None:
        self.name = name or target.__name__
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        root = str(Path(__file__).resolve().parent.parent)  # the package, wherever the parent found it
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        try:
            self._proc = subprocess.Popen(
                # the parent's interpreter flags (-B, -O, -X ...), as multiprocessing passes them
                # the name last, for ps and bench/proctree.py
                [sys.executable, *subprocess._args_from_interpreter_flags(), "-c", _CODE, str(to_child_r),
                 str(from_child_w), self.name],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, env=env,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._to = Connection(to_child_w, readable=False)
        self._from = Connection(from_child_r, writable=False)
        self._sending: queue.SimpleQueue = queue.SimpleQueue()
        self._feeder = threading.Thread(target=self._feed, name=f"{self.name}-feeder", daemon=True)
        self._feeder.start()
        self.put((target, args))

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def exitcode(self) -> int | None:
        return self._proc.poll()

    def is_alive(self) -> bool:
        return self._proc.poll() is None

    def put(self, obj: Any) -> None:
        self._sending.put(obj)

    def get(self, timeout: float | None = None) -> Any:
        """The child's next message; :class:`queue.Empty` when none came within ``timeout`` seconds (0: now),
        :class:`EOFError` when the child has closed its end (ended)."""
        if timeout is not None and not self._from.poll(timeout):
            raise queue.Empty
        return self._from.recv()

    def get_nowait(self) -> Any:
        return self.get(0)

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()

    def join(self, timeout: float | None = None) -> None:
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        """Stop the feeder and close this end of both pipes (after :meth:`join` or :meth:`kill`: a feeder blocked
        sending to a child that reads no more returns once the child is gone)."""
        self._sending.put(_STOP)
        self._feeder.join(timeout=5.0)
        if not self._feeder.is_alive():  # never under a send in progress: its descriptor could be reused
            self._to.close()
        self._from.close()

    def _feed(self) -> None:
        while (obj := self._sending.get()) is not _STOP:
            try:
                self._to.send(obj)
            except (OSError, ValueError, TypeError):  # the child is gone, or this end closed
                return


def _main(inbox_fd: int, outbox_fd: int) -> None:
    """A child's start: its target and arguments are the first message."""
    inbox = Inbox(Connection(inbox_fd, writable=False))
    outbox = Outbox(Connection(outbox_fd, readable=False))
    try:
        target, args = inbox.get()
        target(inbox, outbox, *args)
    except (EOFError, BrokenPipeError):  # the parent closed its ends: it ended or was killed, nobody is waiting
        pass


def _serve_pool(inbox: Inbox, outbox: Outbox, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """A pool worker: runs each ``(function, args)`` it is sent and sends ``(True, result)`` back, or
    ``(False, exception)``; ``None`` ends it."""
    if initializer is not None:
        initializer(*initargs)
    while (msg := inbox.get()) is not None:
        fn, args = msg
        try:
            answer = (True, fn(*args))
        except BaseException as exc:  # the caller's future raises it
            answer = (False, exc)
        try:
            outbox.put(answer)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # an answer that does not pickle
            ok, value = answer
            what = f"{fn.__name__}'s result does not pickle: {exc!r}" if ok else "".join(
                traceback.format_exception(value))
            outbox.put((False, RuntimeError(what)))


class Pool:
    """``workers`` child processes running submitted functions; started on the first :meth:`submit`."""

    def __init__(self, workers: int, *, initializer: Callable[..., None] | None = None, initargs: tuple = (),
                 name: str = "pool") -> None:
        self.workers = workers
        self._init = (initializer, initargs)
        self._name = name
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._children: list[Child] = []
        self._threads: list[threading.Thread] = []

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self._children]

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if not self._children:
            for n in range(self.workers):
                child = Child(_serve_pool, self._init, name=f"{self._name}-{n}")
                thread = threading.Thread(target=self._run, args=(child,), name=f"{self._name}-{n}", daemon=True)
                self._children.append(child)
                self._threads.append(thread)
                thread.start()
        future: Future = Future()
        self._tasks.put((future, fn, args))
        return future

    def shutdown(self) -> None:
        """Cancel what no worker has started, let the workers finish their task, and end them."""
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                task[0].cancel()
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join()
        for child in self._children:
            child.put(None)
        for child in self._children:
            child.join(timeout=5.0)
            child.kill()
            child.join()
            child.close()
        self._children.clear()
        self._threads.clear()

    def _run(self, child: Child) -> None:
        """One worker's thread: sends it a task at a time and settles the task's future with the answer."""
        dead = ""
        while (task := self._tasks.get()) is not None:
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue
            if dead:
                future.set_exception(WorkerDied(dead))
                continue
            child.put((fn, args))
            try:
                ok, value = child.get()  # EOFError once the child is gone: only it held the pipe's other end
            except (EOFError, OSError):
                child.join(timeout=1.0)
                dead = f"the parse worker {child.pid} ended (exit code {child.exitcode})"
                future.set_exception(WorkerDied(dead))
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
