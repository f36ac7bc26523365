"""Linking a stored article to related ones: the store's reads, the caches, and the linking process.

What :func:`links_for` reads of the store goes through :class:`Reads`, one method taking a query's name: a
Session runs the Core statement of that name (:mod:`syndicator.store.sql`), and a linking process on a SQLite
store runs the same SQL through the standard library's ``sqlite3`` (:class:`SqliteReads`), as the merge of a new
article does on its storing transaction's own connection (``syndicator.store.ingest._reads``). Nothing here imports
SQLAlchemy, so the linking process need not: ``import sqlalchemy`` alone is 27 MB of RSS, and the whole
``syndicator.store`` package ~41 MB over a bare interpreter, in a process that peaked at 183 MB at 1,000 x 50
(docs/benchmarks.md section 22). On PostgreSQL it uses a Session, as the refresh does.

Incremental: a new article is compared with the articles that share one of its ``r:`` keys
(:func:`syndicator.relate.index_keys`, stored in the merge index's ``article_keys`` table) within the window,
never with a scan of the store. A key that very many articles in the window carry still yields only the
postings nearest in time, so the cost per article stays flat however common a word becomes in the stream.
"""

from __future__ import annotations

import json
import os
import sqlite3
import traceback
from collections import Counter, OrderedDict
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from syndicator import relate, similarity
from syndicator.similarity import Fingerprint

# Postings read per key: the nearest in time when a key is more common than this.
MAX_POSTINGS_PER_KEY = 200
# Articles scored per new article, those sharing the most informative keys first.
MAX_CANDIDATES = 60
# Links of a new article checked for "same event" (which ranks them first), the best first.
EVENT_CHECKS = 8
# SQLite: the size of the store's WAL file past which the linker checkpoints it and starts it again, between two
# batches. SQLite starts a WAL file again only when no reader is in it, and the linker is in a read transaction
# nearly all the time: the WAL grew to 4.4 GB in the first two minutes of a 1,000 x 50 cold refresh.
WAL_RESTART_BYTES = 256 << 20
SQLITE_BUSY_TIMEOUT_S = 60.0  # as syndicator.store.db's

Result = tuple[str, list[dict]]  # an article's id and its link rows, one a link


# -- the store's reads --------------------------------------------------------------------------------------------


class Reads(Protocol):
    """Runs one of the linking queries by name (see SQLITE_SQL) and returns its rows as tuples."""

    def rows(self, name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]: ...


