"""Per-day activity for the index page: articles in, stories out, merges.

The days come from the data, never from the clock: the window is the
``days`` UTC days ending at the day of the newest article's ``fetched_at``,
so the same store always gives the same numbers (and the same page bytes).

The database counts, in one statement of range counts per day over the window's
entries of three indexes (``articles.fetched_at``, the partial index of joined
articles' ``fetched_at``, ``stories.created_at``), never a table row: the cost
follows the window's activity, never the store's size, and the SQL is the same on
SQLite and PostgreSQL (comparisons only, no dialect-specific date function).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from syndicator.store.schema import JOINED_SQL, ArticleRow, StoryRow

if TYPE_CHECKING:
    from syndicator.store import Store

DAYS = 14


@dataclass(frozen=True)
class DayCount:
    day: date  # a UTC day
    articles: int  # articles fetched that day
    stories: int  # stories created that day
    merges: int  # articles fetched that day that joined an existing story


@dataclass(frozen=True)
class DailyActivity:
    days: tuple[DayCount, ...]  # oldest first; empty when the store holds no article

    @property
    def articles(self) -> int:
        return sum(d.articles for d in self.days)

    @property
    def stories(self) -> int:
        return sum(d.stories for d in self.days)

    @property
    def merges(self) -> int:
        return sum(d.merges for d in self.days)


def daily_activity(s: Session, days: int = DAYS) -> DailyActivity:
    newest = s.scalar(select(func.max(ArticleRow.fetched_at)))  # ix_articles_fetched_at: one probe
    if newest is None:
        return DailyActivity(())
    last = newest.astimezone(UTC).date()
    first = last - timedelta(days=days - 1)
    bounds = [datetime.combine(first + timedelta(days=k), time(), UTC) for k in range(days + 1)]

    values = {f"b{k}": bound for k, bound in enumerate(bounds)}
    counts = s.execute(_counts_statement(days), values).one()
    return DailyActivity(
        tuple(
            DayCount(first + timedelta(days=k), counts[k], counts[2 * days + k], counts[days + k])
            for k in range(days)
        )
    )


@cache
def _counts_statement(days: int):
    """One row: the articles of each day, then their merges, then the stories created, ``days`` counts
    each, the day bounds ``b0``..``b{days}`` bound at execution. One statement, built and compiled once,
    of range counts that each read an index alone: ix_articles_fetched_at, the partial
    ix_articles_joined_fetched_at (its predicate is JOINED_SQL, written here identically, so the planner
    may use it) and ix_stories_created_at. Reading merge_reason from every article row of the window was
    most of an unchanged publish over 1M articles; a range count per day, rather than grouping rows by a
    computed day number (a CASE and a sort of every row), costs a tenth of that grouping (0.8 against
    7 ms for the 18.7k articles of the 1M benchmark store's window)."""
    bounds = [bindparam(f"b{k}", type_=ArticleRow.fetched_at.type) for k in range(days + 1)]

    def per_day(column, *where):
        return [
            select(func.count()).where(column >= bounds[k], column < bounds[k + 1], *where).scalar_subquery()
            for k in range(days)
        ]

    return select(
        *per_day(ArticleRow.fetched_at),
        *per_day(ArticleRow.fetched_at, text(JOINED_SQL)),
        *per_day(StoryRow.created_at),
    )


def read_daily_activity(store: Store, days: int = DAYS) -> DailyActivity:
    """``daily_activity`` in a short read-only session of its own."""
    with store.session() as s:
        return daily_activity(s, days)
