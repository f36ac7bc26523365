"""Writing entries: new articles are merged into stories, changed ones updated."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, defer

from syndicator import linking, merge, relate, similarity
from syndicator.model import FUTURE_SLACK, Entry, content_hash
from syndicator.similarity import Fingerprint
from syndicator.store import linker, locks, related, sql
from syndicator.store.schema import ArticleRow, SourceRow, StoryAliasRow, StoryRow, StorySplitRow
from syndicator.urls import canonical_url

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

# Article ids are derived from (source, guid) so the same item always gets
# the same id, in every process and on every retry.
ARTICLE_NAMESPACE = uuid.UUID("5b0f7a52-3c59-4b8e-9d0e-2f6f1c0d9a11")


@dataclass
class IngestStats:
    new_articles: int = 0
    updated_articles: int = 0
    unchanged: int = 0
    new_stories: int = 0
    merged: int = 0  # new articles that joined an existing story
    links: int = 0  # related-story links made
    queued: list[linker.Queued] = field(default_factory=list)  # for the linker, with queue_links


def article_id(source: str, guid: str) -> str:
    key = source + "\n" + guid
    return f"urn:uuid:{uuid.uuid5(ARTICLE_NAMESPACE, key)}"


def new_story_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


Embedder = Callable[[list[str]], list[bytes]]
# guid -> (status, text, html) of the article pages fetched in this refresh (sources with full_text = true).
FullTexts = Mapping[str, tuple[str, str, str]]


def ingest_entries(
    s: Session, source: SourceRow, entries: list[Entry], now: datetime, window_seconds: float,
    level: str = "article", embed: Embedder | None = None, related_window: float = 0.0,
    full_texts: FullTexts | None = None, prepared: Mapping[str, Fingerprint] | None = None,
    queue_links: tuple[str, int] | None = None,
    raw_hashes: Mapping[str, str] | None = None,
    unchanged: Sequence[str] = (),
) -> IngestStats:
    """Store one source's entries. ``prepared``: fingerprints made elsewhere (syndicator.prepare), used when
    they were made from the same date and need no headline embedding. ``queue_links``: (owner, first seq):
    queue the new and changed articles for a linker (syndicator.store.linker, ``stats.queued``) instead of
    linking them here. ``raw_hashes``: guid -> the hash of the item as sent, recorded on its article;
    ``unchanged``: guids of the document's items the parser left out, sent again as stored
    (syndicator.parse.items)."""
    stats = IngestStats()
    prepared = prepared if embed is None else None
    full_texts = full_texts or {}
    raw_hashes = raw_hashes or {}
    existing = _existing_articles(s, source.id, [e.guid for e in entries] + list(unchanged))
    # Left out of the parse: counted, and their stored bodies are part of the document for the stock-excerpt
    # check, as when every item was parsed (the store's own count, _is_boilerplate, sees them anyway).
    unchanged = [g for g in unchanged if g in existing]
    stats.unchanged += len(unchanged)
    window = timedelta(seconds=window_seconds)
    digests = [content_hash(e) for e in entries]
    # New or changed entries, fingerprinted once: the fingerprints serve both the
    # feed document's stock-excerpt check and the merge decisions.
    # An article whose page was just fetched (a retry after its host's backoff) is refingerprinted too.
    todo = [e for e, d in zip(entries, digests, strict=True)
            if e.guid not in existing or existing[e.guid].content_hash != d or e.guid in full_texts]
    vectors: dict[str, bytes] = {}
    if embed is not None and todo:
        # One batch per source: the model is far faster on many headlines at once.
        vectors = dict(zip((e.guid for e in todo), embed([e.title for e in todo]), strict=True))
    published = {
        e.guid: existing[e.guid].published if e.guid in existing else min(e.published or now, now + FUTURE_SLACK)
        for e in todo
    }
    fps = {}
    for e in todo:
        fp = (prepared or {}).get(e.guid)
        if fp is None or e.guid in full_texts or fp.published != published[e.guid].isoformat():
            fp = similarity.fingerprint(
                similarity.Doc(e.title, e.text, e.url, published[e.guid], source.name, vectors.get(e.guid))
            )
        fps[e.guid] = fp
    stock = _stock_excerpts([e.guid for e in entries] + unchanged, existing, fps)
    # Two workers ingesting two variants of one story at the same moment would each find no candidate
    # and start two stories. The variants share a merge key (that is how they find each other), so
    # each transaction first locks the keys it will look up and write (related-story keys too, so that
    # two related new articles get linked); the second waits for the first to commit, then sees its
    # article. PostgreSQL only: on SQLite, BEGIN IMMEDIATE already serialises.
    locks.lock_keys(s, _lock_keys(todo, fps))
    linked: list[tuple[ArticleRow, Fingerprint]] = []  # new and changed articles, to link to related ones
    for entry, digest in zip(entries, digests, strict=True):
        fp = fps.get(entry.guid)
        raw_hash = raw_hashes.get(entry.guid)
        if fp is None:
            stats.unchanged += 1
            # Its item was sent otherwise (or not hashed before): the same entry; next time, skipped unparsed.
            if raw_hash and existing[entry.guid].raw_hash != raw_hash:
                existing[entry.guid].raw_hash = raw_hash
            continue
        row = existing.get(entry.guid)
        if row is not None:
            row.raw_hash = raw_hash
            _fill(row, entry, fp)
            _fill_full_text(row, full_texts.get(entry.guid))
            _index(s, row, fp)
            row.content_hash = digest
            stats.updated_articles += 1
            linked.append((row, fp))
            continue
        row = ArticleRow(
            id=article_id(source.name, entry.guid), source_id=source.id, guid=entry.guid,
            fetched_at=now, content_hash=digest, merge_reason={}, published=published[entry.guid],
            raw_hash=raw_hash,
        )
        _fill(row, entry, fp)
        _fill_full_text(row, full_texts.get(entry.guid))
        _place(s, row, fp, now, window, level, stats, stock)
        _log_placed(source.name, row)
        s.add(row)
        s.flush()
        _index(s, row, fp)  # later entries of this batch must see this one as a candidate
        related.remember(row, fp, linking=queue_links is None)
        existing[entry.guid] = row
        stats.new_articles += 1
        linked.append((row, fp))
    if related_window > 0 and queue_links is not None:
        owner, seq = queue_links
        s.flush()
        linker.queue_articles(s, owner, seq, [row.id for row, _ in linked], now)
        stats.queued = [linker.Queued(row.id, seq + n, linker.shipped(fp)) for n, (row, fp) in enumerate(linked)]
    elif related_window > 0:
        # After the whole batch is placed, so that links see every article's final story. Each links to the
        # articles stored before it, as a linker does (syndicator.store.linker): the later ones link to it.
        rel_window = timedelta(seconds=related_window)
        s.flush()
        later = {row.id for row, _ in linked}
        for row, fp in linked:
            later.discard(row.id)
            stats.links += related.link_article(s, row, fp, rel_window, now, newer=later)
    related.shed([fp for _, fp in linked], queued=related_window > 0 and queue_links is not None, level=level)
    source.entries_seen += len(entries) + len(unchanged)
    return stats


def _lock_keys(todo: list[Entry], fps: dict[str, Fingerprint]) -> set[str]:
    keys: set[str] = set()
    for e in todo:
        keys.update(similarity.index_keys(fps[e.guid], "event") | relate.index_keys(fps[e.guid]))
        url = canonical_url(e.url)
        if url:
            keys.add("url:" + url)
    return keys


def _existing_articles(s: Session, source_id: int, guids: list[str]) -> dict[str, ArticleRow]:
    found: dict[str, ArticleRow] = {}
    for start in range(0, len(guids), 500):  # stay under every database's parameter limit
        chunk = guids[start : start + 500]
        stmt = (select(ArticleRow).where(ArticleRow.source_id == source_id, ArticleRow.guid.in_(chunk))
                .options(*_NOT_READ))
        found.update((r.guid, r) for r in s.scalars(stmt))
    return found


# What ingesting never reads of a stored article of the feed (it only overwrites them when the entry changed):
# not loaded. A warm-incremental refresh loads every entry's row, nine in ten of them unchanged, and decoding
# their fingerprints' JSON alone was 4% of its store time (py-spy, bench/scale_replay.py 80 x 50 generation 2:
# docs/bench_perf9.md). Read anyway, each loads on first access, as ever.
_NOT_READ = tuple(defer(c) for c in (
    ArticleRow.summary, ArticleRow.content, ArticleRow.text, ArticleRow.fingerprint, ArticleRow.merge_sketch,
    ArticleRow.relate_compact,
    ArticleRow.full_text, ArticleRow.full_text_html, ArticleRow.merge_reason,
))


def _fill(row: ArticleRow, e: Entry, fp: Fingerprint) -> None:
    row.url = e.url
    row.canonical_url = canonical_url(e.url)
    row.title = e.title
    row.summary = e.summary
    row.content = e.content
    row.text = e.text
    row.author = e.author
    row.categories = list(e.categories)
    row.enclosures = [asdict(x) for x in e.enclosures]
    row.image = e.image
    row.language = e.language
    row.updated = e.updated
    row.fingerprint = similarity.fingerprint_to_dict(fp)
    row.merge_sketch = similarity.sketch_bytes(fp)
    row.relate_compact = relate.compact_bytes(relate.compact(fp))
    row.body_hash = fp.body_hash or None
    if row.id:
        related.forget(row.id)


def _fill_full_text(row: ArticleRow, found: tuple[str, str, str] | None) -> None:
    if found is not None:
        row.full_text_status, row.full_text, row.full_text_html = found


def _index(s: Session, row: ArticleRow, fp: Fingerprint) -> None:
    """(Re)write the article's postings in the merge index.

    Event-level keys are a superset of article-level ones; storing them all
    lets ``[merge] level`` change without rebuilding the index. The ``r:``
    keys find related stories (:mod:`syndicator.store.related`).
    """
    keys = sorted(similarity.index_keys(fp, "event") | relate.index_keys(fp))
    raw = _sqlite(s)
    if raw is not None:  # see _reads: the same rows, without a bind processor call a posting
        raw.execute(_SQLITE_DELETE_KEYS, (row.id,))
        at = linking.sqlite_datetime(row.published)
        raw.executemany(_SQLITE_INSERT_KEYS, [(key, row.id, at) for key in keys])
        return
    s.execute(sql.DELETE_KEYS, {"article_id": row.id})
    if keys:
        # One executemany, not an ORM object per posting (about 34 an article): the unit of work's
        # bookkeeping for them was a fifth of a cold refresh (py-spy, bench/scale_run.py 40 x 50).
        s.execute(sql.INSERT_KEYS, [{"key": key, "article_id": row.id, "published": row.published} for key in keys])


_SQLITE_DELETE_KEYS = "DELETE FROM article_keys WHERE article_keys.article_id = ?"
_SQLITE_INSERT_KEYS = 'INSERT INTO article_keys ("key", article_id, published) VALUES (?, ?, ?)'


def _sqlite(s: Session) -> sqlite3.Connection | None:
    """The ``sqlite3`` connection under the session's transaction on a SQLite store, else ``None``."""
    conn = s.connection()
    return conn.connection.driver_connection if conn.dialect.name == "sqlite" else None