class SessionReads:
    """The queries as the Core statements of :mod:`syndicator.store.sql`, run by a SQLAlchemy Session."""

    def __init__(self, session: Any) -> None:
        from syndicator.store import sql  # a process that has a Session has SQLAlchemy already

        self.session, self._sql = session, sql

    def rows(self, name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        return self.session.execute(getattr(self._sql, name), params).all()


def reads_of(db: Any) -> Reads:
    """``db`` itself when it is a :class:`Reads`, else ``db`` is a Session."""
    return db if hasattr(db, "rows") else SessionReads(db)


# The SQL that SQLAlchemy renders for the statements of the same names in syndicator.store.sql on SQLite
# (tests/test_linking.py compares the two texts and the rows both give), with ``{name}`` where an IN list's
# values go. JSON paths as SQLAlchemy's SQLite dialect binds them.
SQLITE_SQL = {
    "PENDING_OF": "SELECT pending_links.article_id, pending_links.seq FROM pending_links "
                  "WHERE pending_links.owner = :owner",
    "LINKED_ROWS": "SELECT articles.id, articles.story_id, articles.published, articles.content_hash, "
                   "articles.full_text_status FROM articles WHERE articles.id IN ({ids})",
    "KEY_COUNTS": 'SELECT article_keys."key", count(*) AS count_1 FROM article_keys '
                  'WHERE article_keys."key" IN ({keys}) AND article_keys.published BETWEEN :lo AND :hi '
                  'GROUP BY article_keys."key"',
    "KEY_POSTINGS": 'SELECT article_keys.article_id, article_keys."key" FROM article_keys '
                    'WHERE article_keys."key" IN ({keys}) AND article_keys.published BETWEEN :lo AND :hi',
    "NEAREST_BEFORE": 'SELECT article_keys.article_id FROM article_keys '
                      'WHERE article_keys."key" = :key AND article_keys.published BETWEEN :lo AND :at '
                      'ORDER BY article_keys.published DESC LIMIT :n OFFSET 0',
    "NEAREST_AFTER": 'SELECT article_keys.article_id FROM article_keys '
                     'WHERE article_keys."key" = :key AND article_keys.published > :at '
                     'AND article_keys.published <= :hi ORDER BY article_keys.published LIMIT :n OFFSET 0',
    "RELATED_CANDIDATES": "SELECT articles.id, articles.story_id, articles.content_hash, articles.full_text_status "
                          "FROM articles WHERE articles.id IN ({ids})",
    "COMPACTS": "SELECT articles.id, articles.content_hash, articles.full_text_status, articles.relate_compact "
                "FROM articles WHERE articles.id IN ({ids})",
    "FINGERPRINTS": "SELECT articles.id, articles.content_hash, articles.full_text_status, articles.fingerprint, "
                    "articles.merge_sketch FROM articles WHERE articles.id IN ({ids})",
    # what merging a new article reads (syndicator.store.ingest), on its storing transaction's own connection
    "KEY_POSTINGS_AT": 'SELECT article_keys.article_id, article_keys."key", article_keys.published FROM article_keys '
                       'WHERE article_keys."key" IN ({keys}) AND article_keys.published BETWEEN :lo AND :hi',
    "MERGE_CANDIDATES": "SELECT articles.id, articles.story_id, stories.created_at, articles.content_hash, "
                        "articles.full_text_status, articles.source_id, articles.published, articles.canonical_url, "
                        "articles.merge_sketch FROM articles JOIN stories ON stories.id = articles.story_id "
                        "WHERE articles.id IN ({ids})",
    "SAME_URL": "SELECT articles.id FROM articles WHERE articles.canonical_url = :url LIMIT 50 OFFSET 0",
    "SHARED_KEYS": "SELECT article_keys.article_id, count(*) AS count_1 FROM article_keys "
                   'WHERE article_keys.article_id IN ({ids}) AND article_keys."key" IN ({keys}) '
                   "GROUP BY article_keys.article_id",
    "SAME_BODY": "SELECT count(*) AS count_1 FROM articles WHERE articles.source_id = :source_id "
                 "AND articles.published BETWEEN :lo AND :hi AND articles.body_hash = :body_hash",
    # a link is one row, its articles in either column: each article's links are those of both
    "LINK_SUBJECT_PAIRS": "SELECT article_links.article_id, article_links.other_id, "
                          "CAST(JSON_EXTRACT(article_links.reason, '$.\"kind\"') AS VARCHAR) AS anon_1, "
                          "CAST(JSON_EXTRACT(article_links.reason, '$.\"shared\"[0]') AS VARCHAR) AS anon_2 "
                          "FROM article_links WHERE article_links.article_id IN ({ids}) UNION ALL "
                          "SELECT article_links.other_id, article_links.article_id, "
                          "CAST(JSON_EXTRACT(article_links.reason, '$.\"kind\"') AS VARCHAR) AS anon_1, "
                          "CAST(JSON_EXTRACT(article_links.reason, '$.\"shared\"[0]') AS VARCHAR) AS anon_2 "
                          "FROM article_links WHERE article_links.other_id IN ({ids})",
    "LINK_SUBJECTS": "SELECT article_links.article_id, "
                     "CAST(JSON_EXTRACT(article_links.reason, '$.\"kind\"') AS VARCHAR) AS anon_1, "
                     "CAST(JSON_EXTRACT(article_links.reason, '$.\"shared\"[0]') AS VARCHAR) AS anon_2 "
                     "FROM article_links WHERE article_links.article_id IN ({ids}) UNION ALL "
                     "SELECT article_links.other_id, "
                     "CAST(JSON_EXTRACT(article_links.reason, '$.\"kind\"') AS VARCHAR) AS anon_1, "
                     "CAST(JSON_EXTRACT(article_links.reason, '$.\"shared\"[0]') AS VARCHAR) AS anon_2 "
                     "FROM article_links WHERE article_links.other_id IN ({ids})",
}
# The columns of a query that SQLAlchemy's types convert on the way out (UTCDateTime, JSON): their places, how.
_CONVERTED = {
    "LINKED_ROWS": ((2, "datetime"),), "FINGERPRINTS": ((3, "json"),), "KEY_POSTINGS_AT": ((2, "datetime"),),
    "MERGE_CANDIDATES": ((2, "datetime"), (6, "datetime")),
}


def sqlite_datetime(value: datetime) -> str:
    """A datetime as the store's UTCDateTime column holds it on SQLite (naive UTC, SQLAlchemy's format)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; use aware UTC")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteReads:
    """The queries run through ``sqlite3`` on a connection of the linking process's own: the same SQL, the
    same values in and out as through SQLAlchemy (aware UTC datetimes, decoded JSON)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        text, bound = SQLITE_SQL[name], {}
        lists = {}
        for key, value in params.items():
            if isinstance(value, (list, tuple)):
                lists[key] = ", ".join(f":{key}_{n}" for n in range(len(value)))
                bound.update((f"{key}_{n}", v) for n, v in enumerate(value))
            else:
                bound[key] = sqlite_datetime(value) if isinstance(value, datetime) else value
        if lists:
            text = text.format(**lists)
        rows = self.conn.execute(text, bound).fetchall()
        for at, how in _CONVERTED.get(name, ()):
            convert = _from_sqlite_datetime if how == "datetime" else json.loads
            rows = [(*r[:at], None if r[at] is None else convert(r[at]), *r[at + 1:]) for r in rows]
        return rows


def _from_sqlite_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def connect_sqlite(path: str) -> sqlite3.Connection:
    """A reading connection to the SQLite store at ``path``, set up as syndicator.store.db's reader engine: no
    implicit transactions (the caller's BEGIN takes a WAL snapshot at its first read), the same busy timeout."""
    conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    # fetchall: a statement not stepped to its end holds a read lock, and the WAL could not start again
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}").fetchall()
    return conn


