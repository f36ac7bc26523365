"""Related-story links in the store: written as articles arrive, read when publishing.

Writing (:func:`link_article`) is incremental: a new article is compared with
the articles that share one of its ``r:`` keys (:func:`syndicator.relate.index_keys`,
stored in the merge index's ``article_keys`` table) within the window, never
with a scan of the store. A key that very many articles in the window carry
still yields only the postings nearest in time, so the cost per article stays
flat however common a word becomes in the stream. Links are stored both ways,
so the older story gains the link too and is republished with it (its item
hash changes, so its ``updated`` moves; its id and ``published`` do not).

Reading (:func:`related_stories`) turns article links into story links: the
other article's current story, never the story itself (its variants), the
best score per story, best first.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from syndicator import relate, similarity
from syndicator.similarity import Fingerprint
from syndicator.store import sql
from syndicator.store.schema import ArticleLinkRow, ArticleRow, StoryRow

# Postings read per key: the nearest in time when a key is more common than this.
MAX_POSTINGS_PER_KEY = 200
# Articles scored per new article, those sharing the most informative keys first.
MAX_CANDIDATES = 60
# Links of a new article checked for "same event" (which ranks them first), the best first.
EVENT_CHECKS = 8


@dataclass(frozen=True)
class StoryLink:
    story_id: str
    score: float
    reason: dict


def link_article(
    s: Session, row: ArticleRow, fp: Fingerprint, window: timedelta, now: datetime, *,
    newer: Container[str] = frozenset(),
) -> int:
    """(Re)compute the links of one stored article; returns how many it has (``newer``: see links_for)."""
    # Prebuilt Core statements (syndicator.store.sql): they do not autoflush; the caller has flushed.
    s.execute(sql.DELETE_LINKS, {"article_id": row.id})
    rows = links_for(s, row, fp, window, now, newer=newer)
    if rows:
        s.execute(sql.INSERT_LINKS, rows)  # one executemany, no ORM objects
    return len(rows) // 2


class Linked(Protocol):
    """What linking reads of the new article's row (an ArticleRow, or the linker's copy of one)."""

    id: str
    story_id: str
    published: datetime


Subjects = Callable[[list[str]], Iterable[tuple[str, str | None, str | None]]]


def links_for(
    s: Session, row: Linked, fp: Fingerprint, window: timedelta, now: datetime, *,
    newer: Container[str] = frozenset(), subjects: Subjects | None = None,
) -> list[dict]:
    """The link rows of one stored article, both ways (written by the caller), read from the store.

    ``newer``: articles stored after this one, which a linker running behind the store can see; never
    candidates, they link to this one in their turn. ``subjects``: (article id, kind, first shared word) of the
    stored links of some articles (``sql.LINK_SUBJECTS``), for a linker whose own links are not all written.
    """
    keys = sorted(relate.index_keys(fp))
    if not keys or window.total_seconds() <= 0:
        return []
    lo, hi = row.published - window, row.published + window
    counts = dict(s.execute(sql.KEY_COUNTS, {"keys": keys, "lo": lo, "hi": hi}).all())
    shared: Counter[str] = Counter()  # article id -> idf mass of the keys it shares
    weight = {k: similarity.idf(k[len(relate.KEY_PREFIX):]) for k in keys}  # once a key, not once a posting
    small = [k for k in keys if 0 < counts.get(k, 0) <= MAX_POSTINGS_PER_KEY]
    if small:
        # .all(): one fetchall, not a fetchone per row (thousands of postings an article)
        for aid, key in s.execute(sql.KEY_POSTINGS, {"keys": small, "lo": lo, "hi": hi}).all():
            shared[aid] += weight[key]
    for key in (k for k in keys if counts.get(k, 0) > MAX_POSTINGS_PER_KEY):
        for aid in _nearest_postings(s, key, row.published, lo, hi):
            shared[aid] += weight[key]
    shared.pop(row.id, None)
    if newer:
        for aid in [a for a in shared if a in newer]:
            del shared[aid]
    if not shared:
        return []
    ranked = [aid for aid, _ in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0]))[: 2 * MAX_CANDIDATES]]
    # The stored fingerprint is only read when the cache has no profile for this version of the article.
    cands = s.execute(sql.RELATED_CANDIDATES, {"ids": ranked}).all()
    order = {aid: n for n, aid in enumerate(ranked)}
    cands = sorted((c for c in cands if c.story_id != row.story_id), key=lambda c: order[c.id])
    keep = set(relate.shortlist([(c.id, shared[c.id]) for c in cands], MAX_CANDIDATES, 2 * MAX_CANDIDATES))
    cands = [c for c in cands if c.id in keep]
    # a page's full text, fetched later, changes the fingerprint but not the content hash
    keyed = [(c.id, (c.id, f"{c.content_hash}:{c.full_text_status}")) for c in cands]
    comps = compacts(s, [key for _, key in keyed])
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
    full = fingerprints(s, [key for _, _, key in found[:EVENT_CHECKS]])
    for n, (link, other_id, key) in enumerate(found[:EVENT_CHECKS]):
        if key in full:
            found[n] = (relate.with_event(link, fp, full[key]), other_id, key)
    if tentative:
        # a name common in this stream is no name (the postings counts of this article's keys are at hand)
        tentative = [t for t in tentative if t[0].kind != relate.NAME_KIND
                     or counts.get(relate.KEY_PREFIX + t[0].shared[0], 0) <= relate.NAME_MAX_POSTINGS]
        if subjects is None:
            def subjects(ids: list[str]) -> Iterable[tuple[str, str | None, str | None]]:
                return s.execute(sql.LINK_SUBJECTS, {"ids": ids}).all()
        found += _supported(subjects, [link for link, _, _ in found], tentative)
    rows = []
    for link, other_id, _ in found:
        reason = link.reason()
        rows.append({"article_id": row.id, "other_id": other_id, "score": link.score, "reason": reason,
                     "created_at": now})
        rows.append({"article_id": other_id, "other_id": row.id, "score": link.score, "reason": reason,
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


class _Cache:
    """A bounded LRU of values by (article id, "content hash:full-text status"), with an index by article id:
    ``forget`` runs for every article written, and scanning the whole cache for it was 2% of a cold refresh
    (py-spy, bench/scale_replay.py 40 x 50)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[str, str], object] = OrderedDict()
        self.ids: dict[str, set[tuple[str, str]]] = {}  # article id -> its keys (usually one)

    def get(self, key: tuple[str, str]):  # the value's type is the cache's
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key: tuple[str, str], value: object) -> None:
        self.entries[key] = value
        self.entries.move_to_end(key)
        self.ids.setdefault(key[0], set()).add(key)

    def trim(self) -> None:
        while len(self.entries) > self.size:
            key, _ = self.entries.popitem(last=False)
            keys = self.ids.get(key[0])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.ids[key[0]]

    def forget(self, article_id: str) -> None:
        for key in self.ids.pop(article_id, ()):
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

