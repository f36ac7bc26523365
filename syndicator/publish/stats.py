"""Per-day activity for the index page: articles in, stories out, merges.

The days come from the data, never from the clock: the window is the
``days`` UTC days ending at the day of the newest article's ``fetched_at``,
so the same store always gives the same numbers (and the same page bytes).

Grouping by day happens in Python over a query bounded to that window and
to two small columns, which keeps the SQL the same on SQLite and PostgreSQL
(no dialect-specific date functions).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from syndicator.store.schema import ArticleRow, StoryRow

if TYPE_CHECKING:
    from syndicator.store import Store

DAYS = 14
# An article with one of these rules started a story of its own; any other rule joined one.
_NOT_MERGES = frozenset({"new", "unmerged"})


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
    newest = s.scalar(select(func.max(ArticleRow.fetched_at)))
    if newest is None:
        return DailyActivity(())
    last = newest.astimezone(UTC).date()
    first = last - timedelta(days=days - 1)
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last + timedelta(days=1), time(), UTC)

    articles: Counter[date] = Counter()
    merges: Counter[date] = Counter()
    rule = ArticleRow.merge_reason["rule"].as_string()
    rows = s.execute(
        select(ArticleRow.fetched_at, rule).where(ArticleRow.fetched_at >= start, ArticleRow.fetched_at < end)
    )
    for fetched_at, reason in rows:
        day = fetched_at.astimezone(UTC).date()
        articles[day] += 1
        if reason and reason not in _NOT_MERGES:
            merges[day] += 1
    stories: Counter[date] = Counter(
        created.astimezone(UTC).date()
        for created in s.scalars(
            select(StoryRow.created_at).where(StoryRow.created_at >= start, StoryRow.created_at < end)
        )
    )
    return DailyActivity(
        tuple(
            DayCount(d, articles[d], stories[d], merges[d])
            for d in (first + timedelta(days=k) for k in range(days))
        )
    )


def read_daily_activity(store: Store, days: int = DAYS) -> DailyActivity:
    """``daily_activity`` in a short read-only session of its own."""
    with store.session() as s:
        return daily_activity(s, days)
