"""One pass of the pipeline: fetch → parse → merge → store → publish.

Used by ``syndicator refresh`` (every enabled source, now) and by the
daemon's scheduler tick (only the sources that are due). A source's failure
is recorded on that source and reported; it never stops the others.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from syndicator import schedule
from syndicator.config import Config
from syndicator.errors import ParseError, StoreError, UsageError
from syndicator.fetch import Fetcher, FetchRequest, FetchResult, HostBackoff
from syndicator.store import UPDATE_BATCH, HostRow, IngestStats, SourceRow, Store, new_lease_owner
from syndicator.store.linker import Linker
from syndicator.store.retention import prune
from syndicator.urls import host_of

if TYPE_CHECKING:
    from syndicator.prepare import Prepared
    from syndicator.publish import PublishResult

log = logging.getLogger(__name__)

# Metrics hook, set by syndicator.metrics.install() in a process that serves /metrics (this module never
# imports it): observe("fetch", outcome, seconds) per fetch, observe("publish", "", seconds) per publish.
observe: Callable[[str, str, float], None] | None = None


@dataclass
class SourceReport:
    name: str
    outcome: str  # "fetched", "unchanged", "failed", "deferred"
    detail: str = ""
    new_articles: int = 0
    entries: int = 0
    parsed: int = 0  # entries parsed: the items not sent again as stored (syndicator.parse.items)
    until: datetime | None = None  # deferred: when the server (or host) said it may be asked again


@dataclass
class RefreshReport:
    sources: list[SourceReport] = field(default_factory=list)
    ingest: IngestStats = field(default_factory=IngestStats)
    published: PublishResult | None = None
    stories: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for s in self.sources if s.outcome == outcome)

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.outcome == "failed"]


Progress = Callable[[SourceReport], None]

# Documents parsed (or being parsed) by the pool and not yet stored, at most. Storing is the slower side in a
# cold refresh, so the bound is nearly always full, and a parsed document of 50 new items waits as ~2.8 MB of
# entries and fingerprints (22 MB at the refresh's heap peak, memray, 200 x 50 cold). 3 took 13 MB off a cold
# refresh but made an incremental one 1.16x slower (parse, store and link take similar time per document there,
# and a short buffer stalls them; docs/benchmarks.md section 22), for no memory there: so the documents ahead
# are bounded by their new entries too (MAX_PREPARED_ENTRIES), which a cold refresh reaches and an incremental
# one does not.
MAX_PREPARED = 8
# New entries (each a fingerprint to merge) parsed or being parsed ahead of the store, at most: three documents
# of 50 new items, five entries each of eight documents of an incremental refresh. A document not parsed yet
# counts as the mean of those stored so far in this refresh (see prepared_ahead_full).
MAX_PREPARED_ENTRIES = 150


def prepared_ahead_full(new_entries: Sequence[int | None], mean: float) -> bool:
    """Whether the documents ahead of the store are enough (MAX_PREPARED, MAX_PREPARED_ENTRIES).

    ``new_entries``: each document's new entries once parsed, ``None`` while it is being parsed (counted as
    ``mean``, the new entries per document stored so far in this refresh)."""
    if len(new_entries) >= MAX_PREPARED:
        return True
    return sum(mean if n is None else n for n in new_entries) >= MAX_PREPARED_ENTRIES


def select_sources(
    config: Config, states: dict[str, SourceRow], names: Sequence[str] | None, now: datetime, *, due_only: bool,
    hosts: dict[str, HostRow] | None = None,
) -> tuple[list[str], list[SourceReport]]:
    """Which sources to fetch now, and which are deferred (with the reason).

    A source waits for its own server's Retry-After and for its host's (``hosts``: a 429/503 from any
    source on that host name holds back every source on it).
    """
    hosts = hosts or {}
    if names:
        unknown = [n for n in names if n not in states]
        if unknown:
            raise UsageError(f"no source named {', '.join(map(repr, unknown))} in {config.path}")
    chosen, deferred = [], []
    for src in config.sources:
        row = states.get(src.name)
        if row is None:
            continue  # not among the rows given (a worker's claim holds only the sources it won)
        named = bool(names) and src.name in names
        if names and not named:
            continue
        if not named and (not src.enabled or row.disabled or row.paused):
            continue  # a disabled or paused source is fetched only when asked for by name
        if row.retry_after_until and row.retry_after_until > now:
            when = row.retry_after_until.isoformat(timespec="seconds")
            deferred.append(
                SourceReport(src.name, "deferred", f"server asked to wait until {when}", until=row.retry_after_until)
            )
            continue
        host = hosts.get(host_of(row.current_url or row.url))
        if host is not None and host.retry_after_until > now:
            when = host.retry_after_until.isoformat(timespec="seconds")
            detail = f"host {host.name} asked to wait until {when}: {host.reason}"
            deferred.append(SourceReport(src.name, "deferred", detail, until=host.retry_after_until))
            continue
        if due_only and row.next_due_at and row.next_due_at > now:
            continue
        chosen.append(src.name)
    return chosen, deferred


@dataclass(frozen=True)
class Claim:
    """A worker's claim: only the due sources it wins, ``limit`` at a time (Store.claim_due)."""

    owner: str
    limit: int  # sources per claim


