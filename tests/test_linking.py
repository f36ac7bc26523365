"""The linking process reads a SQLite store through sqlite3 alone (syndicator.linking.SqliteReads): the same SQL
as SQLAlchemy's statements (syndicator.store.sql), the same rows, and no SQLAlchemy imported in that process.
tests/test_linker.py links whole streams both ways and compares the links."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite

from syndicator import linking, subprocs
from syndicator.store import db, linker, sql
from tests import worker_probe
from tests.test_linker import (
    MERGE_WINDOW,
    NOW,
    RELATED_WINDOW,
    _cold_caches,
    _reads,
    _sources,
    _store,
    small_data,  # noqa: F401 (autouse fixture)
)


def _sqlalchemy_text(name: str) -> str:
    """The statement ``sql.<name>`` as SQLAlchemy renders it for SQLite, written as SQLITE_SQL writes it:
    named parameters, ``{x}`` for an IN list, the JSON paths' bound values inline."""
    compiled = getattr(sql, name).compile(dialect=sqlite.dialect())
    names = iter(compiled.positiontup)
    paths = {"kind": "'$.\"kind\"'", ("shared", 0): "'$.\"shared\"[0]'"}
    params = compiled.params

    def place(m: re.Match) -> str:
        if m.group(1):
            next(names)
            return "{" + m.group(1) + "}"
        key = next(names)
        if key in ("reason_1", "reason_2"):
            return paths[params[key]]
        if key.startswith("param_"):  # LIMIT, OFFSET
            return str(params[key])
        return f":{key}"

    text = re.sub(r"\(__\[POSTCOMPILE_(\w+)\]\)|\?", lambda m: f"({place(m)})" if m.group(1) else place(m),
                  str(compiled))
    return " ".join(text.split())


@pytest.mark.parametrize("name", sorted(linking.SQLITE_SQL))
def test_the_sqlite_text_is_what_sqlalchemy_renders(name):
    assert " ".join(linking.SQLITE_SQL[name].split()) == _sqlalchemy_text(name)


