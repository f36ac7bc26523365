"""Related-story links made beside the store (syndicator.store.linker): a linker running behind the store, in
a process of its own or not, writes the links that linking in each storing transaction writes; a stopped or
failed linker loses none. And how a story's links are read back (the mean of its articles' links).

The articles are the scale benchmark's generated sources (bench/scale_feeds.py) over the small real data in
tests/fixtures/bench: real headlines, bodies from ECB+ texts, wire copies shared by two sources."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from syndicator import linking, prepare
from syndicator.config import load_config
from syndicator.parse import parse_document
from syndicator.refresh import refresh
from syndicator.store import Store, linker, related, sql
from syndicator.store.schema import ArticleLinkRow, PendingLinkRow, SourceRow
from tests import benchdata
from tests.benchdata import scale_feeds
from tests.conftest import Resource, store_url, write_config

SOURCES, ITEMS = 12, 10
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # after every generated item (scale_replay's clock)
MERGE_WINDOW, RELATED_WINDOW = 72 * 3600.0, 14 * 86400.0


@pytest.fixture(autouse=True)
def small_data():
    with benchdata.small_data():
        yield


def _cold_caches() -> None:
    """As in a new process: the store's caches would otherwise serve one test store's fingerprints to another."""
    related._FP_CACHE.clear()
    related._COMPACT_CACHE.clear()


def _sources(gen: int = 1) -> list[tuple[str, list]]:
    out = []
    for n in range(SOURCES):
        doc = parse_document(scale_feeds.render(1, SOURCES, ITEMS, n, gen), f"https://s{n}.example/feed", "",
                             strip_tracking_pixels=True)
        out.append((f"s{n}", doc.entries))
    return out


def _store(folder: Path) -> Store:
    folder.mkdir()
    store = Store(store_url(folder))
    store.sync_sources((f"s{n}", f"https://s{n}.example/feed") for n in range(SOURCES))
    return store


def _links(store: Store) -> dict[tuple[str, str], tuple[float, str]]:
    with store.session() as s:
        rows = s.execute(select(ArticleLinkRow.article_id, ArticleLinkRow.other_id, ArticleLinkRow.score,
                                ArticleLinkRow.reason)).all()
    return {(a, o): (score, reason["kind"]) for a, o, score, reason in rows}


def _pending(store: Store) -> int:
    with store.session() as s:
        return len(s.execute(select(PendingLinkRow.article_id)).all())


def _inline(folder: Path, gens: tuple[int, ...] = (1,)) -> dict:
    _cold_caches()
    with _store(folder) as store:
        for gen in gens:
            for name, entries in _sources(gen):
                store.ingest(name, entries, NOW, MERGE_WINDOW, related_window=RELATED_WINDOW)
        return _links(store)


@contextmanager
def _reads(store: Store, via: str):
    """A snapshot of ``store`` to link from, as the linking process reads it: through a Session, or (SQLite)
    through ``sqlite3`` alone (syndicator.linking.SqliteReads, what the linking process runs on SQLite)."""
    if via == "session":
        with store.session() as s:
            yield s
        return
    from syndicator.store import db

    path = db.sqlite_path(store.url)
    if path is None:
        pytest.skip("sqlite3 reads a SQLite store only")
    conn = linking.connect_sqlite(path)
    conn.execute("BEGIN")
    try:
        yield linking.SqliteReads(conn)
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.mark.parametrize("via", ["session", "sqlite3"])
@pytest.mark.parametrize("lag", [0, 3, SOURCES])
def test_a_linker_behind_the_store_writes_what_linking_in_each_transaction_writes(tmp_path, lag, via):
    """``lag``: batches stored before the linker gets to the first (SOURCES: it links only once all are
    stored), and its links written only as it finishes each batch (lag 0) or all at the end. ``via``: what
    the linker reads the store through; with sqlite3, the rows it reads must be the Session's to the bit."""
    expected = _inline(tmp_path / "inline", (1, 2))
    _cold_caches()
    owner = "linker-test"
    with _store(tmp_path / "deferred") as store:
        batches, results, unwritten = [], [], []
        todo = [(gen, name, entries) for gen in (1, 2) for name, entries in _sources(gen)]
        for n, (_gen, name, entries) in enumerate(todo, start=1):
            stats = store.ingest(name, entries, NOW, MERGE_WINDOW, related_window=RELATED_WINDOW,
                                 queue_links=(owner, n * linker.BATCH_SEQ))
            assert stats.links == 0 and len(stats.queued) == stats.new_articles + stats.updated_articles
            batches.append(stats.queued)
            while len(batches) > lag or (n == len(todo) and batches):
                with _reads(store, via) as s:
                    done, unwritten = linker.link_batch(
                        s, owner, batches.pop(0), timedelta(seconds=RELATED_WINDOW), NOW, unwritten
                    )
                results += done
                if lag == 0:
                    store.write_links(owner, results)
                    results = []
        ids = sorted({r["article_id"] for _, rows in results for r in rows})[::7]
        with _reads(store, via) as s:
            foreseen = sorted(linking.subjects_of(s, unwritten, ids), key=str)
        store.write_links(owner, results)
        assert _pending(store) == 0
        with store.session() as s:  # what the linker read of links it had not written is what was written
            assert foreseen == sorted(s.execute(sql.LINK_SUBJECTS, {"ids": ids}).all(), key=str)
        got = _links(store)
    assert len(expected) > 1000
    if lag == 0:
        assert got == expected
    else:
        # A candidate's story is read when the linker gets to it: a few that later articles merged into the
        # new article's story meanwhile (absorbed stories) are not candidates any more, which moves the best
        # 8 links checked for "same event" and the 60 candidates scored for a few articles (22 of 13,402
        # link rows in this heavily related stream).
        assert {a for a, _ in got} == {a for a, _ in expected}
        same = sum(1 for k, v in got.items() if expected.get(k) == v)
        assert same / len(expected) > 0.99
        assert len(foreseen) > 100  # read while none of them was written


