"""Parsing and fingerprinting in a process pool (syndicator.prepare) stores exactly what the refresh's own
process would: the same stories, the same merges, the same articles; changed entries only are redone."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta

from syndicator import prepare
from syndicator.config import load_config
from syndicator.refresh import refresh
from syndicator.store import Store, queries
from tests.conftest import Resource, write_config
from tests.feedmaker import It, long_body, rss2

T0 = datetime(2025, 4, 11, 9, 0, tzinfo=UTC)
SOURCES = 10


def _items(source: int, gen: int) -> list[It]:
    out = []
    for k in range(4 + gen):
        # every source's item 0 carries the same wire body: one story across the sources
        body = long_body("wire copy of the day") if k == 0 else long_body(f"source {source} story {k}")
        out.append(It(title=f"Source {source} headline {k}", link=f"https://s{source}.example/{k}",
                      guid=f"s{source}-{k}", body=body, published=T0 - timedelta(hours=k)))
    return out


def _serve(feed_server, gen: int) -> None:
    for n in range(SOURCES):
        feed_server.resources[f"/s{n}.xml"] = Resource(rss2(_items(n, gen)), "application/rss+xml")


def _stories(cfg) -> list[tuple[str, ...]]:
    config = load_config(cfg)
    with Store(config.database_url()) as store, store.session() as s:
        ids = queries.newest_story_ids(s, 0, None)
        found = queries.story_dicts(s, ids, config.merge.headline, config.related.limit, config.merge.level)
    # the groupings: which article leads a story depends on which source answered first
    return sorted(tuple(sorted(a["guid"] for a in st["articles"])) for st in found)


def _run(feed_server, folder, pool: bool, monkeypatch) -> list:
    monkeypatch.setattr(prepare, "MIN_DOCUMENTS", 1 if pool else 10**9)
    cfg = write_config(folder, {f"s{n}": feed_server.url(f"/s{n}.xml") for n in range(SOURCES)})
    config = load_config(cfg)
    calls = []
    workers = set()
    real = prepare.Preparer.submit

    def submit(self, *a):
        calls.append(a[4])
        workers.add(self.workers)
        return real(self, *a)

    monkeypatch.setattr(prepare.Preparer, "submit", submit)
    with Store(config.database_url()) as store:
        for gen in (1, 2):
            _serve(feed_server, gen)
            report = refresh(config, store)
            assert not report.failed
    assert len(calls) == (2 * SOURCES if pool else 0)
    # related stories are on (the default): the linking process has a core of its own
    assert workers == ({max(1, (os.cpu_count() or 1) - 1)} if pool else set())
    return _stories(cfg)


def test_pool_stores_what_the_refresh_itself_would(feed_server, tmp_path, monkeypatch):
    (tmp_path / "inline").mkdir()
    (tmp_path / "pool").mkdir()
    inline = _run(feed_server, tmp_path / "inline", False, monkeypatch)
    feed_server.requests.clear()
    pooled = _run(feed_server, tmp_path / "pool", True, monkeypatch)
    assert pooled == inline
    wire = [guids for guids in pooled if len(guids) > 1]
    assert wire == [tuple(sorted(f"s{n}-0" for n in range(SOURCES)))]
    assert sum(len(g) for g in pooled) == SOURCES * 6


def test_workers_leave_a_core_to_the_linking_process(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert prepare.Preparer(100).workers == 4
    assert prepare.Preparer(100, reserve=1).workers == 3
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert prepare.Preparer(100, reserve=1).workers == 1 and prepare.Preparer(100, reserve=1).enabled
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert not prepare.Preparer(100, reserve=1).enabled
    assert not prepare.Preparer(prepare.MIN_DOCUMENTS - 1).enabled


def test_prepare_fingerprints_only_new_or_changed_entries(feed_server):
    from syndicator.parse import parse_document
    from syndicator.store.ingest import content_hash

    body = rss2(_items(0, 2))
    parsed = parse_document(body, "https://s0.example/feed", "application/rss+xml")
    known = {e.guid: content_hash(e) for e in parsed.entries[1:]}
    known[parsed.entries[2].guid] = "changed since"
    done = prepare.prepare(body, "https://s0.example/feed", "application/rss+xml", True, "s0", known,
                           datetime.now(UTC))
    assert done.parsed == parsed
    assert sorted(done.fingerprints) == sorted([parsed.entries[0].guid, parsed.entries[2].guid])
    broken = prepare.prepare(b"<html>no feed</html>", "https://x/", "image/png", True, "s0", {}, datetime.now(UTC))
    assert broken.parsed is None and "not a feed" in broken.error


def test_pool_workers_leave_when_the_refresh_is_killed(tmp_path):
    """SIGKILL runs no clean-up: the workers notice their parent is gone and exit on their own."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import time\n"
        "from syndicator.prepare import Preparer\n"
        "if __name__ == '__main__':  # spawned workers import this module too\n"
        "    p = Preparer(expected=100)\n"
        "    p.submit(b'<rss/>', 'file:///x.xml', 'application/rss+xml', True, 's', {}, None).result()\n"
        "    print(' '.join(str(pid) for pid in p._pool.pids), flush=True)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert workers, "the pool started no worker"

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # An exited worker reparented to an init that does not reap it stays a zombie: gone all the same.
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"

    assert all(alive(pid) for pid in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers), "orphaned parse workers still running"


