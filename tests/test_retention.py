"""Retention: stories older than [storage] keep_days that no published feed holds are pruned with their
articles, merge-index postings, aliases and splits; what a feed still shows is kept; SQLite gives the
space back incrementally."""

from __future__ import annotations

import itertools
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from syndicator.config import config_from_dict
from syndicator.model import Entry
from syndicator.store import Store, curate
from syndicator.store.retention import prune
from syndicator.store.schema import (
    ArticleKeyRow,
    ArticleLinkRow,
    ArticleRow,
    StoryAliasRow,
    StoryRow,
    StorySplitRow,
)
from tests.conftest import sqlite_only, store_url
from tests.feedmaker import long_body

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _config(tmp_path: Path, keep_days: int, limit: int, archive: bool = False):
    raw = {
        "storage": {"url": store_url(tmp_path), "keep_days": keep_days},
        "output": {"dir": str(tmp_path / "public")},
        "sources": [{"name": "a", "url": "https://a.example/"}, {"name": "b", "url": "https://b.example/"}],
        "feeds": [{"name": "all", "limit": limit, "archive": archive, "archive_pages": 2}],
    }
    return config_from_dict(raw, tmp_path / "syndicator.toml")


def _entries(prefix: str, n: int, published: datetime) -> list[Entry]:
    return [
        Entry(guid=f"{prefix}{k}", url=f"https://{prefix}.example/{k}", title=f"{prefix} headline number {k}",
              text=long_body(f"{prefix}{k}"), summary="", published=published - timedelta(minutes=k))
        for k in range(n)
    ]


def _fill(tmp_path: Path, cfg) -> Store:
    store = Store(cfg.database_url())
    store.sync_sources([("a", "https://a.example/"), ("b", "https://b.example/")])
    # Old stories were stored when they were published: retention counts both dates.
    then = NOW - timedelta(days=200)
    store.ingest("a", _entries("old", 6, then), then, 72 * 3600)
    store.ingest("a", _entries("new", 3, NOW - timedelta(days=1)), NOW, 72 * 3600)
    # The same old article under another source: one story of two articles.
    store.ingest("b", _entries("old", 1, then), then, 72 * 3600)
    return store


def _counts(store: Store) -> dict[str, int]:
    with store.session() as s:
        return {
            t.__tablename__: s.scalar(select(func.count()).select_from(t))
            for t in (StoryRow, ArticleRow, ArticleKeyRow, StoryAliasRow, StorySplitRow)
        }


def test_prunes_old_stories_no_feed_holds_and_keeps_the_index_consistent(tmp_path):
    cfg = _config(tmp_path, keep_days=90, limit=4)
    store = _fill(tmp_path, cfg)
    with store.session() as s:
        merged = s.scalars(select(ArticleRow).where(ArticleRow.guid == "old0")).all()
        assert len({a.story_id for a in merged}) == 1 and len(merged) == 2
        # A split (unmerge) and an alias (a story emptied by a merge by hand) name old stories.
        curate.unmerge(s, merged[1].id, NOW)
        old1, old2 = (s.scalars(select(ArticleRow).where(ArticleRow.guid == g, ArticleRow.id.isnot(None))).first()
                      for g in ("old1", "old2"))
        curate.merge_by_hand(s, old1.id, old2.story_id, NOW)
    before = _counts(store)
    assert before["stories"] == 9 and before["story_splits"] == 1 and before["story_aliases"] == 1
    result = prune(store, cfg, NOW)
    # The feed shows 4: the 3 new stories and one of the two old0 stories (both newest among the old ones);
    # the other 5 old stories go, with their 6 articles.
    assert (result.stories, result.articles) == (5, 6), result
    after = _counts(store)
    assert after["stories"] == 4 and after["articles"] == 4 and after["story_aliases"] == 0
    with store.session() as s:
        orphans = s.scalar(
            select(func.count()).select_from(ArticleKeyRow)
            .where(~ArticleKeyRow.article_id.in_(select(ArticleRow.id)))
        )
        assert orphans == 0
        assert after["article_keys"] > 0
        assert s.scalar(select(func.count()).select_from(StorySplitRow)) == 0
        kept = sorted(s.scalars(select(ArticleRow.guid)))
    assert kept == ["new0", "new1", "new2", "old0"]
    assert prune(store, cfg, NOW).stories == 0  # nothing more to do
    # keep_days = 0 keeps everything.
    assert prune(store, _config(tmp_path, keep_days=0, limit=1), NOW).stories == 0
    store.close()