def test_stopped_refreshes_queue_is_linked_by_the_next_and_a_live_ones_is_left_alone(tmp_path):
    expected = _inline(tmp_path / "inline")
    _cold_caches()
    with _store(tmp_path / "deferred") as store:
        owners = ["stopped", "alive"]
        for n, (name, entries) in enumerate(_sources(), start=1):
            store.ingest(name, entries, NOW, MERGE_WINDOW, related_window=RELATED_WINDOW,
                         queue_links=(owners[n % 2], n * linker.BATCH_SEQ))
        with store.session() as s:
            s.execute(update(SourceRow).where(SourceRow.name == "s0")
                      .values(lease_owner="alive", lease_until=datetime.now(UTC) + timedelta(hours=1)))
        _cold_caches()
        articles, links = store.link_pending("next", RELATED_WINDOW, adopt=True)
        assert articles == SOURCES // 2 * ITEMS and links > 0
        assert _pending(store) == SOURCES // 2 * ITEMS  # the live refresh's, for its own linker
        with store.session() as s:  # that refresh ends without linking them (stopped), releasing its lease
            s.execute(update(SourceRow).values(lease_owner="", lease_until=None))
        store.link_pending("next", RELATED_WINDOW, adopt=True)
        assert _pending(store) == 0
        got = _links(store)
    _similar(got, expected)  # linked in another order (the stopped refresh's first): 0.90 here


def _serve_all(feed_server, gen: int) -> None:
    for n in range(SOURCES):
        feed_server.resources[f"/s{n}.xml"] = Resource(scale_feeds.render(1, SOURCES, ITEMS, n, gen),
                                                       "application/rss+xml")


def _refresh_links(feed_server, folder: Path, monkeypatch, *, pool: bool) -> dict:
    _cold_caches()
    monkeypatch.setattr(prepare, "MIN_DOCUMENTS", 1 if pool else 10**9)
    folder.mkdir()
    cfg = write_config(folder, {f"s{n}": feed_server.url(f"/s{n}.xml") for n in range(SOURCES)})
    config = load_config(cfg)
    with Store(config.database_url()) as store:
        for gen in (1, 2):
            _serve_all(feed_server, gen)
            report = refresh(config, store, publish=False)
            assert not report.failed
        assert _pending(store) == 0
        return _links(store)


def test_a_refresh_links_in_a_process_of_its_own(feed_server, tmp_path, monkeypatch):
    inline = _refresh_links(feed_server, tmp_path / "inline", monkeypatch, pool=False)

    def never(*args, **kwargs):
        raise AssertionError("linked in the refresh's own process")

    monkeypatch.setattr(related, "links_for", never)  # the linking process has its own modules
    pooled = _refresh_links(feed_server, tmp_path / "pool", monkeypatch, pool=True)
    assert len(inline) > 1000
    _similar(pooled, inline)