def _reads(s: Session) -> linking.Reads:
    """The merge's reads, by name (syndicator.linking.Reads): on SQLite through ``sqlite3`` on the transaction's
    own connection (the same SQL as the Core statements, tests/test_linking.py), else the Session's statements.
    SQLAlchemy's own Python (compiling the IN lists, converting every value in and out) was 29% of a refresh's
    storing process, as much as SQLite's work for it (py-spy, bench/scale_run.py 200 x 50, cold and
    warm-incremental: docs/benchmarks.md section 26)."""
    raw = _sqlite(s)
    return linking.SqliteReads(raw) if raw is not None else linking.SessionReads(s)


def _candidates(s: Session, row: ArticleRow, fp: Fingerprint, window: timedelta, level: str):
    """Stored articles sharing an index key within the window, or the canonical URL at any time."""
    # The statements below are Core (syndicator.store.sql) and do not autoflush: an article updated earlier
    # in this batch must be read as it is now (its fingerprint, content hash, body hash).
    s.flush()
    reads = _reads(s)
    keys = sorted(similarity.index_keys(fp, level))
    lo, hi = row.published - window, row.published + window
    ids: set[str] = set()
    shared: dict[str, list[str]] = {}  # candidate -> the keys it shares
    when: dict[str, datetime] = {}  # candidate -> its publication time, as its postings carry it
    if keys:
        counts = reads.rows("KEY_COUNTS", {"keys": keys, "lo": lo, "hi": hi})
        usable = [k for k, n in counts if n <= merge.MAX_POSTINGS_PER_KEY]
        if usable:
            for aid, key, published in reads.rows("KEY_POSTINGS_AT", {"keys": usable, "lo": lo, "hi": hi}):
                shared.setdefault(aid, []).append(key)
                when[aid] = published
            ids.update(shared)
    if row.canonical_url:
        ids.update(r[0] for r in reads.rows("SAME_URL", {"url": row.canonical_url}))
    ids.discard(row.id)
    if not ids:
        return [], frozenset()
    # Weak whatever its source (_weak of the same source is weak of any): one headline word in common and
    # published further apart than one source's rules look. Known from the postings, so its row is not read:
    # reading every candidate's row was 14% of a cold refresh's storing process (py-spy, bench/scale_run.py
    # 200 x 50 --profile), most of them weak and never compared.
    far = {aid for aid in shared if aid in ids and _weak(shared[aid], True, abs(when[aid] - row.published))}
    rows = list(reads.rows("MERGE_CANDIDATES", {"ids": sorted(ids - far)}))
    weak = far | {
        aid for aid, _sid, _created, _digest, _status, source_id, published, _url, _sketch in rows
        if _weak(shared.get(aid, ()), row.source_id == source_id, abs(published - row.published))
    }
    weak -= _same_subject(reads, fp, weak)
    if rescued := sorted(far - weak):  # weak ones whose bodies agree in part: compared after all
        rows = [*rows, *reads.rows("MERGE_CANDIDATES", {"ids": rescued})]
    keyed = [
        (aid, sid, created, (aid, f"{digest}:{status}"))
        for aid, sid, created, digest, status, _source_id, _published, url, sketch in rows
        if aid not in weak and not (level == "article" and _apart(fp, (aid, f"{digest}:{status}"), url, sketch))
    ]
    fps = related.fingerprints(reads, [key for *_rest, key in keyed])
    cands = [merge.Candidate(aid, sid, created, fps[key]) for aid, sid, created, key in keyed if key in fps]
    boilerplate: frozenset[str] = frozenset()
    if fp.body_hash and _is_boilerplate(reads, row, fp.body_hash, lo, hi):
        boilerplate = frozenset({fp.body_hash})
    return cands, boilerplate


