"""Store stage: sources' state, articles and stories in SQL (SQLAlchemy 2.x).

``Store`` is the one door to the database; every write happens in a short
transaction of its own, so a crash at any moment leaves the previous
consistent state (SQLite's WAL journal and PostgreSQL's MVCC see to the rest).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syndicator.store import db
from syndicator.store.ingest import Embedder, IngestStats, ingest_entries
from syndicator.store.schema import (
    ArticleRow,
    FeedStateRow,
    SourceRow,
    StoryAliasRow,
    StoryRow,
)

__all__ = [
    "ArticleRow",
    "FeedStateRow",
    "IngestStats",
    "SourceRow",
    "Store",
    "StoryAliasRow",
    "StoryRow",
]


class Store:
    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = db.create_store_engine(url)
        if migrate:
            db.migrate(self.engine)
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

    def update_source(self, name: str, **values: object) -> None:
        with self.session() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.name == name)).one()
            for key, value in values.items():
                setattr(row, key, value)

    # -- articles and stories ---------------------------------------------

    def ingest(
        self,
        source: str,
        entries: Iterable,
        now: datetime,
        window_seconds: float,
        level: str = "article",
        embed: Embedder | None = None,
        related_window: float = 0.0,
    ) -> IngestStats:
        """Store one source's entries, merging each new one into its story and
        linking it to related stories published within ``related_window`` seconds."""
        with self.session() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.name == source)).one()
            return ingest_entries(s, row, list(entries), now, window_seconds, level, embed, related_window)

    def count_stories(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(StoryRow)) or 0

    def count_articles(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(ArticleRow)) or 0
