"""Related-story links made beside the store: a large refresh links its new articles in a process of its own.

Linking a new article (:mod:`syndicator.store.related`) was more than half of the store's work in a large
refresh (py-spy, bench/scale_replay.py 200 x 50: linking 42.7% of the samples, placing 16.7%), all of it in the
refresh's own process while its pool of parse workers left the second core mostly idle. Placing an article
in its story never reads links, so its links can be made a little later, by another process, from what the
store holds:

- the transaction that stores a source's articles queues each new or changed one (``pending_links``: the
  refresh's lease owner and ``seq``, the order they were stored in) instead of linking it; once it has
  committed, the refresh sends their fingerprints to the linker (:class:`Linker`);
- the linker reads the store in snapshots of its own (it never writes: on SQLite it takes no write lock, so it
  never waits for the store nor makes it wait) and links each article to the articles stored before it: one
  of this refresh's queued articles with a later ``seq`` is newer and links to it in its turn, as it did when
  each source was linked in its own transaction. Links it made that the refresh has not written yet are laid
  over what it reads of the store (:func:`syndicator.linking.subjects_of`);
- the refresh writes the rows it gets back, and takes their articles out of the queue, in one transaction
  (:func:`write_links`).

One difference from linking in the storing transaction: a candidate's story is read when the linker gets to
it, a few sources later, so a candidate that a later article merged into this article's story meanwhile is
not linked (published links never point into the story itself anyway).

A refresh stopped or killed leaves its articles queued, never half-linked: the next refresh adopts the queue
of every owner that holds no lease and links it first, in its own process (:func:`link_pending`), as it does
its own queue when its linker fails.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import queue
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from syndicator import linking, similarity, subprocs
from syndicator.linking import Queued, Result, link_batch, subjects_of  # noqa: F401 (linker.X for the store)
from syndicator.similarity import Fingerprint
from syndicator.store import db, related, sql
from syndicator.store.schema import ArticleLinkRow, FeedStateRow, PendingLinkRow, SourceRow

log = logging.getLogger(__name__)

# Batches (one a source) sent to the linker and not yet linked, at most: beyond it the refresh waits for the
# linker, so that the fingerprints waiting for it stay a few MB (one batch of 50 pickles to about 2 MB).
MAX_BEHIND = 4
# An article's seq: its batch's number times this, plus its place in the batch.
BATCH_SEQ = 1 << 20
# Queued articles linked per transaction by link_pending.
PENDING_CHUNK = 100
# What the linker reads of a fingerprint's memoised values: its related-story keys, profile and compact, and
# what the same-event check derives (body hashes, event vectors). Not the merge index keys, written already by
# the storing transaction: shipped, they were 4.5 KB of each of the linker's cached fingerprints (1,024 then).
SHIPPED = ("relate_keys", "relate_profile", "relate_compact", *similarity.STORE_DERIVED)


def shipped(fp: Fingerprint) -> Fingerprint:
    """A copy of ``fp`` that carries to the linker what it reads (SHIPPED), not the larger sets its merge was
    made from; the store's cached fingerprint is left as it is."""
    out = copy.copy(fp)
    memo = fp.__dict__.get("_memo", {})
    object.__setattr__(out, "_memo", {k: memo[k] for k in SHIPPED if k in memo})
    return out


