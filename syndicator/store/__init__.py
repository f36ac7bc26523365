"""Store stage: sources' state, articles and stories in SQL (SQLAlchemy 2.x).

``Store`` is the one door to the database; every write happens in a short
transaction of its own, so a crash at any moment leaves the previous
consistent state (SQLite's WAL journal and PostgreSQL's MVCC see to the rest).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from syndicator import testhooks
from syndicator.similarity import Fingerprint
from syndicator.store import db, linker, locks
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
# published files were made from (refresh.publish_signature) after a refresh's publish, "pending:…" while
# that publish runs (begin_publish), and "" once anything else may have changed the feeds: an ingest that
# stored or changed an article (in its own transaction, so that a refresh killed before publishing is
# published by the next one), or any other publish.
LAST_PUBLISH = ".last-publish"
_PENDING = "pending:"  # a publish's signature noted when it started, until it has finished (begin_publish)

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


log = logging.getLogger(__name__)
# Names per IN (...) list: under every database's limit on bound parameters.
_CHUNK = 500
UPDATE_BATCH = 100  # sources' states per transaction in update_sources


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

    def clock(self) -> datetime:
        """The database server's time (PostgreSQL) or this host's: one clock for every worker's comparisons."""
        if self.engine.dialect.name != "postgresql":
            return datetime.now(UTC)
        with self.engine.connect() as conn:
            return conn.scalar(text("SELECT clock_timestamp()")).astimezone(UTC)

    # -- sources --------------------------------------------------------

    def sync_sources(self, sources: Iterable[tuple[str, str]]) -> None:
        """Make a row for every configured (name, url); a changed URL resets its state.

        Several workers starting at once all do this: a row another one has
        just made is skipped (INSERT … ON CONFLICT DO NOTHING) instead of failing.
        """
        wanted = dict(sources)
        with self.session() as s:
            rows = {r.name: r for r in s.scalars(select(SourceRow))}
            missing = [{"name": n, "url": u} for n, u in wanted.items() if n not in rows]
            for start in range(0, len(missing), _CHUNK):
                s.execute(_insert(s).values(missing[start : start + _CHUNK]).on_conflict_do_nothing())
            for name, url in wanted.items():
                row = rows.get(name)
                if row is not None and row.url != url:
                    row.url = url
                    row.current_url = row.redirect_candidate = row.etag = row.last_modified = ""
                    row.disabled, row.disabled_reason = False, ""

    def sources(self) -> dict[str, SourceRow]:
        with self.session() as s:
            return {r.name: r for r in s.scalars(select(SourceRow).order_by(SourceRow.name))}

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

    def update_source(self, name: str, *, owner: str = "", **values: object) -> bool:
        """Set a source's state. With ``owner``, only while that process still holds the source's lease,
        which this ends: a worker frozen past its lease, whose source another took over, records nothing."""
        with self.session() as s:
            row = s.scalars(select(SourceRow).where(SourceRow.name == name)).one()
            if owner:
                if row.lease_owner != owner:
                    log.warning("lease on source %s lost to %r; its result is not recorded", name, row.lease_owner)
                    return False
                row.lease_owner, row.lease_until = "", None
            for key, value in values.items():
                setattr(row, key, value)
        return True

    def update_sources(self, updates: Sequence[tuple[str, dict[str, object]]], *, owner: str = "") -> set[str]:
        """``update_source`` for many sources, ``UPDATE_BATCH`` to a transaction: the names recorded.

        A refresh where every source answers 304 writes only validators and due times; one transaction (so
        one commit, one fsync on SQLite) per source was most of its time at 1,000 sources, and the ORM's
        load-and-flush of each row most of the rest: here one SELECT of the leases and one executemany
        UPDATE per set of columns. The lease check is the same, row by row (and again in the UPDATE's
        WHERE): a source whose lease ``owner`` lost to another process is skipped.
        """
        table = SourceRow.__table__
        recorded: set[str] = set()
        for start in range(0, len(updates), UPDATE_BATCH):
            chunk = dict(updates[start : start + UPDATE_BATCH])
            with self.session() as s:
                rows = s.execute(
                    select(SourceRow.name, SourceRow.lease_owner).where(SourceRow.name.in_(list(chunk)))
                )
                holders = {name: holder for name, holder in rows}
                groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
                for name, values in chunk.items():
                    if name not in holders:
                        continue
                    if owner and holders[name] != owner:
                        log.warning("lease on source %s lost to %r; its result is not recorded", name, holders[name])
                        continue
                    groups.setdefault(tuple(sorted(values)), []).append({"_name": name, **values})
                    recorded.add(name)
                for params in groups.values():
                    stmt = update(table).where(table.c.name == bindparam("_name"))
                    if owner:  # the lease ends with the result, as in update_source
                        stmt = stmt.where(table.c.lease_owner == owner).values(lease_owner="", lease_until=None)
                    s.execute(stmt, params)
        return recorded

    # -- leases: one process fetches a source at a time ---------------------
    #
    # Every refresh (a worker's, the daemon's, one by hand) leases the sources it fetches to its owner name
    # (new_lease_owner) until a time it keeps pushing back while it lives (refresh._renewing). A lease ends
    # when the source's result is recorded (update_source), when the refresh ends (release_sources), when
    # its time is up (the owner died on another host, or froze), or at once when its owner is a process of
    # this host that no longer exists (killed with SIGKILL, say).

    def claim_sources(
        self, names: Iterable[str], owner: str, until: datetime, now: datetime
    ) -> tuple[list[str], dict[str, str]]:
        """Lease ``names`` to ``owner`` until ``until``, whatever their due time (a refresh by hand):
        (the names claimed, {name: owner} of those another live process holds).

        One write transaction. PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so a row another
        process is claiming at this moment counts as held by it instead of being waited for;
        SQLite: BEGIN IMMEDIATE lets one claimer in at a time.
        """
        wanted = sorted(set(names))
        claimed: list[str] = []
        held: dict[str, str] = {}
        with self.session() as s:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                stmt = (
                    select(SourceRow).where(SourceRow.name.in_(chunk)).order_by(SourceRow.name)
                    .with_for_update(skip_locked=True)
                )
                seen = set()
                for row in s.scalars(stmt):
                    seen.add(row.name)
                    taken = row.lease_owner not in ("", owner) and row.lease_until is not None and row.lease_until > now
                    if taken and lease_alive(row.lease_owner):
                        held[row.name] = row.lease_owner
                        continue
                    row.lease_owner, row.lease_until = owner, until
                    claimed.append(row.name)
                held.update((n, "a process claiming it now") for n in chunk if n not in seen)
        return claimed, held

    def claim_due(
        self, owner: str, names: Sequence[str], now: datetime, until: datetime, limit: int
    ) -> list[SourceRow]:
        """Lease to ``owner`` up to ``limit`` of the named sources that are due and that no live process holds,
        the longest-waiting first (a worker's claim).

        PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``, so workers claiming at the same moment get
        disjoint sources without waiting for each other; SQLite: BEGIN IMMEDIATE lets one in at a time.
        """
        claimed: list[SourceRow] = []
        with self.session() as s:
            dead = _dead_local_owners(s, now)
            free = [SourceRow.lease_until.is_(None), SourceRow.lease_until <= now]
            if dead:
                free.append(SourceRow.lease_owner.in_(dead))
            for start in range(0, len(names), _CHUNK):
                if len(claimed) >= limit:
                    break
                stmt = (
                    select(SourceRow)
                    .where(
                        SourceRow.name.in_(names[start : start + _CHUNK]),
                        SourceRow.disabled.is_(False),
                        SourceRow.paused.is_(False),
                        or_(SourceRow.next_due_at.is_(None), SourceRow.next_due_at <= now),
                        or_(SourceRow.retry_after_until.is_(None), SourceRow.retry_after_until <= now),
                        or_(*free),
                    )
                    .order_by(SourceRow.next_due_at.nulls_first(), SourceRow.id)
                    .limit(limit - len(claimed))
                    .with_for_update(skip_locked=True)
                )
                for row in s.scalars(stmt):
                    row.lease_owner, row.lease_until = owner, until
                    claimed.append(row)
        return claimed

    def renew_leases(self, owner: str, now: datetime, until: datetime) -> int:
        """Push back the leases ``owner`` still holds; one whose time is up is gone (another may have it)."""
        with self.session() as s:
            result = s.execute(
                update(SourceRow)
                .where(SourceRow.lease_owner == owner, SourceRow.lease_until > now)
                .values(lease_until=until)
            )
            return result.rowcount or 0

    def release_sources(self, owner: str, names: Iterable[str] | None = None) -> None:
        """Hand back ``owner``'s leases (only those on ``names`` if given)."""
        with self.session() as s:
            stmt = update(SourceRow).where(SourceRow.lease_owner == owner)
            if names is not None:
                stmt = stmt.where(SourceRow.name.in_(list(names)))
            s.execute(stmt.values(lease_owner="", lease_until=None))

    # -- hosts in backoff (429/503) -------------------------------------

    def host_backoffs(self, now: datetime) -> dict[str, HostRow]:
        """Hosts still in backoff at ``now`` (read only: the daemon asks on every tick)."""
        with self.session() as s:
            return {r.name: r for r in s.scalars(select(HostRow).where(HostRow.retry_after_until > now))}

    def set_host_backoff(self, host: str, until: datetime, reason: str) -> None:
        with self.session() as s:
            now = datetime.now(UTC)  # expired backoffs are dropped here, where we write anyway
            s.execute(delete(HostRow).where(HostRow.retry_after_until <= now, HostRow.name != host))
            # One statement, not read-then-insert: two workers may hear a 429 from one host at once.
            ins = _insert(s, HostRow).values(name=host, retry_after_until=until, reason=reason)
            s.execute(ins.on_conflict_do_update(
                index_elements=[HostRow.name],
                set_={"retry_after_until": ins.excluded.retry_after_until, "reason": ins.excluded.reason},
                where=HostRow.retry_after_until < ins.excluded.retry_after_until,
            ))

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
        queue_links: tuple[str, int] | None = None,
        raw_hashes: Mapping[str, str] | None = None,
        unchanged: Sequence[str] = (),
    ) -> IngestStats:
        """Store one source's entries, merging each new one into its story and
        linking it to related stories published within ``related_window`` seconds.

        On PostgreSQL two workers may be merging related articles at once: the
        transaction takes advisory locks on the entries' merge keys (see
        ``ingest_entries``), and one aborted as a deadlock victim simply runs again.
        """
        entries = list(entries)

        def work() -> IngestStats:
            with self.session() as s:
                row = s.scalars(select(SourceRow).where(SourceRow.name == source)).one()
                stats = ingest_entries(
                    s, row, entries, now, window_seconds, level, embed, related_window, full_texts, fingerprints,
                    queue_links, raw_hashes, unchanged,
                )
                if stats.new_articles or stats.updated_articles:
                    # The files published last no longer show everything (see published_signature).
                    s.execute(
                        update(FeedStateRow).where(FeedStateRow.name == LAST_PUBLISH).values(content_hash="")
                    )
                s.flush()
                testhooks.pause("ingest-commit")  # written, not yet committed: tests/test_crash.py kills here
                return stats

        return locks.with_retry(work)

    def write_links(self, owner: str, results: Sequence[tuple[str, list[dict]]]) -> int:
        """Write what a linker made (syndicator.store.linker) in one transaction; returns how many links."""
        if not results:
            return 0

        def work() -> int:
            with self.session() as s:
                return linker.write_links(s, owner, results)

        return locks.with_retry(work)

    def link_pending(self, owner: str, window_seconds: float, *, adopt: bool = False) -> tuple[int, int]:
        """Link here the articles ``owner`` queued for a linker that did not link them, and with ``adopt``
        first those queued by refreshes that hold no lease any more; returns (articles, links)."""
        window = timedelta(seconds=window_seconds)
        if adopt:
            with self.session() as s:
                adopted = linker.adopt(s, owner, datetime.now(UTC))
            if adopted:
                log.info("linking %d article(s) a stopped refresh stored", adopted)
        articles = links = 0
        while True:
            def work() -> tuple[int, int]:
                with self.session() as s:
                    return linker.link_pending(s, owner, window, datetime.now(UTC))

            done, made = locks.with_retry(work)
            if not done:
                return articles, links
            articles, links = articles + done, links + made

    def known(self, source: str, limit: int = 5000) -> tuple[dict[str, str], dict[str, str]]:
        """What the store holds of the source's newest ``limit`` articles (what a feed still holds): guid ->
        content hash, and item hash -> guid (``syndicator.parse.items``: the items not to parse again)."""
        with self.session() as s:
            rows = s.execute(
                select(ArticleRow.guid, ArticleRow.content_hash, ArticleRow.raw_hash)
                .join(SourceRow, SourceRow.id == ArticleRow.source_id)
                .where(SourceRow.name == source)
                .order_by(ArticleRow.published.desc())
                .limit(limit)
            )
            contents: dict[str, str] = {}
            items: dict[str, str] = {}
            for guid, digest, raw in rows:
                contents[guid] = digest
                if raw:
                    items[raw] = guid
            return contents, items

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

    def begin_publish(self, signature: str) -> None:
        """Note, before a publish reads the store, what the files it makes are made from besides the store;
        ``record_publish`` confirms it once every file is in place.

        Noted at the start, confirmed at the end, and the confirmation only holds if nothing cleared the note
        in between: an ingest committed while a publish ran must leave the signature cleared. Recorded at
        the end instead, it was set back, and the next refresh skipped publishing what that ingest stored
        (tests/test_workers.py lost its last stories so: four workers, one publishing while another stored).
        """
        with self.session() as s:
            if s.get(FeedStateRow, LAST_PUBLISH) is None:
                s.add(FeedStateRow(name=LAST_PUBLISH, content_hash="", updated=datetime.now(UTC)))
        with self.session() as s:
            s.execute(update(FeedStateRow).where(FeedStateRow.name == LAST_PUBLISH).values(
                content_hash=_PENDING + signature if signature else ""))

    def record_publish(self, when: datetime) -> None:
        """Stamp a publish (or a refresh that had nothing to publish) at ``when``, and confirm the signature
        its ``begin_publish`` noted if no ingest has cleared it since (one UPDATE: no read-then-write race)."""
        with self.session() as s:
            s.execute(update(FeedStateRow).where(FeedStateRow.name == LAST_PUBLISH).values(updated=when))
            s.execute(
                update(FeedStateRow)
                .where(FeedStateRow.name == LAST_PUBLISH, FeedStateRow.content_hash.startswith(_PENDING))
                .values(content_hash=func.substr(FeedStateRow.content_hash, len(_PENDING) + 1))
            )


def _dead_local_owners(s: Session, now: datetime) -> list[str]:
    """Owners of live-looking leases that are processes of this host which no longer exist."""
    mine = SourceRow.lease_owner.startswith(socket.gethostname() + ":", autoescape=True)
    owners = s.scalars(select(SourceRow.lease_owner).where(mine, SourceRow.lease_until > now).distinct())
    return [o for o in owners if not lease_alive(o)]


def _insert(s: Session, model: type = SourceRow):
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (SQLite and PostgreSQL alike)."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)
