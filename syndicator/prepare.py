"""Parse and fingerprint fetched documents on every core (a process pool), while the refresh stores others.

feedparser and the merge fingerprint are pure CPU work on one document at a time, and Python runs one thread
at a time: a refresh of many sources spent most of its time in them on one core while the other idled.
A pool of worker processes does that work; the refresh's own process keeps what needs the store (merging,
writing). The pool is started only when a refresh has enough documents to parse to pay for its start
(about a third of a second); fewer, and the refresh parses them itself as before.

A worker fingerprints only the entries that are new or changed (``known``: the stored content hashes of the
source's articles), so a feed with one new item among fifty costs one fingerprint, not fifty.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from syndicator import relate, similarity
from syndicator.errors import ParseError
from syndicator.model import FUTURE_SLACK, ParsedFeed, content_hash
from syndicator.subprocs import Pool

log = logging.getLogger(__name__)

# A refresh with fewer documents to parse than this parses them in its own process.
MIN_DOCUMENTS = 8


@dataclass
class Prepared:
    """One fetched document, parsed (or why not), and fingerprints of its new or changed entries by guid."""

    parsed: ParsedFeed | None
    error: str = ""
    fingerprints: dict[str, similarity.Fingerprint] = field(default_factory=dict)


def prepare(
    body: bytes, url: str, content_type: str, strip_tracking_pixels: bool, source: str,
    known: dict[str, str], now: datetime, known_items: dict[str, str] | None = None,
) -> Prepared:
    """Parse a document and fingerprint the entries whose content hash is not in ``known`` (guid -> hash).

    ``known_items`` (item hash -> guid): the items sent as stored, left out of the parse
    (syndicator.parse.items).

    A fingerprint is made with the date a new article would be stored with; the store checks that date and
    makes the fingerprint again itself when it differs (an article stored earlier keeps its first date).
    """
    from syndicator.parse import parse_document  # here: a refresh where every source answered 304 parses nothing

    try:
        parsed = parse_document(body, url, content_type, strip_tracking_pixels=strip_tracking_pixels,
                                known_items=known_items)
    except ParseError as exc:
        return Prepared(None, str(exc))
    fps = {}
    for e in parsed.entries:
        if known.get(e.guid) == content_hash(e):
            continue
        published = min(e.published or now, now + FUTURE_SLACK)
        fp = similarity.fingerprint(similarity.Doc(e.title, e.text, e.url, published, source, None))
        # Its index keys too (1.4 ms an item, the store asks for them), its related-story profile and compact,
        # and what merging and the same-event check derive from it: they travel memoised on the fingerprint
        # (unpickled in microseconds where they took a millisecond to make); the larger word sets they were
        # made from are left behind.
        # computed for their memo (not inside an assert: python -O would skip it)
        similarity.index_keys(fp, "article"), similarity.index_keys(fp, "event"), relate.index_keys(fp)
        relate.compact(fp)
        derived = similarity.derive_for_store(fp)
        memo = fp.__dict__.get("_memo", {})
        object.__setattr__(fp, "_memo", {k: memo[k] for k in (*_SHIPPED, *derived) if k in memo})
        fps[e.guid] = fp
    return Prepared(parsed, "", fps)


_SHIPPED = ("keys:article", "keys:event", "relate_keys", "relate_profile", "relate_compact")
# Everything a worker ships on a fingerprint (syndicator.store.linker ships on what linking reads of it).
SHIPPED = (*_SHIPPED, *similarity.STORE_DERIVED)


class Preparer:
    """A process pool started on the first document once ``expected`` says there will be enough of them."""

    def __init__(self, expected: int, *, reserve: int = 0) -> None:
        """``reserve``: cores left to other processes of the refresh (its linking process), not to workers."""
        cores = os.cpu_count() or 1
        self.enabled = expected >= MIN_DOCUMENTS and cores > 1
        # One worker per core but the reserved ones, at least one. With a linker beside the refresh, parsing is
        # the smallest of the three shares of the work (200 x 50 cold: 35 CPU s against 75 for the refresh and
        # 82 for the linker, bench/scale_run.py's per-process figures), and a second worker on a two-core
        # machine only took turns with the other two, while it held 40 MB: one worker, 0.92x the wall time.
        self.workers = max(1, cores - reserve)
        self._pool: Pool | None = None

    def submit(self, *args: object) -> Future[Prepared]:
        if self._pool is None:
            # New processes, not forks: the fetch threads are running, and a forked child could inherit a lock
            # one of them holds. Not multiprocessing's "spawn": its resource tracker is a process of 13 MB
            # that our pipes do not need (syndicator.subprocs).
            self._pool = Pool(self.workers, initializer=_start_worker, initargs=(os.getpid(),),
                              name="syndicator-parse")
        return self._pool.submit(prepare, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def _start_worker(parent: int) -> None:
    """A worker's first act: leave when the refresh that started it is gone, and leave SIGINT to it.

    A refresh killed by SIGKILL (the OOM killer, a supervisor's timeout) runs no clean-up, and its workers,
    blocked on a task queue whose writing end they hold themselves, would wait forever: orphans seen after
    killing a 200 x 50 benchmark refresh (tests/test_prepare_pool.py).
    """
    import signal
    import threading
    import time

    # Ctrl-C in a terminal signals the whole process group: the refresh decides what to do (syndicator.cli
    # stops after the source it is storing, then shuts the pool down); a worker's KeyboardInterrupt would only
    # print a traceback per worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()

