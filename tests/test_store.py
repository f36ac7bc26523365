"""The store on a real SQLite file: migrations match the models, merging rules, absorption."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from syndicator.model import Entry
from syndicator.store import Store
from syndicator.store.db import (
    MIGRATIONS,
    SCHEMA_HEAD,
    alembic_upgrade,
    create_new,
    create_store_engine,
    current_revision,
    migrate,
)
from syndicator.store.schema import ArticleRow, Base, StoryAliasRow, StoryRow
from tests.conftest import ON_POSTGRES, store_url
from tests.feedmaker import long_body

NOW = datetime(2025, 4, 11, 12, 0, tzinfo=UTC)


def _store(tmp_path) -> Store:
    store = Store(store_url(tmp_path))
    store.sync_sources([("a", "https://a.example/"), ("b", "https://b.example/")])
    return store


def _entry(guid, url, title, text="", published=NOW) -> Entry:
    return Entry(guid=guid, url=url, title=title, text=text, summary=text, published=published)


def test_migrations_create_exactly_the_models(tmp_path):
    store = _store(tmp_path)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD
    assert current_revision(store.engine) == SCHEMA_HEAD
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    if not ON_POSTGRES:  # SQLite's own settings; PostgreSQL has neither pragmas nor a journal mode
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    store.close()
    Store(store_url(tmp_path)).close()  # reopening an up-to-date store is a no-op


def _strs(options: dict) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in options.items()))


def _schema(engine) -> dict:
    """Every table's columns, keys, indexes and constraints as the database reports them (column order aside:
    Alembic's batch mode on SQLite rebuilds a table with an added column last)."""
    insp = inspect(engine)
    out = {}
    for table in insp.get_table_names():
        cols = sorted((c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in
                      insp.get_columns(table))
        indexes = sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]), _strs(i.get("dialect_options", {})))
                         for i in insp.get_indexes(table))
        fks = sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]),
                      _strs(f.get("options", {}))) for f in insp.get_foreign_keys(table))
        uniques = sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table))
        out[table] = (cols, tuple(insp.get_pk_constraint(table)["constrained_columns"]), indexes, fks, uniques)
    if engine.dialect.name == "sqlite":  # partial indexes' WHERE clauses, as SQLite keeps their text
        with engine.connect() as conn:
            out["sqlite indexes"] = sorted(" ".join(sql.split()) for (sql,) in conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
    else:
        with engine.connect() as conn:
            out["pg indexes"] = sorted(conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'").scalars())
    return out


def test_a_new_store_made_from_the_models_is_the_store_the_migrations_make(tmp_path):
    """A new store is made from the models, without Alembic (db.create_new); the migrations make the same."""
    fast = create_store_engine(store_url(tmp_path / "fast"))
    slow = create_store_engine(store_url(tmp_path / "slow"))
    try:
        assert migrate(fast) is None
        assert "alembic_version" in inspect(fast).get_table_names()
        alembic_upgrade(slow)
        assert current_revision(fast) == current_revision(slow) == SCHEMA_HEAD
        made, migrated = _schema(fast), _schema(slow)
        assert set(made) == set(migrated)
        for table in made:
            assert made[table] == migrated[table], table
        assert create_new(fast) is False  # a database with tables is left to Alembic
    finally:
        fast.dispose()
        slow.dispose()


def test_opening_or_creating_a_store_loads_no_alembic(tmp_path):
    """Alembic's 10 MB stay out of a process that opens an up-to-date store or makes a new one."""
    code = ("import sys\n"
            "from syndicator.store import Store\n"
            f"Store({store_url(tmp_path)!r}).close()\n"
            f"Store({store_url(tmp_path)!r}).close()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"


def test_article_joining_two_stories_makes_the_older_absorb_the_newer(tmp_path):
    store = _store(tmp_path)
    body = long_body("The accord")
    store.ingest("a", [_entry("1", "https://a.example/news/one", "Story by URL")], NOW, 72 * 3600)
    store.ingest("b", [_entry("2", "https://b.example/two", "Story by body", body)], NOW + timedelta(minutes=1),
                 72 * 3600)
    assert store.count_stories() == 2
    with store.session() as s:
        older = s.scalars(select(StoryRow).where(StoryRow.title == "Story by URL")).one().id
        newer = s.scalars(select(StoryRow).where(StoryRow.title == "Story by body")).one().id
    # Same page as story 1, same body as story 2: the two are one story.
    stats = store.ingest("b", [_entry("3", "http://www.a.example/news/one/", "Bridge", body)], NOW, 72 * 3600)
    assert stats.merged == 1 and stats.new_stories == 0
    assert store.count_stories() == 1
    with store.session() as s:
        assert {a.story_id for a in s.scalars(select(ArticleRow))} == {older}
        alias = s.get(StoryAliasRow, newer)
        assert alias is not None and alias.story_id == older


def test_body_merge_respects_the_window_and_updates_are_not_new(tmp_path):
    store = _store(tmp_path)
    body = long_body("The harvest")
    store.ingest("a", [_entry("1", "https://a.example/1", "Harvest", body)], NOW, 72 * 3600)
    late = NOW + timedelta(days=4)
    store.ingest("b", [_entry("2", "https://b.example/2", "Harvest again", body, published=late)], late, 72 * 3600)
    assert store.count_stories() == 2  # same body, but outside the 72-hour window
    stats = store.ingest("a", [_entry("1", "https://a.example/1", "Harvest (updated)", body)], NOW, 72 * 3600)
    assert (stats.new_articles, stats.updated_articles) == (0, 1)
    again = store.ingest("a", [_entry("1", "https://a.example/1", "Harvest (updated)", body)], NOW, 72 * 3600)
    assert (again.unchanged, again.updated_articles) == (1, 0)
    assert store.count_articles() == 2


def test_future_dates_are_clamped(tmp_path):
    store = _store(tmp_path)
    future = NOW + timedelta(days=365)
    store.ingest("a", [_entry("1", "https://a.example/1", "From the future", published=future)], NOW, 3600)
    with store.session() as s:
        assert s.scalars(select(ArticleRow.published)).one() <= NOW + timedelta(hours=1)


def test_site_wide_boilerplate_excerpt_does_not_merge_a_source(tmp_path):
    store = _store(tmp_path)
    excerpt = (
        "Read the full story on Example Daily, the independent newspaper for politics, business, culture and "
        "sport, with award-winning reporting from our correspondents around the world every single day."
    )
    topics = ["Budget vote", "Harbour strike", "Museum reopens", "Ferry delayed", "Mayor resigns", "Comet seen",
              "Vineyard sold", "Bridge closed", "Census results", "Tunnel opens", "Glacier melts", "Court rules"]
    entries = [
        _entry(f"g{k}", f"https://a.example/news/{k}-story", f"{t} in the city", excerpt, NOW + timedelta(hours=k))
        for k, t in enumerate(topics)
    ]
    # Seen in one feed document, the stock excerpt is recognised before any item is placed.
    store.ingest("a", entries[:8], NOW + timedelta(hours=12), 72 * 3600)
    assert store.count_stories() == 8
    # Later fetches that bring one item at a time: the stored count says the same.
    for entry in entries[8:]:
        store.ingest("a", [entry], NOW + timedelta(hours=12), 72 * 3600)
    assert store.count_stories() == len(topics)


def test_update_sources_records_many_in_batches_and_keeps_the_lease_check(tmp_path, monkeypatch):
    import syndicator.store as store_module

    monkeypatch.setattr(store_module, "UPDATE_BATCH", 2)  # several transactions for 5 sources
    store = Store(store_url(tmp_path))
    names = [f"s{i}" for i in range(5)]
    store.sync_sources([(n, f"https://{n}.example/") for n in names])
    until = NOW + timedelta(minutes=10)
    assert store.claim_sources(names[:4], "me:1:x", until, NOW) == (names[:4], {})
    assert store.claim_sources(["s4"], "other-host:2:y", until, NOW) == (["s4"], {})
    due = NOW + timedelta(hours=1)
    updates = [(n, {"etag": f'"{n}"', "last_modified": "Tue, 01 Dec 2026 00:00:00 GMT", "next_due_at": due})
               for n in names]
    assert store.update_sources(updates, owner="me:1:x") == set(names[:4])  # s4's lease is another's
    rows = store.sources()
    for n in names[:4]:
        assert rows[n].etag == f'"{n}"' and rows[n].next_due_at.replace(tzinfo=UTC) == due
        assert rows[n].lease_owner == ""  # the lease ends with the result, as in update_source
    assert rows["s4"].etag == "" and rows["s4"].lease_owner == "other-host:2:y"
    assert store.update_sources(updates[4:]) == {"s4"}  # without an owner: no lease check
    assert store.sources()["s4"].etag == '"s4"'
    store.close()


def _stored_before_migration(s, article_id: str, **columns) -> None:
    """An article as a store migrated later holds it (those columns empty), read by a new process (nothing
    decoded or cached yet)."""
    from sqlalchemy import update

    from syndicator.store import related

    s.execute(update(ArticleRow).where(ArticleRow.id == article_id).values(**columns))
    s.commit()
    related._FP_CACHE.clear()
    related._COMPACT_CACHE.clear()


def test_relate_compact_is_stored_and_read_instead_of_the_fingerprint(tmp_path):
    """Linking reads a stored candidate's Compact (migration 0011) without decoding its fingerprint, and an
    article without one (stored before 0011) is still scored, from its fingerprint."""
    from syndicator import relate, similarity
    from syndicator.store import related

    store = _store(tmp_path)
    day = 24 * 3600
    store.ingest("a", [
        _entry("1", "https://a.example/1", "Vatnajokull glacier melts faster", long_body("The glacier")),
        _entry("2", "https://a.example/2", "Vatnajokull hotel prices climb", long_body("The tourism")),
    ], NOW, 72 * 3600, related_window=14 * day)
    with store.session() as s:
        rows = {r.guid: r for r in s.scalars(select(ArticleRow))}
        for r in rows.values():
            stored = relate.compact_from_bytes(r.relate_compact)
            made = relate.compact(similarity.fingerprint_from_dict(r.fingerprint))
            assert stored is not None and all(getattr(stored, f) == getattr(made, f) for f in made.__slots__)
        first, second = rows["1"].id, rows["2"].id
        _stored_before_migration(s, first, relate_compact=None)  # 0011
    later = NOW + timedelta(hours=1)
    # the glacier report again, in other words: related to the first; the second shares a rare headline word
    # (a candidate) and nothing else
    body = " ".join(reversed(long_body("The glacier").split()))
    stats = store.ingest("b", [_entry("3", "https://b.example/3", "Vatnajokull glacier melting speeds up", body)],
                         later, 72 * 3600, related_window=14 * day)
    assert stats.links == 1  # the first, scored from its fingerprint: no compact stored
    decoded = {key[0] for key in related._FP_CACHE.entries}
    assert first in decoded
    assert second not in decoded  # scored from its stored compact alone
    assert second in {key[0] for key in related._COMPACT_CACHE.entries}
    store.close()


def test_merge_sketch_is_stored_and_read_instead_of_the_fingerprint(tmp_path):
    """Merging rejects a stored candidate from its sketch (migration 0010) without decoding its fingerprint,
    and an article without a sketch (stored before 0010) is still compared, from its fingerprint."""
    from syndicator import similarity
    from syndicator.store import related

    store = _store(tmp_path)
    body = long_body("The glacier")
    store.ingest("a", [_entry("1", "https://a.example/1", "Glacier Vatnajokull melts faster", body),
                       _entry("2", "https://a.example/2", "Glacier Vatnajokull tourism grows",
                              long_body("The tourism"))], NOW, 72 * 3600)
    with store.session() as s:
        rows = {r.guid: r for r in s.scalars(select(ArticleRow))}
        for r in rows.values():
            assert r.merge_sketch == similarity.sketch_bytes(similarity.fingerprint_from_dict(r.fingerprint))
        first, second = rows["1"].id, rows["2"].id
        _stored_before_migration(s, first, merge_sketch=None)  # 0010
    later = NOW + timedelta(hours=1)
    stats = store.ingest("b", [_entry("3", "https://b.example/3", "Vatnajokull glacier melting speeds up", body)],
                         later, 72 * 3600)
    assert stats.merged == 1  # found through the fingerprint of the sketchless article
    decoded = {key[0] for key in related._FP_CACHE.entries}
    assert first in decoded  # compared: no sketch
    assert second not in decoded  # a candidate (two headline words), rejected by its sketch alone
    store.close()


def test_a_weak_candidate_published_far_away_is_not_read(tmp_path, monkeypatch):
    """A candidate sharing one headline word only is weak unless it comes from the same source within
    similarity.CLOSE_HOURS (ingest._weak); published further away it is weak whatever its source, which its
    postings tell, so its row is not read (most candidates of a cold refresh). One within the hours is read:
    only its row says its source."""
    from syndicator import linking, similarity

    store = _store(tmp_path)
    store.sync_sources([("a", "https://a.example/"), ("b", "https://b.example/"), ("c", "https://c.example/")])
    far = _entry("1", "https://a.example/1", "Qworbly festival opens downtown", long_body("The festival"),
                 NOW - timedelta(hours=30))
    near = _entry("2", "https://b.example/2", "Qworbly museum wing unveiled", long_body("The museum"),
                  NOW - timedelta(hours=1))
    store.ingest("a", [far], NOW, 72 * 3600)
    store.ingest("b", [near], NOW, 72 * 3600)
    new = _entry("3", "https://c.example/3", "Qworbly announces tour dates", long_body("The tour"), NOW)
    keys = {e.guid: similarity.index_keys(similarity.fingerprint(similarity.Doc(
        e.title, e.text, e.url, e.published, "x", None)), "article") for e in (far, near, new)}
    assert keys["1"] & keys["3"] == keys["2"] & keys["3"] == {"t:qworbly"}  # one headline word, nothing else
    read: list[str] = []
    for reads in (linking.SqliteReads, linking.SessionReads):  # the merge's reads (ingest._reads), either way
        def rows(self, name, params, real=reads.rows):
            if name == "MERGE_CANDIDATES":
                read.extend(params["ids"])
            return real(self, name, params)

        monkeypatch.setattr(reads, "rows", rows)
    stats = store.ingest("c", [new], NOW, 72 * 3600)
    with store.session() as s:
        ids = {r.guid: r.id for r in s.scalars(select(ArticleRow))}
    assert stats.new_stories == 1 and stats.merged == 0
    assert ids["2"] in read  # within the hours: its source decides
    assert ids["1"] not in read
    store.close()


def test_postings_are_read_from_the_index_alone(tmp_path):
    """Every read of the merge index's postings (a key's articles within a window: thousands an article) is
    answered by one index, without a table read per posting for its article id (migration 0013). SQLite's
    plan, on a store with postings in it; fails with the index of (key, published)."""
    from sqlalchemy import event

    from syndicator.store import sql

    store = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    store.sync_sources([("a", "https://a.example/")])
    store.ingest("a", [_entry("1", "https://a.example/1", "Qworbly festival opens", long_body("The festival"))],
                 NOW, 72 * 3600)
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    window = {"lo": NOW - timedelta(days=3), "hi": NOW + timedelta(days=3)}
    with store.session() as s:
        keys = s.scalars(select(sql._K.c.key)).all()
        assert keys
        event.listen(store.engine, "before_cursor_execute", capture)
        try:
            found = {
                "KEY_POSTINGS": s.execute(sql.KEY_POSTINGS, {"keys": keys, **window}).all(),
                "KEY_POSTINGS_AT": s.execute(sql.KEY_POSTINGS_AT, {"keys": keys, **window}).all(),
                "KEY_COUNTS": s.execute(sql.KEY_COUNTS, {"keys": keys, **window}).all(),
                "NEAREST_BEFORE": s.scalars(sql.NEAREST_BEFORE, {"key": keys[0], "at": NOW + timedelta(hours=1),
                                                                 "n": 5, **window}).all(),
                "NEAREST_AFTER": s.scalars(sql.NEAREST_AFTER, {"key": keys[0], "at": NOW - timedelta(hours=1),
                                                               "n": 5, **window}).all(),
            }
        finally:
            event.remove(store.engine, "before_cursor_execute", capture)
        assert all(found.values())  # each found the posting(s): the plan below is the one that ran
        assert len(seen) == len(found)
        raw = s.connection().connection.driver_connection
        for name, (statement, parameters) in zip(found, seen, strict=True):
            plan = " ".join(row[-1] for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert "USING COVERING INDEX ix_article_keys_postings" in plan, (name, plan)
    store.close()