def _apart(fp: Fingerprint, key: tuple[str, str], url: str | None, sketch: bytes | None) -> bool:
    """``similarity.apart(fp, candidate)``, from the candidate's cached fingerprint or, when not cached, its
    stored sketch, so that a candidate proven no match is never decoded (``merge.decide`` skips exactly these:
    the same decisions). Decoding it for ``apart`` alone was a fifth of a replay's samples (bench/scale_replay.py
    80 x 50, py-spy: docs/bench_perf9.md), every time in a new process (warm-incremental refreshes).
    ``False`` when neither is at hand: the candidate is decoded and ``merge.decide`` checks it."""
    cached = related.cached_fingerprint(key)
    if cached is not None:
        return similarity.apart(fp, cached)
    hashes = similarity.sketch_from_bytes(sketch)
    # canonical_url is fingerprint.url: both are canonical_url(entry.url), written together by _fill
    return hashes is not None and similarity.apart_from(fp, hashes, url or "")


def _weak(shared: Sequence[str], same_source: bool, apart: timedelta) -> bool:
    """A candidate found through one headline word only: no rule can match it, except a headline
    variant of the same source (``similarity``'s headline-close rule) or a report whose body agrees
    in part (``_same_subject`` rescues those), so it is not compared.

    A headline match needs most of the headlines' informative words shared, and every one of the
    rarest words of a headline is a ``t:`` key; a body match needs shared body keys. Headline words
    were 70% of the candidates in a cold refresh of bench/scale_feeds.py's items (40 x 50), and the
    pairs that shared only one of them (47% of all) never matched.
    """
    return (
        len(shared) == 1
        and shared[0].startswith("t:")
        and not (same_source and apart <= timedelta(hours=similarity.CLOSE_HOURS))
    )


