"""Several worker processes sharing one store: leases, merging under concurrency, publishing.

The big test runs 4 ``syndicator worker`` processes against a fresh PostgreSQL
database and 500 sources on a local HTTP server that logs each request's start
and end, and kills one worker with SIGKILL in the middle of its work.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import func, select

from syndicator.store import SourceRow, Store
from tests.conftest import ON_POSTGRES, fresh_pg_url, store_url, syndicator
from tests.corpus import CorpusServer, Fetch, make_corpus
from tests.feedmaker import It, long_body, rss2
from tests.localserver import LocalServer, QuietHandler

SOURCES, SHARED, FEEDS = 500, 100, 10
LEASE = 4.0  # seconds: short, so the killed worker's sources come back quickly
STALL = 180.0  # seconds without any progress: the workers are stuck


def _config(folder: Path, url: str, agent: str, sources: dict[str, str], feeds: str, extra: str = "") -> Path:
    lines = [
        "[storage]", f'url = "{url}"',
        "[output]", 'dir = "public"', 'base_url = "http://127.0.0.1:8080/"',
        "[fetch]", f'user_agent = "{agent}"', "per_host = 4", 'default_interval = "1h"',
        "[merge]", "semantic = false",
        extra,
    ]
    for name, src in sources.items():
        lines += ["[[sources]]", f'name = "{name}"', f'url = "{src}"']
    lines.append(feeds)
    path = folder / f"{agent}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _holds(store: Store, condition) -> bool:
    with store.session() as s:
        return s.scalar(select(SourceRow.id).where(condition).limit(1)) is not None


def _overlapping(fetches: list[Fetch]) -> list[tuple[Fetch, Fetch]]:
    ordered = sorted(fetches, key=lambda f: f.start)
    return [(a, b) for a, b in itertools.pairwise(ordered) if b.start < a.end]


@pytest.mark.slow
@pytest.mark.skipif(not ON_POSTGRES, reason="workers on several hosts share PostgreSQL; runs in the PostgreSQL pass")
def test_four_workers_one_killed(tmp_path):
    corpus = make_corpus(SOURCES, SHARED)
    url = fresh_pg_url()
    names = {f"s{i:04d}": f"/s{i:04d}.xml" for i in range(SOURCES)}
    per_feed = SOURCES // FEEDS
    groups = [list(names)[k * per_feed : (k + 1) * per_feed] for k in range(FEEDS)]
    feeds = "\n".join(
        f'[[feeds]]\nname = "g{k}"\nlimit = 1000\nsources = {json.dumps(group)}\n' for k, group in enumerate(groups)
    ) + '[[feeds]]\nname = "all"\nlimit = 1000\nsources = ["*"]\n'
    with CorpusServer(corpus.feeds, delay=0.02) as server:
        sources = {n: server.url(p) for n, p in names.items()}
        configs = [
            _config(tmp_path, url, f"worker-{k}", sources, feeds,
                    f'[scheduler]\ntick = "0.5s"\nlease = "{LEASE:g}s"\nbatch = 16\n')
            for k in range(4)
        ]
        # Logs to files, not pipes: a pipe nobody reads while waiting fills up (64 KiB of log lines), and a
        # worker blocked writing its log in the middle of a transaction holds its locks, and the others wait.
        logs = [tmp_path / f"worker-{k}.log" for k in range(4)]
        procs = [
            subprocess.Popen([sys.executable, "-m", "syndicator", "--config", str(c), "worker"],
                             stdout=subprocess.DEVNULL, stderr=logfile.open("w"), text=True)
            for c, logfile in zip(configs, logs, strict=True)
        ]
        try:
            victim = procs[1]
            deadline = time.monotonic() + 240
            mine = SourceRow.lease_owner.like(f"%:{victim.pid}:%")
            with Store(url, migrate=False) as store:
                # Killed in the middle of its work: after some fetches, while it holds leases.
                while sum(f.agent == "worker-1" for f in server.fetches()) < 25 or not _holds(store, mine):
                    assert time.monotonic() < deadline, "worker-1 never got going"
                    assert victim.poll() is None, logs[1].read_text()
                    time.sleep(0.02)
            # Frozen first, so that the leases it holds when it dies can be read: once it is dead, the other
            # workers (on this same host) take them over at once, without waiting for them to run out.
            victim.send_signal(signal.SIGSTOP)
            with Store(url, migrate=False) as store, store.session() as s:
                held = {r.name: r.lease_until for r in s.scalars(select(SourceRow).where(mine))}
            killed_at = time.time()
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            assert held, "the killed worker held no lease: it was not killed in the middle of its work"

            # Everything fetched and stored, the killed worker's sources included, and published.
            # Not a time limit (a slow or loaded machine is not a failure) but a stall: no fetch, no source
            # done and no published item for STALL seconds means the workers are stuck.
            out = tmp_path / "public" / "all.json"
            progress, moved = None, time.monotonic()
            while True:
                for p, logfile in zip(procs, logs, strict=True):
                    assert p is victim or p.poll() is None, logfile.read_text()
                with Store(url, migrate=False) as store, store.session() as s:
                    pending = s.scalar(select(func.count(SourceRow.id)).where(
                        (SourceRow.last_fetch_at.is_(None)) | (SourceRow.lease_owner != "")))
                items = len(json.loads(out.read_bytes())["items"]) if out.exists() else 0
                if pending == 0 and items == corpus.stories:
                    break
                now_progress = (len(server.fetches()), pending, items)
                if now_progress != progress:
                    progress, moved = now_progress, time.monotonic()
                assert time.monotonic() - moved < STALL, f"the surviving workers stalled at {progress}"
                time.sleep(0.5)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        log = server.fetches()

    by_path: dict[str, list[Fetch]] = defaultdict(list)
    for f in log:
        by_path[f.path].append(f)
    assert set(by_path) == set(names.values())  # every source fetched
    assert all(f.status == 200 for f in log)
    for name, path in names.items():
        fetches = sorted(by_path[path], key=lambda f: f.start)
        assert not _overlapping(fetches), (name, fetches)
        # Due again in an hour: a second fetch is only the killed worker's in-flight source, once its lease
        # ended (at its death: its owner was a process of this host that no longer exists).
        if len(fetches) > 1:
            assert name in held, (name, fetches)
            assert len(fetches) == 2 and fetches[0].agent == "worker-1" != fetches[1].agent, fetches
            assert fetches[1].start >= killed_at, (fetches, killed_at)
        if name in held:
            assert all(f.agent != "worker-1" or f.start < killed_at for f in fetches)
    assert {f.agent for f in log} == {f"worker-{k}" for k in range(4)}

    # One story per link, whatever worker stored which variant.
    with Store(url, migrate=False) as store:
        assert store.count_stories() == corpus.stories
        assert store.count_articles() == SOURCES * 2
    stories = json.loads(syndicator("--config", str(configs[0]), "stories", "--json", "--limit", "0").stdout)
    assert len(stories) == corpus.stories
    shared = [s for s in stories if "news.example/story/" in s["url"]]
    assert len(shared) == SHARED and all(len(s["articles"]) == SOURCES // SHARED for s in shared)

    # Every feed complete and valid in each format.
    public = tmp_path / "public"
    for k in range(FEEDS):
        members = {f"s{i:04d}" for i in range(k * per_feed, (k + 1) * per_feed)}
        expected = {s["id"] for s in stories if any(a["source"] in members for a in s["articles"])}
        doc = json.loads((public / f"g{k}.json").read_bytes())
        assert {i["id"] for i in doc["items"]} == expected
        for ext in ("rss", "atom"):
            parsed = feedparser.parse((public / f"g{k}.{ext}").read_bytes())
            assert not parsed.bozo, parsed.bozo_exception
            assert {e.id for e in parsed.entries} == expected
    assert not list(public.glob(".*.tmp"))


def _barrier_server(feeds: dict[str, bytes], parties: int) -> LocalServer:
    """Holds every answer until ``parties`` requests have arrived: the workers then store at the same moment."""
    barrier = threading.Barrier(parties, timeout=60)

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            body = feeds[self.path]
            barrier.wait()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return LocalServer(Handler)


def test_two_processes_storing_variants_at_once_make_one_story_each(tmp_path):
    """Two sources carry the same 30 stories (same body, own headline and link); two processes store them at once."""
    n = 30
    a = [It(f"Alpha headline {k} about the accord", f"https://a.example/{k}", f"a{k}", long_body(f"story {k}"))
         for k in range(n)]
    b = [It(f"Beta take number {k}", f"https://b.example/{k}", f"b{k}", long_body(f"story {k}")) for k in range(n)]
    with _barrier_server({"/a.xml": rss2(a), "/b.xml": rss2(b)}, 2) as server:
        url = store_url(tmp_path)
        sources = {"a": server.url("/a.xml"), "b": server.url("/b.xml")}
        cfg = _config(tmp_path, url, "one", sources, '[[feeds]]\nname = "all"\nsources = ["*"]\n')
        Store(url).close()  # the schema first: this test is about merging, not about two migrations at once
        procs = [
            subprocess.Popen([sys.executable, "-m", "syndicator", "--config", str(cfg), "refresh", "--source", s],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
            for s in ("a", "b")
        ]
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
    with Store(url, migrate=False) as store:
        assert store.count_articles() == 2 * n
        assert store.count_stories() == n


def test_worker_alone_and_a_refresh_by_hand_respect_leases(feed_server, tmp_path):
    """`syndicator worker` (here on the suite's database, SQLite or PostgreSQL) fetches the due sources and stops on
    SIGTERM with no lease left; a refresh by hand leaves alone a source that a live worker holds."""
    from datetime import UTC, datetime, timedelta

    from syndicator.config import load_config
    from tests.conftest import Resource, write_config

    for name in ("a", "b"):
        feed_server.resources[f"/{name}.xml"] = Resource(rss2([It(f"{name} news", f"https://{name}.example/1", "1")]))
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml")},
                       extra='[scheduler]\ntick = "0.5s"\n')
    url = load_config(cfg).database_url()
    proc = subprocess.Popen([sys.executable, "-m", "syndicator", "--config", str(cfg), "worker"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        published = tmp_path / "public" / "all.json"
        while not published.exists() or len(json.loads(published.read_bytes())["items"]) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "published" in err  # the worker's log line after its refresh
    assert {r.path for r in feed_server.requests} == {"/a.xml", "/b.xml"}
    with Store(url, migrate=False) as store:
        assert all(r.lease_owner == "" and r.lease_until is None for r in store.sources().values())
        now = datetime.now(UTC)
        assert store.claim_sources(["a"], "other-host:1:x", now + timedelta(minutes=10), now) == (["a"], {})
    before = len(feed_server.requests)
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    assert "being fetched by another process (other-host:1:x)" in out.stdout + out.stderr
    assert [r.path for r in feed_server.requests[before:]] == ["/b.xml"]
    with Store(url, migrate=False) as store:
        rows = store.sources()
        assert rows["a"].lease_owner == "other-host:1:x" and rows["b"].lease_owner == ""


def test_claims_skip_live_leases_and_take_over_dead_or_expired_ones(tmp_path):
    """Store.claim_due on either database: a live process's lease is left alone; a lease whose owner is a dead
    process of this host, or whose time is up (a worker on another host that died), is taken over."""
    import socket
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    now = datetime.now(UTC)
    later = now + timedelta(minutes=10)
    with Store(store_url(tmp_path)) as store:
        store.sync_sources([(n, f"https://{n}.example/") for n in "abcde"])
        dead = subprocess.Popen(["true"])
        dead.wait()
        assert store.claim_sources(["a"], "other-host:1:x", later, now) == (["a"], {})
        assert store.claim_sources(["b"], f"{socket.gethostname()}:{dead.pid}:x", later, now) == (["b"], {})
        assert store.claim_sources(["c"], "other-host:2:y", now - timedelta(seconds=1), now) == (["c"], {})
        assert store.claim_sources(["a", "d"], "third:3:z", later, now) == (["d"], {"a": "other-host:1:x"})
        store.release_sources("third:3:z")

        if ON_POSTGRES:
            # A row another transaction has locked (another worker claiming it right now) is skipped, not waited for.
            with store.engine.connect() as other:
                other.execute(text("SELECT id FROM sources WHERE name = 'e' FOR UPDATE"))
                claimed = {r.name for r in store.claim_due("me:1:m", list("abcde"), now, later, 10)}
                other.rollback()
            assert claimed == {"b", "c", "d"}
            claimed |= {r.name for r in store.claim_due("me:1:m", list("abcde"), now, later, 10)}
        else:
            claimed = {r.name for r in store.claim_due("me:1:m", list("abcde"), now, later, 10)}
        assert claimed == {"b", "c", "d", "e"}
        assert store.claim_due("you:2:n", list("abcde"), now, later, 10) == []
        assert store.claim_due("me:1:m", list("abcde"), now, later, 10) == []  # its own leases are not due again

        # A lease is pushed back while its owner lives; a result is recorded only by the lease's holder.
        assert store.renew_leases("me:1:m", now, later + timedelta(minutes=5)) == 4
        assert not store.update_source("b", owner="you:2:n", last_outcome="ok")
        assert store.update_source("b", owner="me:1:m", last_outcome="ok")
        rows = store.sources()
        assert rows["b"].last_outcome == "ok" and rows["b"].lease_owner == ""
        assert rows["c"].lease_until == later + timedelta(minutes=5)
        store.release_sources("me:1:m")
        assert {n: r.lease_owner for n, r in store.sources().items()} == {
            "a": "other-host:1:x", "b": "", "c": "", "d": "", "e": ""
        }
