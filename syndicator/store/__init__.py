"""Store stage: sources' state, articles and stories in SQL (SQLAlchemy 2.x).

``Store`` is the one door to the database; every write happens in a short
transaction of its own, so a crash at any moment leaves the previous
consistent state (SQLite's WAL journal and PostgreSQL's MVCC see to the rest).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from syndicator import testhooks
from syndicator.similarity import Fingerprint
from syndicator.store import db
from syndicator.store.ingest import Embedder, FullTexts, IngestStats, article_id, ingest_entries
from syndicator.store.schema import (
    ArticleRow,
    FeedStateRow,
    HostRow,
    SourceRow,
    StoryAliasRow,
    StoryRow,
)

# syndicator.publish.LAST_PUBLISH: the feed_state row every publish stamps. Its content_hash holds what the
# published files were made from (refresh.publish_signature) after a refresh's publish, and "" once anything
# else may have changed the feeds: an ingest that stored or changed an article (in its own transaction, so
# that a refresh killed before publishing is published by the next one), or any other publish.
LAST_PUBLISH = ".last-publish"

__all__ = [
    "ArticleRow",
    "FeedStateRow",
    "HostRow",
    "IngestStats",
    "SourceRow",
    "Store",
    "StoryAliasRow",
    "StoryRow",
]


def new_lease_owner() -> str:
    """This refresh's name in source leases: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_alive(owner: str) -> bool:
    """False only when the owner is a process of this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: trust its lease until it runs out
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    def __init__(self, url: str, *, migrate: bool = True, backup: bool = True) -> None:
        self.url = url
        self.engine = db.create_store_engine(url)
        self.backup_made: str | None = None
        if migrate:
            self.backup_made = db.migrate(self.engine, backup=backup)
        self._sessions = db.session_factory(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        with self._sessions.begin() as session:
            yield session

    # -- sources --------------------------------------------------------

    def sync_sources(self, sources: Iterable[tuple[str, str]]) -> None:
        """Make a row for every configured (name, url); a changed URL resets its state."""
        with self.session() as s:
            rows = {r.name: r for r in s.scalars(select(SourceRow))}
            for name, url in sources:
                row = rows.get(name)
                if row is None:
                    s.add(SourceRow(name=name, url=url))
                elif row.url != url:
                    row.url = url
                    row.current_url = row.redirect_candidate = row.etag = row.last_modified = ""
                    row.disabled, row.disabled_reason = False, ""

    def sources(self) -> dict[str, SourceRow]:
        with self.session() as s:
            return {r.name: r for r in s.scalars(select(SourceRow).order_by(SourceRow.name))}

    def claim_sources(
        self, names: Iterable[str], owner: str, until: datetime, now: datetime
    ) -> tuple[list[str], dict[str, str]]:
        """Lease ``names`` to ``owner`` until ``until``: (the names claimed, {name: owner} of those held).

        One write transaction (BEGIN IMMEDIATE on SQLite, row locks on PostgreSQL), so two
        processes never both win one source. A lease whose owner is a dead process on this
        host (killed in the middle of a refresh) or whose time is up is taken over.
        """
        wanted = set(names)
        claimed: list[str] = []
        held: dict[str, str] = {}
        with self.session() as s:
            rows = s.scalars(select(SourceRow).order_by(SourceRow.name).with_for_update())
            for row in rows:
                if row.name not in wanted:
                    continue
                taken = row.lease_owner not in ("", owner) and row.lease_until is not None and row.lease_until > now
                if taken and lease_alive(row.lease_owner):
                    held[row.name] = row.lease_owner
                    continue
                row.lease_owner, row.lease_until = owner, until
                claimed.append(row.name)
        return claimed, held

    def release_sources(self, owner: str) -> None:
        with self.session() as s:
            s.execute(
                update(SourceRow).where(SourceRow.lease_owner == owner).values(lease_owner="", lease_until=None)
            )

    def set_paused(self, name: str, paused: bool) -> None:
        self.update_source(name, paused=paused)

    def reset_source(self, name: str) -> str:
        """Forget a source's errors, backoff, Retry-After and disabled state, and its host's backoff (429/503):
        due at once. Returns the host whose backoff was lifted, or ""."""
        from syndicator.urls import host_of

        self.update_source(
            name, consecutive_errors=0, last_error="", retry_after_until=None, next_due_at=None, due_reason="",
            disabled=False, disabled_reason="",
        )
        with self.session() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.name == name)).one()
            host = host_of(row.current_url or row.url)
            lifted = s.execute(delete(HostRow).where(HostRow.name == host)).rowcount
        return host if lifted else ""

    def update_source(self, name: str, **values: object) -> None:
        with self.session() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.name == name)).one()
            for key, value in values.items():
                setattr(row, key, value)

    # -- hosts in backoff (429/503) -------------------------------------

    def host_backoffs(self, now: datetime) -> dict[str, HostRow]:
        """Hosts still in backoff at ``now`` (read only: the daemon asks on every tick)."""
        with self.session() as s:
            return {r.name: r for r in s.scalars(select(HostRow).where(HostRow.retry_after_until > now))}

    def set_host_backoff(self, host: str, until: datetime, reason: str) -> None:
        with self.session() as s:
            now = datetime.now(UTC)  # expired backoffs are dropped here, where we write anyway
            s.execute(delete(HostRow).where(HostRow.retry_after_until <= now, HostRow.name != host))
            row = s.get(HostRow, host)
            if row is None:
                s.add(HostRow(name=host, retry_after_until=until, reason=reason))
            elif row.retry_after_until < until:
                row.retry_after_until, row.reason = until, reason

    # -- articles and stories ---------------------------------------------

    def has_deferred_pages(self, source: str) -> bool:
        """Whether some of the source's articles wait for their page (its host was in backoff)."""
        with self.session() as s:
            stmt = (
                select(ArticleRow.id).join(SourceRow, SourceRow.id == ArticleRow.source_id)
                .where(SourceRow.name == source, ArticleRow.full_text_status == "deferred").limit(1)
            )
            return s.scalar(stmt) is not None

    def full_text_state(self, source: str, guids: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        """For each of the source's stored articles among ``guids``: (status, text, html) of its page."""
        ids = {article_id(source, g): g for g in guids}
        found: dict[str, tuple[str, str, str]] = {}
        keys = sorted(ids)
        with self.session() as s:
            for start in range(0, len(keys), 500):  # stay under every database's parameter limit
                stmt = select(
                    ArticleRow.id, ArticleRow.full_text_status, ArticleRow.full_text, ArticleRow.full_text_html
                ).where(ArticleRow.id.in_(keys[start : start + 500]))
                for aid, status, text, html in s.execute(stmt):
                    found[ids[aid]] = (status or "", text or "", html or "")
        return found

    def ingest(
        self,
        source: str,
        entries: Iterable,
        now: datetime,
        window_seconds: float,
        level: str = "article",
        embed: Embedder | None = None,
        related_window: float = 0.0,
        full_texts: FullTexts | None = None,
        fingerprints: Mapping[str, Fingerprint] | None = None,
    ) -> IngestStats:
        """Store one source's entries, merging each new one into its story and
        linking it to related stories published within ``related_window`` seconds."""
        with self.session() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.name == source)).one()
            stats = ingest_entries(
                s, row, list(entries), now, window_seconds, level, embed, related_window, full_texts,
                fingerprints,
            )
            if stats.new_articles or stats.updated_articles:
                s.execute(update(FeedStateRow).where(FeedStateRow.name == LAST_PUBLISH).values(content_hash=""))
            s.flush()
            testhooks.pause("ingest-commit")  # written, not yet committed: tests/test_crash.py kills here
            return stats

    def content_hashes(self, source: str, limit: int = 5000) -> dict[str, str]:
        """guid -> content hash of the source's newest ``limit`` stored articles (what a feed still holds)."""
        with self.session() as s:
            rows = s.execute(
                select(ArticleRow.guid, ArticleRow.content_hash)
                .join(SourceRow, SourceRow.id == ArticleRow.source_id)
                .where(SourceRow.name == source)
                .order_by(ArticleRow.published.desc())
                .limit(limit)
            )
            return {guid: digest for guid, digest in rows}

    def count_stories(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(StoryRow)) or 0

    def count_articles(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(ArticleRow)) or 0

    # -- what the published files were made from ---------------------------

    def published_signature(self) -> str:
        """The signature recorded after the last refresh's publish, "" when something changed since."""
        with self.session() as s:
            return s.scalar(select(FeedStateRow.content_hash).where(FeedStateRow.name == LAST_PUBLISH)) or ""

    def record_publish(self, signature: str, when: datetime) -> None:
        """Stamp a publish (or a refresh that had nothing to publish) with what the files were made from."""
        with self.session() as s:
            s.merge(FeedStateRow(name=LAST_PUBLISH, content_hash=signature, updated=when))