# A weak candidate that shares this many of the new article's related-story keys (its heaviest words) is
# compared after all: two reports whose bodies agree in part (headline+body) share their heavy words.
RESCUE_SHARED = 3


def _same_subject(reads: linking.Reads, fp: Fingerprint, weak: set[str]) -> set[str]:
    """Those of ``weak`` that share RESCUE_SHARED or more ``r:`` keys with ``fp`` (one indexed query)."""
    rkeys = sorted(relate.index_keys(fp))
    if not weak or not rkeys:
        return set()
    found = reads.rows("SHARED_KEYS", {"ids": sorted(weak), "keys": rkeys})
    return {aid for aid, n in found if n >= RESCUE_SHARED}


def _is_boilerplate(reads: linking.Reads, row: ArticleRow, body_hash: str, lo: datetime, hi: datetime) -> bool:
    """A body that very many of the source's stored items carry is a site-wide excerpt.

    Counted in the article's own source: A/B tests publish up to 20 variants
    of one story (Upworthy data), spread over time and sources, while a
    site's stock excerpt is on all its items.
    """
    same = reads.rows("SAME_BODY", {"source_id": row.source_id, "lo": lo, "hi": hi, "body_hash": body_hash})[0][0]
    return (same or 0) >= merge.BOILERPLATE_ARTICLES