# What linking reads of a candidate (relate.Compact, about 4 KB), for many more articles than the full
# fingerprints: the related window (14 days) holds every article of a 10,000-article store, and a candidate
# missing from the fingerprint cache was decoded and profiled again (~0.5 ms) for every new article that
# listed it (py-spy, bench/scale_replay.py 80 x 50). Same keys, so never stale either.
COMPACT_CACHE_SIZE = 16_384
_COMPACT_CACHE = _Cache(COMPACT_CACHE_SIZE)


def remember(row: ArticleRow, fp: Fingerprint, *, linking: bool = True) -> None:
    """Cache the fingerprint just stored for ``row``: new articles are the next ones' candidates
    (with ``linking`` False, merge candidates only: a linker links them, syndicator.store.linker)."""
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


def fingerprints(s: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Fingerprint]:
    """The stored fingerprint of each (article id, "content hash:full-text status"), from the cache or the store."""
    found: dict[tuple[str, str], Fingerprint] = {}
    missing: list[str] = []
    for key in keys:
        fp = _FP_CACHE.get(key)
        if fp is None:
            missing.append(key[0])
        else:
            found[key] = fp
    for start in range(0, len(missing), 500):  # stay under every database's parameter limit
        chunk = sorted(missing[start : start + 500])
        for aid, digest, status, fpd, sketch in s.execute(sql.FINGERPRINTS, {"ids": chunk}).all():
            if fpd:
                key = (aid, f"{digest}:{status}")
                found[key] = fp = similarity.fingerprint_from_dict(fpd)
                if (hashes := similarity.sketch_from_bytes(sketch)) is not None:
                    # made from this fingerprint when it was stored: similarity.apart need not hash it again
                    similarity._derived(fp, "body_hashes", lambda h=hashes: h)
                _FP_CACHE.put(key, fp)
    _FP_CACHE.trim()
    return found