def test_values_made_in_a_worker_are_the_ones_the_store_would_make(monkeypatch):
    """What a worker ships memoised on a fingerprint (index keys, related profile and compact, body hashes,
    event vectors) is used by the store as if made there: made in another process, with another string hash
    seed, it must be exactly what this process makes from the same fingerprint."""
    from syndicator import relate, similarity
    from syndicator.fingerprints import _derived

    monkeypatch.setenv("PYTHONHASHSEED", "4242")  # the spawned worker's, not this process's
    items = [*_items(3, 2), It(title="Only a headline here, about the Troops of Six Western Nations",
                               link="https://h.example/1", guid="h1", body="", published=T0)]
    body = rss2(items)
    pool = prepare.Preparer(prepare.MIN_DOCUMENTS)
    try:
        done = pool.submit(body, "https://s3.example/feed", "application/rss+xml", True, "s3", {}, T0).result()
    finally:
        pool.close()
    assert len(done.fingerprints) == len(items)
    names = ("keys:article", "keys:event", "relate_keys", "relate_profile", "relate_compact", "body_hashes",
             "vector", "name_vector")
    for fp in done.fingerprints.values():
        shipped = fp.__dict__["_memo"]
        assert set(shipped) == set(names)
        fresh = similarity.fingerprint_from_dict(similarity.fingerprint_to_dict(fp))
        assert fresh == fp and "_memo" not in fresh.__dict__
        similarity.index_keys(fresh, "article"), similarity.index_keys(fresh, "event"), relate.index_keys(fresh)
        relate.compact(fresh)
        similarity.derive_for_store(fresh)
        made = fresh.__dict__["_memo"]
        for name in ("keys:article", "keys:event", "relate_keys"):
            assert shipped[name] == made[name], name
        # the event vectors are summed in their order (fingerprints._cosine): same words, same order, same bits
        for name in ("vector", "name_vector"):
            assert list(shipped[name].items()) == list(made[name].items()), name
        # a profile is only read by word or in sorted order (its headline words come from a set)
        assert shipped["relate_profile"] == made["relate_profile"]
        assert shipped["relate_profile"].norm == made["relate_profile"].norm
        a, b = shipped["body_hashes"], made["body_hashes"]
        assert (a.hashes, a.count, a.body_class) == (b.hashes, b.count, b.body_class)
        ca, cb = shipped["relate_compact"], made["relate_compact"]
        for field in ca.__slots__:
            assert getattr(ca, field) == getattr(cb, field), field
        assert all(w is sys.intern(w) for w in ca.words + ca.title)  # interned again on unpickling
        assert _derived(fp, "vector", lambda: None) is shipped["vector"]  # the store uses them, not new ones
        # unpickled here, or decoded from the store: the words interned, shared by every cached fingerprint
        assert all(t is sys.intern(t) for t in fp.title + fp.body + fp.names + fp.entities)
        assert all(w is sys.intern(w) for name in ("vector", "name_vector") for w in shipped[name])
        assert all(t is sys.intern(t) for t in fresh.title + fresh.body + fresh.names + fresh.entities)