class Linker:
    """The linking process of one refresh: :meth:`submit` a committed batch, :meth:`take` the links made."""

    def __init__(self, url: str, window_seconds: float, owner: str) -> None:
        self.owner = owner
        self._args = (url, db.sqlite_path(url), window_seconds, owner)
        self._proc = None  # started with the first batch: a refresh where nothing is new starts none
        self._batches = 0  # numbered from 1, by next_seq
        self._sent = 0
        self._answered = 0
        self.failed = ""  # why the linker stopped linking; what it did not link stays queued
        self.waited = 0.0  # seconds the refresh waited for it (MAX_BEHIND): which side is the slower

    def next_seq(self) -> int:
        """The seq of the next batch's first article (the store queues them before they are sent)."""
        self._batches += 1
        return self._batches * BATCH_SEQ

    def submit(self, queued: Sequence[Queued], now: datetime) -> None:
        if queued and not self.failed:
            if self._proc is None:
                # a new process, as the parse pool's (syndicator.prepare, syndicator.subprocs): the fetch threads
                # are running. linking.serve imports syndicator.linking, not SQLAlchemy (on SQLite).
                self._proc = subprocs.Child(linking.serve, (*self._args, os.getpid()), name="syndicator-linker")
            self._proc.put((list(queued), now))
            self._sent += 1

    @property
    def behind(self) -> int:
        return self._sent - self._answered

    def take(self, *, behind: int = MAX_BEHIND) -> list[Result]:
        """The links made so far; waits until at most ``behind`` batches are left to link (0: all)."""
        out: list[Result] = []
        while self.behind and not self.failed:
            must = self.behind > behind
            started = time.monotonic()
            try:
                msg = self._proc.get(timeout=1.0) if must else self._proc.get_nowait()
            except queue.Empty:
                self.waited += time.monotonic() - started
                if not must:
                    break
                if not self._proc.is_alive():
                    self._fail(f"the linking process ended (exit code {self._proc.exitcode})")
                continue
            except (EOFError, OSError):  # it closed its end: it ended
                self._proc.join(timeout=1.0)
                self._fail(f"the linking process ended (exit code {self._proc.exitcode})")
                break
            self.waited += time.monotonic() - started
            if msg[0] == "error":
                self._fail(msg[1])
                break
            self._answered += 1
            out += msg[1]
        return out

    def close(self) -> None:
        """Stop the process; what it has not linked stays queued (link_pending). With batches not linked (a
        refresh stopped by a signal, or an error) it is killed: their links are not going to be written."""
        if self._proc is None:
            return
        if self.behind and self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        if self._proc.is_alive():
            try:
                self._proc.put(None)
                self._farewell()
            except (OSError, ValueError, EOFError):
                pass
            self._proc.join(timeout=5.0)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
        self._proc.close()  # batches never sent must not hold this process at exit

    def _farewell(self) -> None:
        """The linker's last word after a clean stop: what it linked and its peak RSS (for the benchmarks, which
        time the refresh's process and see only the largest one's peak)."""
        while True:
            try:
                msg = self._proc.get(timeout=5.0)
            except queue.Empty:
                return
            if msg[0] == "bye":
                log.info("linked %d article(s) in a process of its own (peak RSS %.0f MB; the refresh waited %.1f s "
                         "for it)", msg[1], msg[2] / 1024, self.waited,
                         extra={"event": "linker", "articles": msg[1], "peak_rss_kb": msg[2],
                                "waited": round(self.waited, 3)})
                return

    def _fail(self, why: str) -> None:
        self.failed = why.strip().splitlines()[-1] if why.strip() else "unknown error"
        log.error("related-story linking process failed, linking in this process instead: %s", why.strip())
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


def write_links(s: Session, owner: str, results: Iterable[Result]) -> int:
    """Write the links of ``results`` and take their articles out of ``owner``'s queue; returns how many
    links. An article no longer queued by ``owner`` (deleted, or adopted by another refresh) is skipped."""
    results = list(results)
    queued: set[str] = set()
    ids = [aid for aid, _ in results]
    for start in range(0, len(ids), 500):
        queued.update(s.scalars(sql.QUEUED_OF, {"owner": owner, "ids": ids[start:start + 500]}))
    mine = [(aid, rows) for aid, rows in results if aid in queued]
    if _at_once(mine):
        # One DELETE and one INSERT for the batch, not two statements an article: an executemany an article was
        # two thirds of writing the links, 18% of a warm-incremental refresh's own process (py-spy,
        # bench/scale_run.py 200 x 50; docs/benchmarks.md section 26).
        done_ids = [aid for aid, _ in mine]
        for start in range(0, len(done_ids), 500):
            chunk = done_ids[start:start + 500]
            s.execute(sql.DELETE_LINKS_OF, {"ids": chunk, "ids_b": chunk})
        _insert_rows(s, [r for _, rows in mine for r in rows])
    else:
        for aid, rows in mine:
            s.execute(sql.DELETE_LINKS, {"article_id": aid})
            _insert_rows(s, rows)
    count = sum(len(rows) for _, rows in mine)
    done = sorted(queued)
    for start in range(0, len(done), 500):
        s.execute(delete(PendingLinkRow).where(PendingLinkRow.article_id.in_(done[start:start + 500])))
    if done:
        _unpublished(s)
    return count


