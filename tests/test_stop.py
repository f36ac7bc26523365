"""SIGTERM or Ctrl-C during a real ``syndicator refresh``: it stops after the source it is storing, keeps what
it stored, releases its leases, leaves no parse worker behind and exits 128 + the signal; a second signal
stops it at once. The next refresh stores the rest and publishes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Resource, db_rows, syndicator, write_config
from tests.feedmaker import It, long_body, rss2

SOURCES = 10  # enough for the parse pool (syndicator.prepare.MIN_DOCUMENTS)
ITEMS = 3
T0 = datetime(2025, 4, 11, 9, 0, tzinfo=UTC)


def _setup(feed_server, tmp_path: Path) -> Path:
    for n in range(SOURCES):
        items = [It(f"Source {n} report {k} on the harbour works", f"https://s{n}.example/{k}", f"s{n}-{k}",
                    body=long_body(f"source {n} report {k}"), published=T0 - timedelta(hours=k))
                 for k in range(ITEMS)]
        feed_server.resources[f"/s{n}.xml"] = Resource(rss2(items, title=f"Source {n}"))
    return write_config(tmp_path, {f"s{n}": feed_server.url(f"/s{n}.xml") for n in range(SOURCES)})


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(") ", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _refresh_and_signal(cfg: Path, signals: list[int], group: bool) -> tuple[int, str, list[int]]:
    """Start a refresh that pauses inside its first store transaction; send ``signals`` there (to the
    whole process group, as a terminal's Ctrl-C does, when ``group``). Returns its exit status, its stderr
    and the pids of its parse workers seen while it paused."""
    env = {**os.environ, "SYNDICATOR_TEST_PAUSE_AT": "ingest-commit", "SYNDICATOR_TEST_PAUSE_SECONDS": "1.5"}
    env.pop("SYNDICATOR_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "syndicator", "--config", str(cfg), "refresh"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    err, workers = b"", []
    deadline = time.monotonic() + 60
    try:
        while b"syndicator-test-pause" not in err and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                assert chunk, f"the refresh ended before storing anything: {err.decode()}"
                err += chunk
        assert b"syndicator-test-pause" in err, "no store transaction within 60 s"
        workers = _children(proc.pid)
        for sig in signals:
            (os.killpg if group else os.kill)(proc.pid, sig)
            time.sleep(0.05)
        rest = proc.stderr.read()
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    return code, (err + rest).decode(), workers


def _gone(pids: list[int]) -> bool:
    """Whether these processes end within 15 s (a zombie that nobody reaps has ended)."""
    deadline = time.monotonic() + 15
    while any(_state(pid) not in ("", "Z") for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0]
    except OSError:
        return ""


@pytest.mark.parametrize(("sig", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGTERM", "ctrl-c"])
def test_a_signal_stops_the_refresh_after_the_source_being_stored(feed_server, tmp_path, sig, group):
    cfg = _setup(feed_server, tmp_path)
    code, err, workers = _refresh_and_signal(cfg, [sig], group)

    assert code == 128 + sig, err
    name = signal.Signals(sig).name
    assert "stopping after the source being stored" in err
    assert f"stopped by {name} after" in err
    assert "Traceback" not in err, err  # the pool's workers leave Ctrl-C to the refresh
    # The source being stored when the signal came is stored whole; the rest is left for later.
    stored = db_rows(cfg, "SELECT count(*) FROM articles")[0][0]
    sources = db_rows(cfg, "SELECT count(DISTINCT source_id) FROM articles")[0][0]
    assert 1 <= sources < SOURCES
    assert stored == sources * ITEMS
    assert db_rows(cfg, "SELECT count(*) FROM sources WHERE lease_owner != ''") == [(0,)]
    assert not (tmp_path / "public" / "all.atom").exists()  # nothing half-done published
    assert _gone(workers), "parse workers outlived the refresh"
    # Its articles wait for their related-story links (its linking process was stopped with it).
    assert db_rows(cfg, "SELECT count(*) FROM pending_links") == [(stored,)]

    # The next refresh is not held off by leases, links what the stopped one left, stores the rest and publishes.
    done = syndicator("--config", str(cfg), "refresh")
    assert done.returncode == 0, done.stderr
    assert "deferred" not in done.stdout
    assert db_rows(cfg, "SELECT count(*) FROM articles") == [(SOURCES * ITEMS,)]
    assert db_rows(cfg, "SELECT count(*) FROM pending_links") == [(0,)]
    linked = db_rows(cfg, "SELECT count(*) FROM (SELECT article_id FROM article_links "
                          "UNION SELECT other_id FROM article_links) AS ends")[0][0]
    assert linked == SOURCES * ITEMS  # every article, the stopped refresh's too
    assert (tmp_path / "public" / "all.atom").is_file()


def test_a_second_signal_stops_at_once_and_the_store_stays_whole(feed_server, tmp_path):
    cfg = _setup(feed_server, tmp_path)
    code, err, workers = _refresh_and_signal(cfg, [signal.SIGTERM, signal.SIGTERM], group=False)

    assert code == -signal.SIGTERM, err  # killed by the second, inside the paused transaction
    assert db_rows(cfg, "SELECT count(*) FROM articles") == [(0,)]  # that transaction rolled back
    assert _gone(workers), "parse workers outlived the refresh"
    done = syndicator("--config", str(cfg), "refresh")
    assert done.returncode == 0, done.stderr
    assert db_rows(cfg, "SELECT count(*) FROM articles") == [(SOURCES * ITEMS,)]