def _stock_excerpts(
    guids: list[str], existing: dict[str, ArticleRow], fps: dict[str, Fingerprint]
) -> frozenset[str]:
    """Bodies that most items of this feed document (``guids``) carry: the site's stock excerpt.

    Seen on the whole document before any item is placed, so that not even
    the first few items merge on it (as they would if counted one by one).
    """
    if len(guids) < merge.BOILERPLATE_MIN:
        return frozenset()
    counts: dict[str, int] = {}
    for guid in guids:
        fp = fps.get(guid)
        digest = fp.body_hash if fp is not None else existing[guid].body_hash
        if digest:
            counts[digest] = counts.get(digest, 0) + 1
    return frozenset(
        h for h, n in counts.items() if n >= merge.BOILERPLATE_MIN and n >= merge.BOILERPLATE_SHARE * len(guids)
    )


def _splits(s: Session, story_ids: set[str]) -> frozenset[tuple[str, str]]:
    if len(story_ids) < 2:
        return frozenset()
    ids = list(story_ids)
    rows = s.execute(sql.SPLITS, {"ids": ids, "ids_b": ids}).all()
    return frozenset((a, b) for a, b in rows)


def _log_placed(source: str, row: ArticleRow) -> None:
    rule = (row.merge_reason or {}).get("rule", "")
    if rule == "new":
        log.info("new story %s: %s", row.story_id, row.title,
                 extra={"event": "story", "source": source, "story": row.story_id, "article": row.id})
    else:
        log.info("merged into story %s (%s): %s", row.story_id, rule, row.title,
                 extra={"event": "merge", "source": source, "story": row.story_id, "article": row.id, "rule": rule})


def _place(
    s: Session, row: ArticleRow, fp: Fingerprint, now: datetime, window: timedelta, level: str,
    stats: IngestStats, stock: frozenset[str] = frozenset(),
) -> None:
    """Put a new article into its story: an existing one (merging) or a new one."""
    candidates, boilerplate = _candidates(s, row, fp, window, level)
    boilerplate |= stock
    splits = _splits(s, {c.story_id for c in candidates})
    decision = merge.decide(fp, candidates, level=level, splits=splits, boilerplate=boilerplate)
    if decision.target is None:
        start_story(s, row, now, {"rule": "new"})
        stats.new_stories += 1
        return
    row.story_id = decision.target
    row.merge_reason = decision.reasons[0]
    stats.merged += 1
    story = s.get(StoryRow, decision.target)
    if story is not None and not story.item_hash and row.published < story.published:
        # Not yet published anywhere: the earliest article leads, whatever order
        # the sources answered in. Once published, id, link and date are fixed.
        story.chosen_article_id, story.published, story.updated = row.id, row.published, row.published
        story.title = row.title
    for absorbed in decision.story_ids[1:]:
        absorb(s, decision.target, absorbed, now)


def start_story(s: Session, article: ArticleRow, now: datetime, reason: dict) -> StoryRow:
    """A new story led by ``article``, dated from its publication."""
    story = StoryRow(
        id=new_story_id(), created_at=now, published=article.published, updated=article.published,
        title=article.title, chosen_article_id=article.id, item_hash="",
    )
    s.add(story)
    s.flush()
    article.story_id = story.id
    article.merge_reason = reason
    return story


def absorb(s: Session, keeper: str, absorbed: str, now: datetime) -> None:
    """The older story ``keeper`` takes over ``absorbed``, whose id becomes an alias."""
    s.execute(update(ArticleRow).where(ArticleRow.story_id == absorbed).values(story_id=keeper))
    s.execute(update(StoryAliasRow).where(StoryAliasRow.story_id == absorbed).values(story_id=keeper))
    _repoint_splits(s, absorbed, keeper)
    s.execute(delete(StoryRow).where(StoryRow.id == absorbed))
    s.add(StoryAliasRow(alias_id=absorbed, story_id=keeper, created_at=now))


def _repoint_splits(s: Session, old: str, new: str) -> None:
    rows = s.execute(
        select(StorySplitRow).where((StorySplitRow.story_a == old) | (StorySplitRow.story_b == old))
    ).scalars().all()
    for split in rows:
        other = split.story_b if split.story_a == old else split.story_a
        s.delete(split)
        if other != new:
            a, b = merge.split_key(new, other)
            if s.get(StorySplitRow, (a, b)) is None:
                s.add(StorySplitRow(story_a=a, story_b=b, created_at=split.created_at))