def test_sqlite3_reads_the_rows_the_session_reads(tmp_path):
    _cold_caches()
    with _store(tmp_path / "s") as store:
        if db.sqlite_path(store.url) is None:
            pytest.skip("sqlite3 reads a SQLite store only")
        owner = "probe"
        for n, (name, entries) in enumerate(_sources(), start=1):
            store.ingest(name, entries, NOW, MERGE_WINDOW, related_window=RELATED_WINDOW,
                         queue_links=(owner, n * linker.BATCH_SEQ) if n > 6 else None)
        with store.session() as s:
            ids = [r[0] for r in s.execute(sql.PENDING_OF, {"owner": owner}).all()]
            keys = [k for (k,) in s.execute(select(sql._K.c.key).distinct().limit(50)).all()]
            linked = [r[0] for r in s.execute(select(sql._L.c.article_id).distinct().limit(40)).all()]
            common = s.execute(select(sql._K.c.key).group_by(sql._K.c.key)
                               .order_by(func.count().desc(), sql._K.c.key).limit(1)).scalar_one()
            times = s.execute(select(sql._K.c.published).where(sql._K.c.key == common)
                              .order_by(sql._K.c.published)).scalars().all()
            their_keys = [k for (k,) in s.execute(select(sql._K.c.key).where(sql._K.c.article_id.in_(ids[:5]))).all()]
            one = s.execute(select(sql._A.c.source_id, sql._A.c.canonical_url, sql._A.c.body_hash)
                            .where(sql._A.c.body_hash.is_not(None)).order_by(sql._A.c.id).limit(1)).one()
        assert len(ids) == 60 and len(keys) == 50 and len(linked) == 40 and len(times) > 10 and len(their_keys) > 20
        lo, at, hi = times[0], times[len(times) // 2], times[-1]
        ever = (NOW - timedelta(days=3650), NOW + timedelta(days=1))
        params = {
            "PENDING_OF": {"owner": owner}, "LINKED_ROWS": {"ids": ids},
            "KEY_COUNTS": {"keys": keys, "lo": lo, "hi": hi}, "KEY_POSTINGS": {"keys": keys, "lo": lo, "hi": hi},
            "NEAREST_BEFORE": {"key": common, "lo": lo, "at": at, "n": 5},
            "NEAREST_AFTER": {"key": common, "at": at, "hi": hi, "n": 5},
            "RELATED_CANDIDATES": {"ids": ids}, "COMPACTS": {"ids": ids}, "FINGERPRINTS": {"ids": ids},
            "LINK_SUBJECTS": {"ids": linked}, "LINK_SUBJECT_PAIRS": {"ids": linked},
            # merging's (syndicator.store.ingest)
            "KEY_POSTINGS_AT": {"keys": keys, "lo": lo, "hi": hi}, "MERGE_CANDIDATES": {"ids": ids},
            "SAME_URL": {"url": one.canonical_url}, "SHARED_KEYS": {"ids": ids, "keys": their_keys},
            "SAME_BODY": {"source_id": one.source_id, "lo": ever[0], "hi": ever[1], "body_hash": one.body_hash},
        }
        assert set(params) == set(linking.SQLITE_SQL)
        with _reads(store, "session") as s, _reads(store, "sqlite3") as raw:
            for name, p in params.items():
                want = [tuple(r) for r in linking.SessionReads(s).rows(name, p)]
                got = [tuple(r) for r in raw.rows(name, p)]
                assert want, name  # something to compare
                assert sorted(got, key=repr) == sorted(want, key=repr), name
                assert [type(v) for v in got[0]] == [type(v) for v in want[0]], name
        # the postings written through sqlite3 (ingest._index) carry their article's time as the ORM wrote it
        with store.session() as s:
            same, differ = s.connection().exec_driver_sql(
                "SELECT sum(k.published = a.published), sum(k.published IS NOT a.published OR typeof(k.published) "
                "!= 'text') FROM article_keys k JOIN articles a ON a.id = k.article_id").one()
        assert same > 1000 and differ == 0


def test_the_linking_process_links_a_sqlite_store_without_sqlalchemy(tmp_path):
    _cold_caches()
    owner = "probe"
    with _store(tmp_path / "s") as store:
        path = db.sqlite_path(store.url)
        if path is None:
            pytest.skip("sqlite3 reads a SQLite store only")
        batches = []
        for n, (name, entries) in enumerate(_sources(), start=1):
            stats = store.ingest(name, entries, NOW, MERGE_WINDOW, related_window=RELATED_WINDOW,
                                 queue_links=(owner, n * linker.BATCH_SEQ))
            batches.append([linker.Queued(q.article_id, q.seq, linker.shipped(q.fp)) for q in stats.queued])
        proc = subprocs.Child(worker_probe.serve_linker, (store.url, path, RELATED_WINDOW, owner, os.getpid()))
        try:
            got = []
            for batch in batches:
                proc.put((batch, NOW))
                kind, results = proc.get(timeout=120)
                assert kind == "done", results
                got += results
            proc.put(None)
            assert proc.get(timeout=60)[0] == "bye"
            kind, modules, fp_cache = proc.get(timeout=60)
        finally:
            proc.join(timeout=30)
            proc.kill()
            proc.close()
        assert kind == "modules" and "syndicator.linking" in modules
        assert fp_cache == linking.LINKER_FP_CACHE_SIZE < linking.FP_CACHE_SIZE  # its own, smaller
        assert not [m for m in modules if m.split(".")[0] == "sqlalchemy" or m.startswith("syndicator.store")]
        # the same links as the refresh's own process makes from the same queue, through its Session
        _cold_caches()
        with _reads(store, "session") as s:
            unwritten, here = [], []
            for batch in batches:
                done, unwritten = linker.link_batch(s, owner, batch, timedelta(seconds=RELATED_WINDOW), NOW,
                                                    unwritten)
                here += done
        assert sum(len(rows) for _, rows in got) > 1000
        assert got == here


def test_the_cache_finds_trims_and_forgets_every_key_of_an_article():
    cache = linking._Cache(3)
    cache.put(("a", "h1:"), 1)
    cache.put(("a", "h2:"), 2)  # the same article under a second content hash
    cache.put(("b", "h1:"), 3)
    assert [cache.get(("a", "h1:")), cache.get(("a", "h2:")), cache.get(("b", "h1:"))] == [1, 2, 3]
    cache.put(("c", "h1:"), 4)
    cache.trim()  # the least recently used goes: a's first key; a's second stays findable and forgettable
    assert cache.get(("a", "h1:")) is None and cache.get(("a", "h2:")) == 2
    assert cache.ids["a"] == ("a", "h2:")
    cache.put(("a", "h2:"), 5)  # put again: still one key
    assert cache.ids["a"] == ("a", "h2:") and cache.get(("a", "h2:")) == 5
    cache.put(("a", "h3:"), 6)
    cache.forget("a")
    assert cache.get(("a", "h2:")) is None and cache.get(("a", "h3:")) is None and "a" not in cache.ids
    cache.forget("nobody")
    cache.size = 0
    cache.trim()
    assert not cache.entries and not cache.ids