def compacts(s: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], relate.Compact]:
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
        # stored with the article (migration 0011): read without decoding the fingerprint, and without putting
        # it in the fingerprint cache, which would then lose recent articles to candidates read for this alone
        wanted = set(missing)
        for start in range(0, len(missing), 500):  # stay under every database's parameter limit
            chunk = sorted(key[0] for key in missing[start : start + 500])
            for aid, digest, status, data in s.execute(sql.COMPACTS, {"ids": chunk}).all():
                key = (aid, f"{digest}:{status}")
                if key in wanted and (comp := relate.compact_from_bytes(data)) is not None:
                    found[key] = comp
                    _COMPACT_CACHE.put(key, comp)
        missing = [key for key in missing if key not in found]
    if missing:  # stored before migration 0011
        for key, fp in fingerprints(s, missing).items():
            found[key] = relate.compact(fp)
            _COMPACT_CACHE.put(key, found[key])
    _COMPACT_CACHE.trim()
    return found


def _nearest_postings(s: Session, key: str, at: datetime, lo: datetime, hi: datetime) -> list[str]:
    params = {"key": key, "lo": lo, "at": at, "hi": hi, "n": MAX_POSTINGS_PER_KEY // 2}
    return [*s.scalars(sql.NEAREST_BEFORE, params).all(), *s.scalars(sql.NEAREST_AFTER, params).all()]


def related_stories(s: Session, story_ids: list[str], limit: int) -> dict[str, list[StoryLink]]:
    """Each story's best ``limit`` related stories (never itself), best first: by the mean score of the links
    between their articles, each shown with the reason of the best one.

    The mean, not the best link: a story with many headlines is related to another by what its articles'
    links say together, not by its one odd variant's (merged UCI market reports linked by one headline each;
    the UCI dev half through the pipeline, bench/related_quality.py: P@3 0.940 -> 0.951, hit rate 0.933 ->
    0.934, ECB+ and the sparse stream unchanged; the sum or a bonus per link did worse than the best link)."""
    if not story_ids or limit <= 0:
        return {}
    mine = ArticleRow.__table__.alias("mine")
    other = ArticleRow.__table__.alias("other")
    out: dict[str, dict[str, StoryLink]] = {}
    scores: dict[tuple[str, str], list[float]] = {}
    for start in range(0, len(story_ids), 500):
        chunk = story_ids[start : start + 500]
        rows = s.execute(
            select(mine.c.story_id, other.c.story_id, ArticleLinkRow.score, ArticleLinkRow.reason)
            .select_from(ArticleLinkRow)
            .join(mine, mine.c.id == ArticleLinkRow.article_id)
            .join(other, other.c.id == ArticleLinkRow.other_id)
            .where(mine.c.story_id.in_(chunk), other.c.story_id != mine.c.story_id)
        ).all()
        for sid, oid, score, reason in rows:
            best = out.setdefault(sid, {})
            old = best.get(oid)
            new = StoryLink(oid, score, reason or {})
            if old is None or _rank(new) > _rank(old) or (_rank(new) == _rank(old) and str(reason) < str(old.reason)):
                best[oid] = new
            scores.setdefault((sid, oid), []).append(score)
    shown = {}
    for sid, links in out.items():
        # fsum: the same mean whatever order the database returned the links in
        mean = {oid: math.fsum(scores[sid, oid]) / len(scores[sid, oid]) for oid in links}
        ranked = sorted((StoryLink(oid, mean[oid], ln.reason) for oid, ln in links.items()),
                        key=lambda ln: (-ln.score, ln.story_id))
        keep = relate.shown([(ln.score, ln.reason.get("kind", "")) for ln in ranked])
        shown[sid] = [ranked[n] for n in keep][:limit]
    return shown


def _rank(link: StoryLink) -> tuple[bool, float]:
    # the best link between two stories: any other kind before "same name", then the higher score
    return link.reason.get("kind") != relate.NAME_KIND, link.score


def story_heads(s: Session, story_ids: list[str], headline: str) -> dict[str, tuple[str, str]]:
    """(headline, link) of each story as its own item shows them."""
    if not story_ids:
        return {}
    stories = {r.id: r for r in s.scalars(select(StoryRow).where(StoryRow.id.in_(story_ids)))}
    rows = s.execute(
        select(ArticleRow.id, ArticleRow.story_id, ArticleRow.title, ArticleRow.url, ArticleRow.fetched_at,
               ArticleRow.published)
        .where(ArticleRow.story_id.in_(list(stories)))
    ).all()
    members: dict[str, list] = {}
    for r in rows:
        members.setdefault(r.story_id, []).append(r)
    heads = {}
    for sid, story in stories.items():
        arts = members.get(sid)
        if not arts:
            continue
        chosen = next((a for a in arts if a.id == story.chosen_article_id), arts[0])
        title = chosen.title
        if headline == "latest":
            title = max(arts, key=lambda a: (a.fetched_at, a.published, a.id)).title
        heads[sid] = (title, chosen.url)
    return heads