def _at_once(results: Sequence[Result]) -> bool:
    """Whether deleting every article's old links first, then inserting all the new rows, writes what writing
    them one article after another does: no article comes twice, and no article's rows name one written after
    it (whose delete would have taken that row away again). A linker links each article to those stored before
    it, so this holds but for an article queued again meanwhile."""
    later: set[str] = set()
    for aid, rows in reversed(results):
        if aid in later or any(r["article_id"] in later or r["other_id"] in later for r in rows):
            return False
        later.add(aid)
    return True


def _insert_rows(s: Session, rows: list[dict]) -> None:
    """INSERT link rows, skipping a pair another worker wrote meanwhile (PostgreSQL: two refreshes linking two
    related articles to each other at once). On SQLite through the driver, with the values as SQLAlchemy's
    types would store them (``reason`` as ``json.dumps`` of it, ``created_at`` as naive UTC text): their bind
    processing per row was a third of the executemany (py-spy, as above)."""
    if not rows:
        return
    if s.get_bind().dialect.name != "sqlite":
        from sqlalchemy.dialects.postgresql import insert

        s.execute(insert(ArticleLinkRow.__table__).on_conflict_do_nothing(), rows)
        return
    when: dict[datetime, str] = {}
    values = []
    for r in rows:
        at = r["created_at"]
        text = when.get(at)
        if text is None:
            text = when[at] = linking.sqlite_datetime(at)
        values.append((r["article_id"], r["other_id"], r["score"], json.dumps(r["reason"]), text))
    s.connection().exec_driver_sql(_SQLITE_INSERT, values)


_SQLITE_INSERT = (
    "INSERT INTO article_links (article_id, other_id, score, reason, created_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


def queue_articles(s: Session, owner: str, seq: int, article_ids: Sequence[str], now: datetime) -> None:
    """Queue stored articles for linking, in this order from ``seq`` on (an article queued before is queued again)."""
    for start in range(0, len(article_ids), 500):
        s.execute(delete(PendingLinkRow).where(PendingLinkRow.article_id.in_(article_ids[start:start + 500])))
    if article_ids:
        s.execute(PendingLinkRow.__table__.insert(), [
            {"article_id": aid, "owner": owner, "seq": seq + n, "queued_at": now} for n, aid in enumerate(article_ids)
        ])


def adopt(s: Session, owner: str, now: datetime) -> int:
    """Make ``owner``'s the articles queued by refreshes that hold no lease any more (stopped or killed)."""
    live = select(SourceRow.lease_owner).where(SourceRow.lease_until > now, SourceRow.lease_owner != "")
    result = s.execute(
        update(PendingLinkRow)
        .where(PendingLinkRow.owner != owner, PendingLinkRow.owner.not_in(live))
        .values(owner=owner)
    )
    return result.rowcount or 0


def link_pending(s: Session, owner: str, window: timedelta, now: datetime) -> tuple[int, int]:
    """Link up to PENDING_CHUNK of ``owner``'s queued articles here, the first stored first, each from its stored
    fingerprint; returns (articles linked, links)."""
    pending = dict(s.execute(sql.PENDING_OF, {"owner": owner}).all())
    first = sorted(pending, key=pending.__getitem__)[:PENDING_CHUNK]
    if not first:
        return 0, 0
    rows = {r.id: r for r in s.execute(sql.LINKED_ROWS, {"ids": first}).all()}
    keys = {aid: (aid, f"{r.content_hash}:{r.full_text_status or ''}") for aid, r in rows.items()}
    fps = related.fingerprints(s, list(keys.values()))
    results: list[Result] = []
    for aid in first:
        fp = fps.get(keys[aid]) if aid in keys else None
        if fp is None:
            continue  # deleted meanwhile (the queue row went with it)
        newer = {a for a, seq in pending.items() if seq > pending[aid]}
        links = related.links_for(s, rows[aid], fp, window, now, newer=newer,
                                  subjects=lambda ids: subjects_of(s, results, ids))
        results.append((aid, links))
    links_written = write_links(s, owner, results)
    # one without a fingerprint (stored before fingerprints were) has nothing to be linked by
    s.execute(delete(PendingLinkRow).where(PendingLinkRow.article_id.in_(first)))
    return len(first), links_written


def _unpublished(s: Session) -> None:
    """The files published last no longer show every link (see Store.published_signature)."""
    from syndicator.store import LAST_PUBLISH

    s.execute(update(FeedStateRow).where(FeedStateRow.name == LAST_PUBLISH).values(content_hash=""))
