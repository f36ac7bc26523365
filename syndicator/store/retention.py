"""Retention: ``[storage] keep_days`` prunes what no published feed shows any more.

A story older than ``keep_days`` goes (published, and all its articles fetched, that long ago: an
archive feed ingested today keeps its old stories ``keep_days`` too, and the
merge benchmarks, which replay 2013-2014 data, lose nothing), with its
articles, their merge-index postings (``article_keys``), the aliases that
point at it, the splits that name it and its articles' related-story links
(``article_links``, either column), unless a
published feed (archive pages included) still holds it: a reader can still
click it, so its id must keep resolving. Everything is deleted in one
transaction, so a crash leaves the store as it was.

SQLite gives freed pages back to the file system with an incremental vacuum,
a few pages at a time (never a full ``VACUUM`` that would lock the store
while the daemon serves), once the file is in incremental mode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from syndicator.config import Config
from syndicator.store import Store
from syndicator.store.schema import (
    ArticleKeyRow,
    ArticleLinkRow,
    ArticleRow,
    PendingLinkRow,
    StoryAliasRow,
    StoryRow,
    StorySplitRow,
)

log = logging.getLogger(__name__)

CHUNK = 500  # ids per DELETE ... IN (...): well under SQLite's 32766 bound parameters
VACUUM_PAGES = 2000  # pages handed back per prune (8 MB with 4 KiB pages)


@dataclass(frozen=True)
class PruneResult:
    stories: int = 0
    articles: int = 0
    vacuumed_pages: int = 0


def cutoff(config: Config, now: datetime) -> datetime | None:
    """Articles and stories published before this are pruned (None: keep everything)."""
    days = config.storage.keep_days
    return now - timedelta(days=days) if days > 0 else None


def held_story_ids(s: Session, config: Config, now: datetime) -> set[str]:
    """Every story a published feed shows, its archive pages included."""
    from syndicator.publish.items import feed_story_ids

    held: set[str] = set()
    for feed in config.feeds:
        if feed.archive:
            from dataclasses import replace

            feed = replace(feed, limit=feed.limit * (feed.archive_pages + 1))
        held.update(feed_story_ids(s, config, feed, now))
    return held


def prune(store: Store, config: Config, now: datetime) -> PruneResult:
    limit = cutoff(config, now)
    if limit is None:
        return PruneResult()
    with store.session() as s:
        held = held_story_ids(s, config, now)
        old = [
            sid for sid in s.scalars(
                select(StoryRow.id).where(
                    StoryRow.published < limit,
                    # by its articles' fetch times, not the story's own creation: an unmerge makes a new story
                    # of an old article
                    ~select(ArticleRow.id)
                    .where(ArticleRow.story_id == StoryRow.id, ArticleRow.fetched_at >= limit)
                    .exists(),
                )
            )
            if sid not in held
        ]
        articles = 0
        for start in range(0, len(old), CHUNK):
            articles += _delete_stories(s, old[start:start + CHUNK])
    # Freed pages go back a batch per prune, also on later prunes that delete nothing; the one full VACUUM that
    # switches an old store to incremental mode only when there is something to give back.
    pages = vacuum(store, convert=bool(old))
    if old:
        log.info("pruned %d story(ies), %d article(s) published before %s", len(old), articles,
                 limit.date().isoformat(), extra={"event": "prune"})
    return PruneResult(len(old), articles, pages)


def _delete_stories(s: Session, ids: list[str]) -> int:
    article_ids = list(s.scalars(select(ArticleRow.id).where(ArticleRow.story_id.in_(ids))))
    for start in range(0, len(article_ids), CHUNK):
        chunk = article_ids[start:start + CHUNK]
        s.execute(delete(ArticleKeyRow).where(ArticleKeyRow.article_id.in_(chunk)))
        s.execute(delete(PendingLinkRow).where(PendingLinkRow.article_id.in_(chunk)))
        # Related links, either column (the foreign keys cascade too, but only where the database enforces them).
        s.execute(delete(ArticleLinkRow).where(
            or_(ArticleLinkRow.article_id.in_(chunk), ArticleLinkRow.other_id.in_(chunk))
        ))
        s.execute(delete(ArticleRow).where(ArticleRow.id.in_(chunk)))
    s.execute(delete(StoryAliasRow).where(StoryAliasRow.story_id.in_(ids)))
    s.execute(delete(StorySplitRow).where(or_(StorySplitRow.story_a.in_(ids), StorySplitRow.story_b.in_(ids))))
    s.execute(delete(StoryRow).where(StoryRow.id.in_(ids)))
    return len(article_ids)


def vacuum(store: Store, pages: int = VACUUM_PAGES, *, convert: bool = True) -> int:
    """Hand up to ``pages`` free pages of an SQLite file back; returns how many it handed back."""
    if store.engine.dialect.name != "sqlite":
        return 0  # PostgreSQL's autovacuum does this on its own
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection  # VACUUM cannot run inside the transaction SQLAlchemy opens

        def pragma(sql: str) -> list:
            cur = raw.execute(sql)
            try:
                return cur.fetchall()
            finally:
                cur.close()

        mode = pragma("PRAGMA auto_vacuum")[0][0]
        free = pragma("PRAGMA freelist_count")[0][0]
        if free == 0 or (mode != 2 and not convert):
            return 0
        if mode != 2:
            # A store made before incremental mode: switching needs one full VACUUM, done once.
            pragma("PRAGMA auto_vacuum=INCREMENTAL")
            pragma("VACUUM")
            return free
        pragma(f"PRAGMA incremental_vacuum({int(pages)})")
        return min(free, pages)