def test_a_worker_does_not_import_the_store(monkeypatch):
    """A parse worker parses and fingerprints; importing the store (SQLAlchemy, the schema) on the way cost
    each worker 28 MB of RSS (bench/scale_run.py's process tree: 65 MB a worker at 200 x 50), for two
    functions of an entry (model.content_hash, model.FUTURE_SLACK) now beside the entry itself."""
    from tests import worker_probe

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    pool = prepare.Preparer(prepare.MIN_DOCUMENTS, reserve=1)  # one worker: the probe runs where the parse ran
    try:
        known = {"s0-0": "stale"}  # a known entry with another hash: fingerprinted again, the hash compared
        done = pool.submit(rss2(_items(0, 1)), "https://s0.example/feed", "application/rss+xml", True, "s0",
                           known, T0).result()
        assert done.fingerprints and not done.error
        loaded = pool._pool.submit(worker_probe.loaded_modules).result()
    finally:
        pool.close()
    assert "syndicator.similarity" in loaded and "feedparser" in loaded
    assert "sqlalchemy" not in loaded and "syndicator.store" not in loaded


def test_documents_ahead_of_the_store_are_bounded_by_their_new_entries():
    from syndicator.refresh import MAX_PREPARED, MAX_PREPARED_ENTRIES, prepared_ahead_full

    assert (MAX_PREPARED, MAX_PREPARED_ENTRIES) == (8, 150)
    assert not prepared_ahead_full([], 0.0)
    assert prepared_ahead_full([None] * 8, 0.0)  # MAX_PREPARED documents whatever they hold
    assert not prepared_ahead_full([None] * 7, 5.0)  # incremental: 5 new entries a document
    assert not prepared_ahead_full([5, 5, 4, None, None], 5.0)
    assert prepared_ahead_full([50, 50, None], 50.0)  # cold: three documents of 50 new entries
    assert not prepared_ahead_full([50, None], 50.0)
    assert prepared_ahead_full([150], 0.0)
    assert not prepared_ahead_full([0, 0, 0, 1], 100.0)  # a parsed document counts what it holds


def test_the_refresh_bounds_the_documents_ahead_by_what_the_parsed_ones_hold(feed_server, tmp_path, monkeypatch):
    """The documents ahead are counted by the new entries of those stored so far, and the refresh stores one
    before it submits more when they reach the bound, short of MAX_PREPARED documents: the stories are the
    same."""
    from syndicator import refresh as refresh_module

    seen: list[tuple[list[int | None], float, bool]] = []
    bound = refresh_module.prepared_ahead_full

    def watch(new_entries, mean):
        full = bound(new_entries, mean)
        seen.append((list(new_entries), mean, full))
        return full

    monkeypatch.setattr(refresh_module, "MAX_PREPARED_ENTRIES", 5)
    monkeypatch.setattr(refresh_module, "prepared_ahead_full", watch)
    (tmp_path / "inline").mkdir()
    (tmp_path / "pool").mkdir()
    bounded = _run(feed_server, tmp_path / "pool", True, monkeypatch)
    # generation 1: 5 new entries a source; generation 2 (its own refresh, its own mean): one more
    assert {mean for _, mean, _ in seen} >= {5.0, 1.0}
    assert any(full and len(entries) < refresh_module.MAX_PREPARED for entries, _, full in seen)
    feed_server.requests.clear()
    assert bounded == _run(feed_server, tmp_path / "inline", False, monkeypatch)
