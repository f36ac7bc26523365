"""Per-day activity for the index page: articles in, stories out, merges.

The days come from the data, never from the clock: the window is the
``days`` UTC days ending at the day of the newest article's ``fetched_at``,
so the same store always gives the same numbers (and the same page bytes).

The database counts, grouped by day number (a CASE over the days' bounds),
in one statement over the window's entries of three indexes (``articles.fetched_at``,
the partial index of joined articles' ``fetched_at``, ``stories.created_at``), never
a table row: the cost follows the window's activity, never the store's size, and
the SQL is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, case, func, literal, select, text, union_all
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
    counts = {(kind, day): n for kind, day, n in s.execute(_counts_statement(days), values)}
    return DailyActivity(
        tuple(
            DayCount(first + timedelta(days=k), counts.get((0, k), 0), counts.get((2, k), 0),
                     counts.get((1, k), 0))
            for k in range(days)
        )
    )


@cache
def _counts_statement(days: int):
    """Articles (kind 0), merges (1) and stories (2) per day number, the day bounds ``b0``..``b{days}``
    bound at execution: one statement, built and compiled once, each of its counts read from an index
    alone: articles by ix_articles_fetched_at, merges by the partial ix_articles_joined_fetched_at (its
    predicate is JOINED_SQL, written here identically, so the planner may use it), stories by
    ix_stories_created_at. Reading merge_reason from every article row of the window was most of an
    unchanged publish over 1M articles."""
    bounds = [bindparam(f"b{k}", type_=ArticleRow.fetched_at.type) for k in range(days + 1)]

    def per_day(kind: int, column, *where):
        in_window = select(_day_number(column, bounds).label("day")).where(
            column >= bounds[0], column < bounds[-1], *where
        ).subquery()
        # Grouped outside the subquery: PostgreSQL would not match a GROUP BY CASE whose bounds are other
        # parameters than those of the selected one.
        return select(literal(kind).label("kind"), in_window.c.day, func.count().label("n")).group_by(
            in_window.c.day
        )

    return union_all(
        per_day(0, ArticleRow.fetched_at),
        per_day(1, ArticleRow.fetched_at, text(JOINED_SQL)),
        per_day(2, StoryRow.created_at),
    )


def _day_number(column, bounds: list, lo: int = 0, hi: int | None = None):
    """Which of the days lo..hi-1 (0 = the first) ``column`` falls in, given it falls in one of them:
    comparisons only, so the same SQL runs on SQLite and PostgreSQL (no dialect-specific date functions).
    Halving the days each time costs 4 comparisons a row for 14 days, where a flat CASE costs up to 13."""
    hi = len(bounds) - 1 if hi is None else hi
    if hi - lo == 1:
        return literal(lo)
    mid = (lo + hi) // 2
    return case((column < bounds[mid], _day_number(column, bounds, lo, mid)),
                else_=_day_number(column, bounds, mid, hi))


def read_daily_activity(store: Store, days: int = DAYS) -> DailyActivity:
    """``daily_activity`` in a short read-only session of its own."""
    with store.session() as s:
        return daily_activity(s, days)