def test_archive_pages_hold_their_stories(tmp_path):
    cfg = _config(tmp_path, keep_days=90, limit=2, archive=True)  # 2 newest + 2 archive pages of 2
    store = _fill(tmp_path, cfg)
    assert prune(store, cfg, NOW).stories == 3  # 9 stories, 6 held
    store.close()


def test_related_links_are_pruned_with_their_stories(tmp_path):
    cfg = _config(tmp_path, keep_days=90, limit=3)
    store = _fill(tmp_path, cfg)
    with store.session() as s:  # link every article to the next, one row a link as syndicator.linking writes
        ids = list(s.scalars(select(ArticleRow.id).order_by(ArticleRow.published.desc(), ArticleRow.id)))
        for a, b in itertools.pairwise(ids):
            x, y = sorted((a, b))
            s.add(ArticleLinkRow(article_id=x, other_id=y, score=0.5, reason={}, created_at=NOW))
    with store.engine.connect() as conn:  # the foreign keys would cascade; prove prune does it itself
        assert conn.exec_driver_sql("SELECT count(*) FROM article_links").scalar() == len(ids) - 1
    prune(store, cfg, NOW)
    with store.session() as s:
        left = s.execute(select(ArticleLinkRow.article_id, ArticleLinkRow.other_id)).all()
        articles = set(s.scalars(select(ArticleRow.id)))
    assert left and all(a in articles and b in articles for a, b in left)
    assert len(left) == len(articles) - 1
    store.close()


@sqlite_only
def test_sqlite_space_is_given_back_incrementally(tmp_path):
    cfg = _config(tmp_path, keep_days=90, limit=1)
    store = Store(cfg.database_url())
    store.sync_sources([("a", "https://a.example/"), ("b", "https://b.example/")])
    for batch in range(8):
        then = NOW - timedelta(days=300 + batch)
        store.ingest("a", _entries(f"bulk{batch}x", 40, then), then, 72 * 3600)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2  # incremental, from the start
    store.engine.dispose()
    size_before = os.path.getsize(tmp_path / "store.db")  # closing the last connection checkpointed the WAL
    result = prune(store, cfg, NOW)
    assert result.stories == 319 and result.vacuumed_pages > 0
    store.engine.dispose()
    with sqlite3.connect(tmp_path / "store.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    assert free < result.vacuumed_pages
    assert os.path.getsize(tmp_path / "store.db") < size_before
    store.close()


@sqlite_only
def test_a_store_made_before_incremental_mode_is_converted_once(tmp_path):
    cfg = _config(tmp_path, keep_days=90, limit=1)
    store = _fill(tmp_path, cfg)
    store.engine.dispose()
    with sqlite3.connect(tmp_path / "store.db", isolation_level=None) as conn:
        conn.execute("PRAGMA auto_vacuum=NONE")
        conn.execute("VACUUM")
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (0,)
    assert prune(store, cfg, NOW).stories > 0
    store.engine.dispose()
    with sqlite3.connect(tmp_path / "store.db") as conn:
        assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    store.close()


def test_old_stories_stored_recently_are_kept(tmp_path):
    """An archive feed (or a replay of old data) ingested today keeps its stories keep_days too."""
    cfg = _config(tmp_path, keep_days=90, limit=1)
    store = Store(cfg.database_url())
    store.sync_sources([("a", "https://a.example/")])
    store.ingest("a", _entries("old", 5, NOW - timedelta(days=4000)), NOW, 72 * 3600)
    assert prune(store, cfg, NOW).stories == 0
    assert prune(store, cfg, NOW + timedelta(days=91)).stories == 4  # the feed still holds one
    store.close()