# -- linking one article ----------------------------------------------------------------------------------------


class Linked(Protocol):
    """What linking reads of the new article's row (an ArticleRow, or the linker's copy of one)."""

    id: str
    story_id: str
    published: datetime


@dataclass(frozen=True)
class LinkedRow:
    """sql.LINKED_ROWS's columns of an article queued for linking."""

    id: str
    story_id: str
    published: datetime
    content_hash: str
    full_text_status: str | None


Subjects = Callable[[list[str]], Iterable[tuple[str, str | None, str | None]]]


def links_for(
    db: Any, row: Linked, fp: Fingerprint, window: timedelta, now: datetime, *,
    newer: Container[str] = frozenset(), subjects: Subjects | None = None,
) -> list[dict]:
    """The link rows of one stored article, one a link (written by the caller), read from the store (``db``: a
    :class:`Reads` or a Session).

    ``newer``: articles stored after this one, which a linker running behind the store can see; never
    candidates, they link to this one in their turn. ``subjects``: (article id, kind, first shared word) of the
    stored links of some articles (``sql.LINK_SUBJECTS``), for a linker whose own links are not all written.
    """
    keys = sorted(relate.index_keys(fp))
    if not keys or window.total_seconds() <= 0:
        return []
    db = reads_of(db)
    lo, hi = row.published - window, row.published + window
    counts = dict(db.rows("KEY_COUNTS", {"keys": keys, "lo": lo, "hi": hi}))
    shared: Counter[str] = Counter()  # article id -> idf mass of the keys it shares
    weight = {k: similarity.idf(k[len(relate.KEY_PREFIX):]) for k in keys}  # once a key, not once a posting
    small = [k for k in keys if 0 < counts.get(k, 0) <= MAX_POSTINGS_PER_KEY]
    if small:
        # one fetchall, not a fetchone per row (thousands of postings an article)
        for aid, key in db.rows("KEY_POSTINGS", {"keys": small, "lo": lo, "hi": hi}):
            shared[aid] += weight[key]
    for key in (k for k in keys if counts.get(k, 0) > MAX_POSTINGS_PER_KEY):
        for aid in _nearest_postings(db, key, row.published, lo, hi):
            shared[aid] += weight[key]
    shared.pop(row.id, None)
    if newer:
        for aid in [a for a in shared if a in newer]:
            del shared[aid]
    if not shared:
        return []
    ranked = [aid for aid, _ in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0]))[: 2 * MAX_CANDIDATES]]
    # The stored fingerprint is only read when the cache has no profile for this version of the article.
    order = {aid: n for n, aid in enumerate(ranked)}
    cands = sorted((c for c in db.rows("RELATED_CANDIDATES", {"ids": ranked}) if c[1] != row.story_id),
                   key=lambda c: order[c[0]])
    keep = set(relate.shortlist([(c[0], shared[c[0]]) for c in cands], MAX_CANDIDATES, 2 * MAX_CANDIDATES))
    # a page's full text, fetched later, changes the fingerprint but not the content hash
    keyed = [(cid, (cid, f"{digest}:{status}")) for cid, _story, digest, status in cands if cid in keep]
    comps = compacts(db, [key for _, key in keyed])
    mine, me = relate.profile(fp), relate.compact(fp)
    found, tentative = [], []
    for cid, key in keyed:
        other = comps.get(key)
        if other is None:
            continue
        link, weak = relate.assess(me, mine, other)  # most of the 60 candidates stop at its cheap bound
        if link is not None:
            (tentative if weak else found).append((link, cid, key))
    # The same-event check costs as much as all the rest: only the best links can use it to rank higher
    # (ECB+ dev half: 7,016 comparisons for 496 articles, half of the refresh's time, before this limit).
    found.sort(key=lambda f: (-f[0].score, f[1]))
    # the full fingerprints, for these few only (from the cache, or decoded)
    full = fingerprints(db, [key for _, _, key in found[:EVENT_CHECKS]])
    for n, (link, other_id, key) in enumerate(found[:EVENT_CHECKS]):
        if key in full:
            found[n] = (relate.with_event(link, fp, full[key]), other_id, key)
    if tentative:
        # a name common in this stream is no name (the postings counts of this article's keys are at hand)
        tentative = [t for t in tentative if t[0].kind != relate.NAME_KIND
                     or counts.get(relate.KEY_PREFIX + t[0].shared[0], 0) <= relate.NAME_MAX_POSTINGS]
        if subjects is None:
            def subjects(ids: list[str]) -> Iterable[tuple[str, str | None, str | None]]:
                return db.rows("LINK_SUBJECTS", {"ids": ids})
        found += _supported(subjects, [link for link, _, _ in found], tentative)
    rows = []
    for link, other_id, _ in found:
        # One row a link, the lesser id first: a link is symmetric, and writing it both ways was 19% of a
        # refresh's storing process, the rows with their indexes 71 of a 189 MB store (py-spy, bench/scale_run.py
        # 200 x 50; bench/scale_replay.py 80 x 50: docs/benchmarks.md section 25). The order makes the two
        # refreshes that link two new articles to each other at once write one row.
        a, b = (row.id, other_id) if row.id < other_id else (other_id, row.id)
        rows.append({"article_id": a, "other_id": b, "score": link.score, "reason": link.reason(),
                     "created_at": now})
    return rows


