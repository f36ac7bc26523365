"""Health and Prometheus metrics for the served app (``/healthz``, ``/metrics``).

Two kinds of numbers:

- counted in this process: fetches by outcome, fetch and publish durations.
  ``install()`` sets the tiny hook in ``syndicator.refresh`` (which never
  imports this module), so they count where the worker runs: in
  ``syndicator run`` the worker and the server share a process; ``syndicator
  serve`` alone shows zeros for them.
- read from the store at scrape time: articles, stories, merges, sources in
  error, the last publish (a few COUNT queries, by ``StoreCollector``).

The store is read through ``StoreReader``: for SQLite its own connections,
without the ``BEGIN IMMEDIATE`` the store takes for every transaction, so a
health check or a scrape never queues behind a refresh's writes (WAL readers
see the last committed state), a short busy timeout, and never creating a
database file that does not exist.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, create_engine, func, or_, select
from sqlalchemy.engine import make_url

from syndicator.publish import LAST_PUBLISH  # the feed_state row every publish stamps
from syndicator.store.schema import ArticleRow, FeedStateRow, SourceRow, StoryRow

CONTENT_TYPE = CONTENT_TYPE_LATEST
READ_TIMEOUT = 5.0  # seconds a read waits for a locked SQLite database
# Rules of an article that started a story of its own; any other rule joined one (as publish/stats.py counts).
_NOT_MERGES = ("new", "unmerged")

_IN_PROCESS = " Counted in this process: the daemon (syndicator run); syndicator serve alone shows zeros."

disable_created_metrics()  # no *_created series: they only say when this process started
PROCESS = CollectorRegistry(auto_describe=True)
FETCHES = Counter(
    "syndicator_fetches", "Source fetches by outcome (ok, not_modified, error, deferred)." + _IN_PROCESS,
    ["outcome"], registry=PROCESS,
)
for _outcome in ("ok", "not_modified", "error", "deferred"):
    FETCHES.labels(_outcome)  # every outcome shows, at zero until it happens
FETCH_SECONDS = Histogram(
    "syndicator_fetch_duration_seconds", "Time to fetch one source, redirects included." + _IN_PROCESS,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=PROCESS,
)
PUBLISH_SECONDS = Histogram(
    "syndicator_publish_duration_seconds", "Time to publish every output feed after a refresh." + _IN_PROCESS,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=PROCESS,
)

_installed = threading.Lock()


def observe(kind: str, label: str, seconds: float) -> None:
    """The hook ``syndicator.refresh`` calls: ("fetch", outcome, s) or ("publish", "", s)."""
    if kind == "fetch":
        FETCHES.labels(label if label in ("ok", "not_modified", "error") else "error").inc()
        FETCH_SECONDS.observe(seconds)
    elif kind == "publish":
        PUBLISH_SECONDS.observe(seconds)


def install() -> None:
    """Count this process's refreshes (idempotent)."""
    from syndicator import refresh

    with _installed:
        refresh.observe = observe


class StoreReader:
    """Short read-only queries on the store, for health checks and scrapes."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        parsed = make_url(url)
        path = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and path and path != ":memory:" and not path.startswith("file:"):
            def connect() -> sqlite3.Connection:
                # mode=rw: a missing database is an error, not a new empty file.
                uri = "file:" + quote(path) + "?mode=rw"
                return sqlite3.connect(uri, uri=True, timeout=READ_TIMEOUT, check_same_thread=False)

            self.engine = create_engine(url, creator=connect)  # the URL only picks the dialect and pool
            self._owned = True
        elif engine is not None:
            self.engine, self._owned = engine, False
        else:
            self.engine, self._owned = create_engine(url, pool_pre_ping=True), True

    def close(self) -> None:
        if self._owned:
            self.engine.dispose()

    def last_publish(self) -> datetime | None:
        """When publish_all last ran; raises when the store does not answer."""
        with self.engine.connect() as conn:
            return conn.scalar(select(FeedStateRow.updated).where(FeedStateRow.name == LAST_PUBLISH))

    def counts(self) -> dict[str, int]:
        rule = ArticleRow.merge_reason["rule"].as_string()
        queries = {
            "articles": select(func.count()).select_from(ArticleRow),
            "stories": select(func.count()).select_from(StoryRow),
            "merged_articles": select(func.count()).select_from(ArticleRow).where(rule.not_in(_NOT_MERGES)),
            "sources_in_error": select(func.count()).select_from(SourceRow).where(
                or_(SourceRow.consecutive_errors > 0, SourceRow.disabled.is_(True))
            ),
        }
        with self.engine.connect() as conn:
            return {name: conn.scalar(q) or 0 for name, q in queries.items()}


def health(reader: StoreReader, stale_after: float, now: datetime | None = None) -> str | None:
    """None when healthy, else why not (one line)."""
    try:
        last = reader.last_publish()
    except Exception as exc:
        return f"store does not answer: {type(exc).__name__}: {_first_line(exc)}"
    if last is None:
        return "nothing published yet"
    age = ((now or datetime.now(UTC)) - last).total_seconds()
    if age > stale_after:
        return (
            f"last publish {_duration(age)} ago ({last.isoformat(timespec='seconds')}), "
            f"more than stale_after = {_duration(stale_after)}"
        )
    return None


_GAUGES = {
    "articles": "Articles in the store.",
    "stories": "Stories in the store.",
    "merged_articles": "Articles that joined an existing story (merge rule other than new or unmerged).",
    "sources_in_error": "Sources whose last fetch failed (consecutive errors above zero) or that are disabled.",
}


class StoreCollector:
    """Gauges read from the store at scrape time."""

    def __init__(self, reader: StoreReader) -> None:
        self.reader = reader

    def describe(self) -> list[Metric]:
        return []  # the names are fixed; no query at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("syndicator_store_up", "1 when the store answered this scrape's queries, else 0.")
        try:
            counts = self.reader.counts()
            last = self.reader.last_publish()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, help_text in _GAUGES.items():
            yield GaugeMetricFamily(f"syndicator_{name}", help_text, value=counts[name])
        if last is not None:
            yield GaugeMetricFamily(
                "syndicator_last_publish_timestamp_seconds", "When the last publish ran (Unix time).",
                value=last.timestamp(),
            )


def exposition(reader: StoreReader | None) -> bytes:
    """The Prometheus text format: this process's counters, then the store's gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Chain(PROCESS))
    if reader is not None:
        registry.register(StoreCollector(reader))
    return generate_latest(registry)


class _Chain:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    return f"{hours // 24}d{hours % 24}h"