def refresh(
    config: Config,
    store: Store,
    names: Sequence[str] | None = None,
    *,
    due_only: bool = False,
    progress: Progress | None = None,
    on_start: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
    publish: bool = True,
    claim: Claim | None = None,
    sync: bool = True,
) -> RefreshReport:
    """Fetch, store and (with ``publish``) publish: the named sources, every enabled one, or with
    ``due_only`` those that are due; with ``claim``, only the due sources this worker wins.

    Whatever the caller, each source fetched is leased to this refresh first (Store.claim_sources,
    Store.claim_due), so two processes sharing the store never fetch one source at overlapping times.
    """
    if sync:
        store.sync_sources((s.name, config.source_url(s)) for s in config.sources)
    now = datetime.now(UTC)
    hosts = store.host_backoffs(now)
    lease = config.scheduler.lease
    until = now + timedelta(seconds=lease)
    if claim is not None:
        owner = claim.owner
        enabled = [s.name for s in config.sources if s.enabled]
        # Only the claimed rows are read: a worker among thousands of sources claims a batch at a time.
        states = {r.name: r for r in store.claim_due(owner, enabled, now, until, claim.limit)}
        chosen, deferred = select_sources(config, states, None, now, due_only=True, hosts=hosts)
        idle = set(states) - set(chosen) - {d.name for d in deferred}
        if idle:  # due by the store's columns, not by select_sources' fuller view: hand them back
            store.release_sources(owner, sorted(idle))
    else:
        owner = new_lease_owner()
        states = store.sources()
        chosen, deferred = select_sources(config, states, names, now, due_only=due_only, hosts=hosts)
        if chosen:
            # A refresh by hand or the daemon's own: a source another process is fetching is left to it.
            chosen, held = store.claim_sources(chosen, owner, until, now)
            deferred += [
                SourceReport(name, "deferred", f"being fetched by another process ({who})")
                for name, who in sorted(held.items())
            ]
            states = store.sources()  # as the other process may have just left them
    report = RefreshReport(sources=list(deferred))
    for d in deferred:
        row = states[d.name]
        if d.until is not None and (row.next_due_at is None or row.next_due_at < d.until):
            store.update_source(d.name, next_due_at=d.until, due_reason=d.detail)
    if claim is not None and deferred:
        store.release_sources(owner, [d.name for d in deferred])
    if due_only and not chosen:
        return report  # a scheduler tick with nothing due: no work, no publish
    try:
        with _renewing(store, owner, lease):
            _fetch_all(config, store, states, chosen, owner, hosts, report, progress, on_start, stop)
    finally:
        store.release_sources(owner)  # those not reached (stopped, or an error)
    for s in report.sources:
        report.ingest.new_articles += s.new_articles
    if publish and (stop is None or not stop.is_set()):
        started = time.monotonic()
        report.published = publish_and_prune(store, config, after=store.clock())
        if observe is not None and not report.published.skipped:
            observe("publish", "", time.monotonic() - started)
    report.stories = store.count_stories()
    return report