def _supported(subjects: Subjects, links: list[relate.Link], tentative: list) -> list:
    """The tentative links (:func:`syndicator.relate.tentative`) whose word the stream shows to name a
    subject: the heaviest shared word of at least ``relate.SUBJECT_SUPPORT`` links of either article
    (this article's new links, the other's stored ones)."""
    mine = Counter(w for ln in links if (w := relate.subject_word(ln.reason())) is not None)
    theirs: dict[str, Counter[str]] = {}
    for aid, kind, first in subjects(sorted({oid for _, oid, _ in tentative})):
        reason = {"kind": kind, "shared": [first]} if first is not None else {}  # all subject_word reads
        if (w := relate.subject_word(reason)) is not None:
            theirs.setdefault(aid, Counter())[w] += 1
    return [
        (link, oid, other) for link, oid, other in tentative
        if mine[link.shared[0]] + theirs.get(oid, Counter())[link.shared[0]] >= relate.SUBJECT_SUPPORT
    ]


def _nearest_postings(db: Reads, key: str, at: datetime, lo: datetime, hi: datetime) -> list[str]:
    params = {"key": key, "lo": lo, "at": at, "hi": hi, "n": MAX_POSTINGS_PER_KEY // 2}
    return [r[0] for name in ("NEAREST_BEFORE", "NEAREST_AFTER") for r in db.rows(name, params)]


# -- the caches ---------------------------------------------------------------------------------------------------


class _Cache:
    """A bounded LRU of values by (article id, "content hash:full-text status"), with an index by article id:
    ``forget`` runs for every article written, and scanning the whole cache for it was 2% of a cold refresh
    (py-spy, bench/scale_replay.py 40 x 50)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[str, str], object] = OrderedDict()
        # article id -> its key, or a set of its keys when it has several (rare: a set for each was 250 of the
        # ~4.7 KB a cached compact took, tracemalloc)
        self.ids: dict[str, tuple[str, str] | set[tuple[str, str]]] = {}

    def get(self, key: tuple[str, str]):  # the value's type is the cache's
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key: tuple[str, str], value: object) -> None:
        self.entries[key] = value
        self.entries.move_to_end(key)
        have = self.ids.get(key[0])
        if have is None:
            self.ids[key[0]] = key
        elif isinstance(have, set):
            have.add(key)
        elif have != key:
            self.ids[key[0]] = {have, key}

    def trim(self) -> None:
        while len(self.entries) > self.size:
            key, _ = self.entries.popitem(last=False)
            have = self.ids.get(key[0])
            if isinstance(have, set):
                have.discard(key)
                if len(have) == 1:
                    self.ids[key[0]] = next(iter(have))
            elif have == key:
                del self.ids[key[0]]

    def forget(self, article_id: str) -> None:
        have = self.ids.pop(article_id, None)
        for key in have if isinstance(have, set) else () if have is None else (have,):
            self.entries.pop(key, None)

    def clear(self) -> None:
        self.entries.clear()
        self.ids.clear()


# Decoded fingerprints of recent articles, by (article id, "content hash:full-text status"), shared by merging
# (candidates) and linking (the same-event check of the best links), so that each is decoded and analysed once
# (the word sets and profile memoised on it, see similarity._derived): a fingerprint is rewritten only when the
# entry's content changes or its page is (re)fetched, which changes one of the two, so an entry is never stale,
# even with other processes writing the same database; ``forget`` drops an article's entries when this process
# rewrites it. The same stored articles are candidates of many new ones (popular headline words); decoding their
# JSON and rebuilding their word sets for each was most of a cold refresh's time (py-spy, bench/scale_run.py
# 40 x 50). Bounded: a cached fingerprint with its memoised sets takes about 80 KB (docs/benchmarks.md); 1,024
# of them since linking reads candidates from the compact cache below: peak RSS of a 200 x 50 cold refresh
# 342 -> 281 MB, same time (was 1,536: docs/bench_relate_cache.md).
FP_CACHE_SIZE = 1024
_FP_CACHE = _Cache(FP_CACHE_SIZE)
# The linking process's own: it reads full fingerprints only for the same-event check of each new article's
# best 8 links, spread over the whole window, so most are not among the last 1,024 anyway (37% hits at 200 x 50
# cold; 10.5% with 256, 5.9% with 128: 3,450 more decodes of ~0.5 ms in a 140 CPU s linker), and each entry it
# keeps, event vector included, is ~31.5 KB: 128 entries, 4 MB less (docs/benchmarks.md sections 22, 23).
LINKER_FP_CACHE_SIZE = 128

# What linking reads of a candidate (relate.Compact, about 4 KB), for many more articles than the full
# fingerprints: the related window (14 days) holds every article of a 10,000-article store, and a candidate
# missing from the fingerprint cache was decoded and profiled again (~0.5 ms) for every new article that
# listed it (py-spy, bench/scale_replay.py 80 x 50). Same keys, so never stale either.
COMPACT_CACHE_SIZE = 16_384
_COMPACT_CACHE = _Cache(COMPACT_CACHE_SIZE)


def remember(row: Any, fp: Fingerprint, *, linking: bool = True) -> None:
    """Cache the fingerprint just stored for ``row`` (its id, content hash and full-text status): new articles
    are the next ones' candidates (with ``linking`` False, merge candidates only: a linker links them)."""
    key = (row.id, f"{row.content_hash}:{row.full_text_status or ''}")
    _FP_CACHE.put(key, fp)
    _FP_CACHE.trim()
    if linking:
        _COMPACT_CACHE.put(key, relate.compact(fp))
        _COMPACT_CACHE.trim()


# What a candidate never reads: the sets its own merge and links were made from.
_SHED = ("body_content", "body_shingles", "relate_profile")


# What a refresh whose linker links its articles (syndicator.store.linker) never reads again of the ones it
# stored: the related-story values and the event vectors travel to the linker on its own copy, the index keys
# are written; at article level, merging compares candidates without event vectors (similarity.compare).
# Dropped, a cached fingerprint went from ~30 to ~10 KB (bench/cache_memory.py's per-value sizes: event vector
# 13.7 KB, compact 4 KB of its own, keys 5.8 KB, name vector 1.5 KB).
_SHED_QUEUED = ("relate_compact", "relate_keys", "keys:article", "keys:event")
_SHED_QUEUED_ARTICLE = ("vector", "name_vector", "vector_info")


def shed(fps: list[Fingerprint], *, queued: bool = False, level: str = "article") -> None:
    """Called once the articles of ``fps`` are merged and linked (or ``queued`` for a linker): cached, each is
    a later article's candidate, read through its body hashes, event vectors and compact record; the sets its
    own merge and links were made from are made again if ever needed (a full comparison: about 1% of
    candidates). A cached fingerprint went from 72 to ~20 KB (tracemalloc, bench/scale_replay.py 40 x 50), the
    cache of 1,024 from 72 to ~20 MB of the refresh's peak RSS."""
    names = _SHED
    if queued:
        names = (*names, *_SHED_QUEUED, *(_SHED_QUEUED_ARTICLE if level == "article" else ()))
    for fp in fps:
        similarity.shed(fp, names)


def forget(article_id: str) -> None:
    _FP_CACHE.forget(article_id)
    _COMPACT_CACHE.forget(article_id)


def cached_fingerprint(key: tuple[str, str]) -> Fingerprint | None:
    """The cached fingerprint of (article id, "content hash:full-text status"), if any (never the store)."""
    return _FP_CACHE.get(key)


def fingerprints(db: Any, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Fingerprint]:
    """The stored fingerprint of each (article id, "content hash:full-text status"), from the cache or the store
    (``db``: a :class:`Reads` or a Session)."""
    found: dict[tuple[str, str], Fingerprint] = {}
    missing: list[str] = []
    for key in keys:
        fp = _FP_CACHE.get(key)
        if fp is None:
            missing.append(key[0])
        else:
            found[key] = fp
    if missing:
        db = reads_of(db)
    for start in range(0, len(missing), 500):  # stay under every database's parameter limit
        chunk = sorted(missing[start : start + 500])
        for aid, digest, status, fpd, sketch in db.rows("FINGERPRINTS", {"ids": chunk}):
            if fpd:
                key = (aid, f"{digest}:{status}")
                found[key] = fp = similarity.fingerprint_from_dict(fpd)
                if (hashes := similarity.sketch_from_bytes(sketch)) is not None:
                    # made from this fingerprint when it was stored: similarity.apart need not hash it again
                    similarity._derived(fp, "body_hashes", lambda h=hashes: h)
                _FP_CACHE.put(key, fp)
    _FP_CACHE.trim()
    return found


def compacts(db: Any, keys: list[tuple[str, str]]) -> dict[tuple[str, str], relate.Compact]:
    """The :class:`relate.Compact` of each key's stored fingerprint: from its cache, else as stored with the
    article, else from the fingerprint."""
    found: dict[tuple[str, str], relate.Compact] = {}
    missing = []
    for key in keys:
        comp = _COMPACT_CACHE.get(key)
        if comp is None:
            missing.append(key)
        else:
            found[key] = comp
    if missing:
        db = reads_of(db)
        # stored with the article (migration 0011): read without decoding the fingerprint, and without putting
        # it in the fingerprint cache, which would then lose recent articles to candidates read for this alone
        wanted = set(missing)
        for start in range(0, len(missing), 500):  # stay under every database's parameter limit
            chunk = sorted(key[0] for key in missing[start : start + 500])
            for aid, digest, status, data in db.rows("COMPACTS", {"ids": chunk}):
                key = (aid, f"{digest}:{status}")
                if key in wanted and (comp := relate.compact_from_bytes(data)) is not None:
                    found[key] = comp
                    _COMPACT_CACHE.put(key, comp)
        missing = [key for key in missing if key not in found]
    if missing:  # stored before migration 0011
        for key, fp in fingerprints(db, missing).items():
            found[key] = relate.compact(fp)
            _COMPACT_CACHE.put(key, found[key])
    _COMPACT_CACHE.trim()
    return found


# -- the linking process (syndicator.store.linker starts it and writes what it returns) --------------------------


@dataclass(frozen=True)
class Queued:
    """An article stored and queued for linking, with the fingerprint it was stored with."""

    article_id: str
    seq: int
    fp: Fingerprint


def link_batch(
    db: Any, owner: str, items: Sequence[Queued], window: timedelta, now: datetime, unwritten: list[Result],
) -> tuple[list[Result], list[Result]]:
    """Link one batch in one snapshot of the store (``db``: a :class:`Reads` or a Session, in a transaction).
    ``unwritten``: the links made before, in order, of which those not yet written are laid over the store's;
    returns this batch's and the new ``unwritten``."""
    db = reads_of(db)
    pending = dict(db.rows("PENDING_OF", {"owner": owner}))  # article id -> seq
    # written and out of the queue in one transaction: what left the queue is in this snapshot
    unwritten = [r for r in unwritten if r[0] in pending]
    rows = {r[0]: LinkedRow(*r) for r in db.rows("LINKED_ROWS", {"ids": [q.article_id for q in items]})}
    for q in items:
        if q.article_id in rows:
            remember(rows[q.article_id], q.fp)  # the later ones' candidates, as when storing
    results: list[Result] = []
    for q in items:
        row = rows.get(q.article_id)
        if row is None or q.article_id not in pending:
            continue  # deleted since, or linked by another refresh that adopted it
        newer = {aid for aid, seq in pending.items() if seq > q.seq}
        links = links_for(db, row, q.fp, window, now, newer=newer,
                          subjects=lambda ids: subjects_of(db, unwritten, ids))
        unwritten.append((q.article_id, links))
        results.append((q.article_id, links))
    shed([q.fp for q in items])
    return results, unwritten


def subjects_of(db: Any, unwritten: list[Result], ids: list[str]) -> list[tuple[str, str | None, str | None]]:
    """``sql.LINK_SUBJECTS`` of ``ids`` as the store will hold it once ``unwritten`` is written: each result
    replaces its article's links both ways (sql.DELETE_LINKS, then its rows), in order. Applying a result the
    store already holds changes nothing, so the order alone makes this exact."""
    view: dict[str, dict[str, tuple[str | None, str | None]]] = {aid: {} for aid in ids}
    for aid, oid, kind, first in reads_of(db).rows("LINK_SUBJECT_PAIRS", {"ids": ids}):
        view[aid][oid] = (kind, first)
    for aid, links in unwritten:
        if aid in view:
            view[aid].clear()
        for theirs in view.values():
            theirs.pop(aid, None)
        for r in links:
            shared = r["reason"].get("shared") or [None]
            for one, two in ((r["article_id"], r["other_id"]), (r["other_id"], r["article_id"])):
                if one in view:
                    view[one][two] = (r["reason"].get("kind"), shared[0])
    return [(aid, kind, first) for aid, theirs in view.items() for kind, first in theirs.values()]


def serve(inbox: Any, outbox: Any, url: str, sqlite_file: str | None, window_seconds: float, owner: str,
          parent: int) -> None:
    """The linking process (a :class:`syndicator.subprocs.Child`): links each batch it gets from ``inbox``, in
    order, and puts the rows on ``outbox``. On a SQLite store (``sqlite_file``) through ``sqlite3`` alone; else
    through a SQLAlchemy Session."""
    from syndicator.prepare import _start_worker

    _start_worker(parent)
    _FP_CACHE.size = LINKER_FP_CACHE_SIZE
    try:
        window = timedelta(seconds=window_seconds)
        unwritten: list[Result] = []
        linked = 0
        if sqlite_file is not None:
            conn = connect_sqlite(sqlite_file)
            reads = SqliteReads(conn)
            while (msg := inbox.get()) is not None:
                items, now = msg
                conn.execute("BEGIN")  # deferred: one WAL snapshot from the first read on, no write lock
                try:
                    results, unwritten = link_batch(reads, owner, items, window, now, unwritten)
                finally:
                    conn.execute("ROLLBACK")  # it wrote nothing
                outbox.put(("done", results))
                linked += len(results)
                _restart_wal(conn, f"{sqlite_file}-wal")
            conn.close()
        else:
            from sqlalchemy.orm import sessionmaker

            from syndicator.store import db

            engine = db.create_store_engine(url, reader=True)
            make = sessionmaker(engine)
            while (msg := inbox.get()) is not None:
                items, now = msg
                with make() as s, s.begin():
                    results, unwritten = link_batch(SessionReads(s), owner, items, window, now, unwritten)
                outbox.put(("done", results))
                linked += len(results)
            engine.dispose()
        import resource

        outbox.put(("bye", linked, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
    except BaseException:
        outbox.put(("error", traceback.format_exc()))


def _restart_wal(conn: sqlite3.Connection, wal: str) -> None:
    """Checkpoint the WAL into the database and truncate it, once it is past WAL_RESTART_BYTES. Outside any
    transaction of the linker's own: it waits for the store's write transaction to end (the busy timeout), then
    holds the write lock for the copy; the refresh's next transaction waits that long."""
    try:
        if os.path.getsize(wal) < WAL_RESTART_BYTES:
            return
    except OSError:
        return
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