def _similar(got: dict, expected: dict, share: float = 0.8) -> None:
    """A refresh stores sources in the order they answer, so some pairs are found from the other side (the
    60 candidates scored are the new article's; 0.87-0.95 of the pairs the same in this heavily related
    stream): every article linked, mostly the same pairs."""
    assert {a for a, _ in got} == {a for a, _ in expected}
    assert len(set(got) & set(expected)) / len(set(got) | set(expected)) > share


def test_a_failed_linker_leaves_the_linking_to_the_refresh(feed_server, tmp_path, monkeypatch, caplog):
    inline = _refresh_links(feed_server, tmp_path / "inline", monkeypatch, pool=False)
    real = linker.Linker.__init__

    def broken(self, url, window_seconds, owner):
        real(self, "postgresql+psycopg://nobody@127.0.0.1:9/none", window_seconds, owner)  # nothing listens

    monkeypatch.setattr(linker.Linker, "__init__", broken)
    pooled = _refresh_links(feed_server, tmp_path / "pool", monkeypatch, pool=True)
    assert "linking process failed" in caplog.text
    _similar(pooled, inline)


def test_the_linker_starts_a_large_wal_again(tmp_path, monkeypatch):
    """SQLite starts its WAL file again only when no reader is in it, and a linker nearly always is: between
    batches the linker checkpoints and truncates a WAL grown past WAL_RESTART_BYTES (here: any)."""
    from syndicator.store import db

    path = db.sqlite_path(store_url(tmp_path))
    if path is None:
        pytest.skip("SQLite's WAL")
    with _store(tmp_path / "s") as store:
        name, entries = _sources()[0]
        store.ingest(name, entries, NOW, MERGE_WINDOW, related_window=RELATED_WINDOW)
        wal = Path(db.sqlite_path(store.url) + "-wal")
        assert wal.stat().st_size > 100_000
        reader = linking.connect_sqlite(db.sqlite_path(store.url))
        linking._restart_wal(reader, str(wal))
        assert wal.stat().st_size > 100_000  # under the limit: left alone
        monkeypatch.setattr(linking, "WAL_RESTART_BYTES", 1)
        linking._restart_wal(reader, str(wal))
        assert wal.stat().st_size == 0
        assert len(_links(store)) > 0  # all of it in the database file now
        reader.close()


def test_a_story_is_related_to_another_by_the_mean_of_its_articles_links(tmp_path):
    """syndicator.store.related.related_stories ranks by the mean score of the links between two stories'
    articles: a story whose one odd variant links strongly elsewhere is not dragged there (UCI dev half)."""
    from syndicator.store.schema import ArticleRow

    with _store(tmp_path / "s") as store:
        name, entries = _sources()[0]
        store.ingest(name, entries[:4], NOW, MERGE_WINDOW, related_window=0.0)  # four stories, no links
        with store.session() as s:
            rows = s.execute(select(ArticleRow.id, ArticleRow.story_id).order_by(ArticleRow.id)).all()
            (a1, story), (a2, _), (t1, story1), (t2, story2) = rows
            s.execute(update(ArticleRow).where(ArticleRow.id == a2).values(story_id=story))  # a1, a2: one story
            links = [(a1, t1, 0.9), (a2, t1, 0.1), (a1, t2, 0.6), (a2, t2, 0.6)]
            s.execute(sql.INSERT_LINKS, [
                {"article_id": a, "other_id": o, "score": sc, "reason": {"kind": "same subject", "score": sc},
                 "created_at": NOW} for a, o, sc in links
            ])
        with store.session() as s:
            found = related.related_stories(s, [story], 5)[story]
    assert [ln.story_id for ln in found] == [story2, story1]  # 0.6 on average before 0.5 (its best: 0.9)
    assert found[1].score == pytest.approx(0.5) and found[1].reason["score"] == 0.9  # the best link explains it