def publish_and_prune(store: Store, config: Config, *, after: datetime | None = None) -> PublishResult:
    """Publish every feed, then apply ``[storage] keep_days``, unless another process's publish that
    started after ``after`` (the store's clock once this one's writes were committed) covered them."""
    from syndicator.publish import PublishResult, publish_locked, publishing

    with publishing(store, config):  # prune too: two workers' prunes at once could deadlock on PostgreSQL
        signature = publish_signature(config)
        if _unchanged(config, store, signature):
            # Nothing stored since the last publish, same settings, files in place: the files would come out
            # byte-identical, so only the publish time is stamped (/healthz reads it). Only the time: an
            # ingest committed since the check above has cleared the signature, and must keep it cleared.
            store.record_publish(datetime.now(UTC))
            return PublishResult(feeds=len(config.feeds))
        published = publish_locked(store, config, datetime.now(UTC), after=after, signature=signature)
        if not published.skipped:
            prune(store, config, datetime.now(UTC))
    return published


@contextmanager
def _renewing(store: Store, owner: str, lease: float) -> Iterator[None]:
    """Push back ``owner``'s leases every third of ``lease`` while the block runs: only a dead or frozen
    process's sources are ever taken over by another."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(max(lease / 3, 0.2)):
            try:
                now = datetime.now(UTC)
                store.renew_leases(owner, now, now + timedelta(seconds=lease))
            except Exception:
                log.exception("could not renew leases")

    thread = threading.Thread(target=renew, name="lease-renewal", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _fetch_all(
    config: Config, store: Store, states: dict[str, SourceRow], chosen: list[str], owner: str,
    hosts: dict[str, HostRow], report: RefreshReport, progress: Progress | None,
    on_start: Callable[[int], None] | None, stop: threading.Event | None,
) -> None:
    if on_start:
        on_start(len(chosen))
    requests = []
    for name in chosen:
        # Articles waiting for their page (its host was in backoff) are retried when the feed is read:
        # so ask for the feed itself, not a 304.
        conditional = not (config.source(name).full_text and store.has_deferred_pages(name))
        requests.append(fetch_request(config, states[name], conditional=conditional))
    backoffs = [HostBackoff(h.name, h.retry_after_until, h.reason) for h in hosts.values()]
    from syndicator.prepare import Preparer  # imported when there is something to fetch

    window = config.related.window if config.related.limit else 0.0
    # A core for the linking process below, when there will be one.
    preparer = Preparer(len(requests), reserve=1 if window > 0 else 0)
    if window > 0:
        # Articles a stopped or killed refresh stored and did not link (syndicator.store.linker), first.
        store.link_pending(owner, window, adopt=True)
    # A refresh large enough for the parse pool links its new articles in a process of its own too.
    links = Linker(store.url, window, owner) if preparer.enabled and window > 0 else None
    # Documents being parsed by the pool, in the order they arrived; stored in that order.
    pending: deque[tuple[FetchResult, Future[Prepared]]] = deque()
    ahead = _Mean()  # new entries per document stored from the pool

    # The states of sources that answered 304, written UPDATE_BATCH at a time (Store.update_sources): with
    # nothing changed, a transaction per source was most of a refresh's time.
    unchanged: list[tuple[str, dict[str, object]]] = []

    def flush() -> None:
        if unchanged:
            store.update_sources(unchanged, owner=owner)
            unchanged.clear()

    def handle(result: FetchResult, fetcher: Fetcher, prepared: Future[Prepared] | None = None) -> None:
        src_report = _handle_safely(config, store, states[result.source], result, fetcher, owner, prepared,
                                    unchanged, links)
        report.sources.append(src_report)
        if links is not None:
            store.write_links(owner, links.take())
        if len(unchanged) >= UPDATE_BATCH:
            flush()
        if progress:
            progress(src_report)

    def stopping() -> bool:
        return stop is not None and stop.is_set()

    try:
        with Fetcher(config.fetch, backoffs) as fetcher:
            for result in fetcher.fetch_iter(requests):
                if stopping():
                    break  # abandon the rest; what is stored so far is consistent
                if observe is not None:
                    observe("fetch", result.outcome, result.elapsed)
                _save_host_backoffs(store, fetcher)  # at once: a concurrent refresh must see it too
                if preparer.enabled and result.outcome == "ok" and not config.source(result.source).full_text:
                    known, known_items = store.known(result.source)
                    future = preparer.submit(
                        result.body, result.url, result.content_type, config.output.strip_tracking_pixels,
                        result.source, known, datetime.now(UTC), known_items,
                    )
                    pending.append((replace(result, body=b""), future))  # the worker has its copy
                else:
                    handle(result, fetcher)
                # Stored in arrival order as they are ready; and never more than MAX_PREPARED documents or
                # MAX_PREPARED_ENTRIES new entries ahead of the store: storing is the slower side, and parsed
                # documents waiting for it took 385 MB at 200 x 50 (before any bound).
                while pending and (pending[0][1].done() or prepared_ahead_full(
                        [_new_entries(f) for _, f in pending], ahead.mean)) and not stopping():
                    done_result, done_future = pending.popleft()
                    handle(done_result, fetcher, done_future)
                    ahead.count(_new_entries(done_future))
            while pending and not stopping():
                done_result, done_future = pending.popleft()
                handle(done_result, fetcher, done_future)
        if links is not None and not stopping():
            store.write_links(owner, links.take(behind=0))
            if links.failed:
                store.link_pending(owner, window)
    finally:
        try:
            flush()  # before refresh() releases the leases: the lease check needs them
        finally:
            if links is not None:
                links.close()  # stopped or failed: what it did not link stays queued for the next refresh
            preparer.close()


def _new_entries(future: Future[Prepared]) -> int | None:
    """The new entries of a parsed document (those the worker fingerprinted); ``None`` while being parsed."""
    if not future.done():
        return None
    if future.cancelled() or future.exception() is not None:
        return 0
    return len(future.result().fingerprints)


class _Mean:
    def __init__(self) -> None:
        self.total, self.n = 0, 0

    def count(self, value: int | None) -> None:
        if value is not None:
            self.total += value
            self.n += 1

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0


def publish_signature(config: Config) -> str:
    """What the published files depend on besides the store: this version and the settings they are made from."""
    from syndicator import __version__

    parts = (__version__, config.output, config.feeds, config.sources, config.merge, config.related,
             str(config.output_dir))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _unchanged(config: Config, store: Store, signature: str) -> bool:
    """Whether publishing now would change nothing (see Store.record_publish)."""
    if any(f.max_age is not None for f in config.feeds):
        return False  # what such a feed holds changes with the clock alone
    out = config.output_dir
    names = ["index.html", "feeds.opml", *(f"{f.name}.{ext}" for f in config.feeds for ext in ("rss", "atom", "json"))]
    if not all((out / n).is_file() for n in names):
        return False
    return store.published_signature() == signature


def _handle_safely(
    config: Config, store: Store, row: SourceRow, result: FetchResult, fetcher: Fetcher, owner: str = "",
    prepared: Future[Prepared] | None = None, unchanged: list[tuple[str, dict[str, object]]] | None = None,
    links: Linker | None = None,
) -> SourceReport:
    """``_handle``, with a last line of defence: one source's unforeseen failure is that source's error.

    Every failure found so far was fixed where it arose (bench/corpus.py counts any that reach
    here as crashes); this keeps a new one from stopping the other sources and the publish.
    """
    try:
        return _handle(config, store, row, result, fetcher, owner, prepared, unchanged, links)
    except StoreError:
        raise  # the store itself is unusable: nothing else will work either
    except Exception as exc:
        log.exception("source %s: internal error", row.name)
        message = f"internal error: {type(exc).__name__}: {exc}"
        store.update_source(
            row.name, last_fetch_at=datetime.now(UTC), last_outcome="error", last_error=message,
            consecutive_errors=row.consecutive_errors + 1,
        )
        return SourceReport(row.name, "failed", message)


def fetch_request(config: Config, row: SourceRow, *, conditional: bool = True) -> FetchRequest:
    """How to fetch one source: its address, validators and its own headers, credentials and proxy."""
    src = config.source(row.name)
    return FetchRequest(
        row.name,
        row.current_url or row.url,
        etag=row.etag if conditional else "",
        last_modified=row.last_modified if conditional else "",
        guard=src.guarded,
        headers=src.headers,
        auth=(src.username, src.password) if src.username or src.password else None,
        proxy=src.proxy,
        user_agent=src.user_agent,
    )


def _save_host_backoffs(store: Store, fetcher: Fetcher) -> None:
    for b in list(fetcher.new_backoffs.values()):
        store.set_host_backoff(b.host, b.until, b.reason)
    fetcher.new_backoffs.clear()


def _handle(
    config: Config, store: Store, row: SourceRow, result: FetchResult, fetcher: Fetcher, owner: str = "",
    prepared: Future[Prepared] | None = None, unchanged: list[tuple[str, dict[str, object]]] | None = None,
    links: Linker | None = None,
) -> SourceReport:
    """Parse and store one fetched source (parsed by the pool: ``prepared``), then record its state and next
    due time: at once, or for a 304 appended to ``unchanged`` when given (the caller writes them in
    batches)."""
    src = config.source(row.name)
    now = datetime.now(UTC)
    if result.outcome == "deferred":
        # Not fetched: another source on its host got a 429/503 in this refresh. Not an error of its own.
        store.update_source(row.name, owner=owner, next_due_at=result.retry_after, due_reason=result.error)
        return SourceReport(row.name, "deferred", result.error, until=result.retry_after)
    interval = config.interval(src)
    limits = {
        "max_server_wait": config.fetch.max_server_wait, "max_backoff": config.fetch.max_backoff,
        "jitter": config.fetch.jitter,
    }
    state: dict[str, object] = {"last_fetch_at": now, "last_http_status": result.http_status}
    report = SourceReport(row.name, "unchanged")
    hints = dict(row.feed_hints or {})  # a 304 repeats no <ttl> or <skipHours>: the last document's stand
    error = config.redact(result.error)
    if result.outcome == "ok":
        fingerprints = None
        try:
            if prepared is not None:
                done = prepared.result()
                if done.parsed is None:
                    raise ParseError(done.error)
                parsed, fingerprints = done.parsed, done.fingerprints
            else:
                from syndicator.parse import parse_document

                # A source whose articles' pages are fetched is parsed whole: an article waiting for its page
                # is retried when its entry is read (ingest_entries).
                known_items = None if src.full_text else store.known(row.name)[1]
                parsed = parse_document(
                    result.body, result.url, result.content_type,
                    strip_tracking_pixels=config.output.strip_tracking_pixels, known_items=known_items,
                )
        except ParseError as exc:
            error = str(exc)
        else:
            hints = {"ttl": parsed.ttl_minutes, "skip_hours": list(parsed.skip_hours),
                     "skip_days": list(parsed.skip_days)}
            state["feed_hints"] = hints
            entries, full_texts = parsed.entries, None
            if src.full_text:
                entries, full_texts = _full_text(store, fetcher, row.name, entries, src.full_text_publish, src.guarded)
            stats = store.ingest(
                row.name, entries, now, config.merge.window, config.merge.level, _embedder(config),
                related_window=config.related.window if config.related.limit else 0.0, full_texts=full_texts,
                fingerprints=fingerprints, queue_links=(links.owner, links.next_seq()) if links is not None else None,
                raw_hashes=parsed.raw_hashes, unchanged=parsed.unchanged,
            )
            if links is not None:
                links.submit(stats.queued, now)
            report = SourceReport(
                row.name, "fetched", parsed.warning, new_articles=stats.new_articles,
                entries=len(parsed.entries) + len(parsed.unchanged), parsed=len(parsed.entries),
            )
            state["parse_warning"] = parsed.warning
    if error:
        errors = row.consecutive_errors + 1
        state.update(last_outcome="error", last_error=error, consecutive_errors=errors)
        if result.gone:
            state.update(disabled=True, disabled_reason=error)
        retry_after = result.retry_after
        if retry_after:
            # Capped: a Retry-After ten years ahead must not silence a source for good.
            retry_after = min(retry_after, now + timedelta(seconds=config.fetch.max_server_wait))
            state["retry_after_until"] = retry_after
        due = schedule.next_due(
            row.name, now, interval, ok=False, consecutive_errors=errors, retry_after=retry_after, **limits
        )
        report = SourceReport(row.name, "failed", error)
        log.warning("source %s failed: %s", row.name, error, extra={
            "event": "error", "source": row.name, "status": result.http_status, "url": config.redact(result.url),
        })
    else:
        state.update(
            last_outcome=result.outcome, last_error="", consecutive_errors=0, last_success_at=now,
            retry_after_until=None, etag=result.etag, last_modified=result.last_modified,
        )
        due = schedule.next_due(
            row.name, now, interval, ok=True, cache_headers=result.cache_headers, ttl_minutes=hints.get("ttl"),
            retry_after=result.retry_after, skip_hours=hints.get("skip_hours") or (),
            skip_days=hints.get("skip_days") or (), **limits,
        )
        state.update(_redirect_state(row, result))
    if not error:
        log.info(
            "fetched %s: %s, %d new article(s)", row.name, result.outcome.replace("_", " "), report.new_articles,
            extra={"event": "fetch", "source": row.name, "outcome": result.outcome, "status": result.http_status,
                   "url": config.redact(result.url), "elapsed": round(result.elapsed, 3),
                   # a document read: its items, and how many were parsed (not sent again as stored)
                   **({"entries": report.entries, "parsed": report.parsed} if report.outcome == "fetched" else {})},
        )
    state.update(next_due_at=due.at, due_reason=due.reason)
    if unchanged is not None and result.outcome == "not_modified" and not error:
        unchanged.append((row.name, state))
        return report
    store.update_source(row.name, owner=owner, **state)  # a worker's lease ends here
    return report


def _full_text(store: Store, fetcher: Fetcher, source: str, entries, publish: bool, guard: bool = False):
    """The entries with their article pages' text (fetched once per new article), and what was fetched."""
    from syndicator import fulltext

    stored = store.full_text_state(source, [e.guid for e in entries])
    enriched = fulltext.enrich(fetcher, entries, stored, publish=publish, guard=guard)
    if enriched.fetched:
        log.info(
            "source %s: full text of %d page(s): %d ok, %d failed (summary kept), %d deferred",
            source, len(enriched.fetched), enriched.ok, enriched.failed, enriched.deferred,
        )
    _save_host_backoffs(store, fetcher)
    return enriched.entries, enriched.fetched


def _embedder(config: Config):
    """The headline embedder when the semantic extra is installed and wanted, else None."""
    if not config.merge.semantic:
        return None
    from syndicator import semantic

    return semantic.embed if semantic.available() else None


def _redirect_state(row: SourceRow, result: FetchResult) -> dict[str, str]:
    """A permanent redirect moves the source only once seen on two fetches in a row.

    One 301 can be a publisher's mistake, fixed an hour later; following it at
    once would lose the real address for good.
    """
    target = result.permanent_redirect
    if not target:
        return {"redirect_candidate": ""}
    if row.redirect_candidate == target:
        return {"current_url": target, "redirect_candidate": ""}
    return {"redirect_candidate": target}