def test_a_link_is_one_row_and_migration_0015_stores_old_links_once(tmp_path):
    """Since 0015 a link is one row, the lesser article id first, read from both columns; a store whose links
    were written both ways (0014) is migrated to the same rows, and its stories show the same related ones."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from syndicator.store import db

    _cold_caches()
    with _store(tmp_path / "s") as store:
        for name, entries in _sources():
            store.ingest(name, entries, NOW, MERGE_WINDOW, related_window=RELATED_WINDOW)
        once = _links(store)
        assert len(once) > 50 and all(a < o for a, o in once)
        with store.session() as s:
            story_of = dict(s.execute(select(sql._A.c.id, sql._A.c.story_id)).all())
            story_ids = sorted(set(story_of.values()))
            shown = related.related_stories(s, story_ids, 5)
            subjects = sorted(s.execute(sql.LINK_SUBJECTS, {"ids": sorted({a for a, _ in once})}).all(), key=str)
        # a link is read from both of its ends: the stories of the lesser id's article and of the other's
        ends = {story_of[x] for a, o in once if story_of[a] != story_of[o] for x in (a, o)}
        assert len(ends) > 10 and ends == {sid for sid, links in shown.items() if links}

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(db.MIGRATIONS))
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0014")
        both = _links(store)
        assert both == {**once, **{(o, a): v for (a, o), v in once.items()}}  # as 0014 stored them
        db.alembic_upgrade(store.engine)
        assert db.current_revision(store.engine) == db.SCHEMA_HEAD
        assert _links(store) == once
        with store.session() as s:
            assert related.related_stories(s, story_ids, 5) == shown
            assert sorted(s.execute(sql.LINK_SUBJECTS, {"ids": sorted({a for a, _ in once})}).all(),
                          key=str) == subjects


def test_links_of_a_batch_are_written_at_once_as_one_after_another_would_write_them(tmp_path):
    """write_links deletes the batch's old links and inserts its rows at once only when that writes what one
    article after another would (linker._at_once); the rows are stored as SQLAlchemy's own insert stores them."""
    with _store(tmp_path / "s") as store:
        for name, entries in _sources()[:3]:
            store.ingest(name, entries, NOW, MERGE_WINDOW)  # no related window: no links yet
        with store.session() as s:
            a, b, c, d, e = sorted(s.scalars(select(sql._A.c.id)).all())[:5]
        owner, reason = "test-owner", {"kind": "same subject", "score": 0.5, "shared": ["cheeks", "76ers"]}

        def row(x: str, y: str, score: float = 0.5) -> dict:
            return {"article_id": min(x, y), "other_id": max(x, y), "score": score, "reason": reason, "created_at": NOW}

        def write(results: list) -> set[tuple[str, str]]:
            with store.session() as s:
                linker.queue_articles(s, owner, 1, sorted({aid for aid, _ in results}), NOW)
            assert store.write_links(owner, results) == sum(len(rows) for _, rows in results)
            assert _pending(store) == 0
            return set(_links(store))

        batch = [(b, [row(a, b)]), (c, [row(a, c), row(b, c, 0.75)])]
        assert linker._at_once(batch)
        assert write(batch) == {(a, b), (a, c), (b, c)}
        # a and b again: all their old links go, (b, c) too, as when each is written in its turn
        assert write([(a, [row(a, d)]), (b, [row(b, d)])]) == {(a, d), (b, d)}
        # a's rows name b, written after it: b's delete takes (a, b) away again, one article after another
        batch = [(a, [row(a, b)]), (b, [row(b, c)])]
        assert not linker._at_once(batch)
        assert write(batch) == {(b, c)}
        assert not linker._at_once([(c, [row(c, d)]), (c, [row(c, e)])])  # an article twice: the last one's rows
        assert write([(c, [row(c, d)]), (c, [row(c, e)])]) == {(c, e)}

        with store.session() as s:  # the same values as SQLAlchemy's insert of the same row stores
            s.execute(sql.INSERT_LINKS, [row(d, e, 0.25)])
            stored = s.execute(select(ArticleLinkRow)).scalars().all()
            assert {(r.article_id, r.other_id): (r.score, r.reason, r.created_at) for r in stored} == {
                (c, e): (0.5, reason, NOW), (d, e): (0.25, reason, NOW)}
            if s.get_bind().dialect.name == "sqlite":
                raw = s.connection().exec_driver_sql(
                    "SELECT reason || '|' || created_at || '|' || typeof(score) FROM article_links").scalars().all()
                assert len(raw) == 2 and raw[0] == raw[1], raw  # written by write_links and by INSERT_LINKS
