"""Writing entries: new articles are merged into stories, changed ones updated."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from syndicator import merge
from syndicator.model import Entry
from syndicator.store.schema import ArticleRow, SourceRow, StoryAliasRow, StoryRow
from syndicator.urls import canonical_url

# Article ids are derived from (source, guid) so the same item always gets
# the same id, in every process and on every retry.
ARTICLE_NAMESPACE = uuid.UUID("5b0f7a52-3c59-4b8e-9d0e-2f6f1c0d9a11")
# A date further ahead than this is a publisher's clock or time-zone error;
# taking it at face value would pin the item to the top of every feed.
FUTURE_SLACK = timedelta(hours=1)


@dataclass
class IngestStats:
    new_articles: int = 0
    updated_articles: int = 0
    unchanged: int = 0
    new_stories: int = 0
    merged: int = 0  # new articles that joined an existing story


def article_id(source: str, guid: str) -> str:
    key = source + "\n" + guid
    return f"urn:uuid:{uuid.uuid5(ARTICLE_NAMESPACE, key)}"


def new_story_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def content_hash(e: Entry) -> str:
    data = [
        e.title, e.url, e.summary, e.content, e.author, list(e.categories),
        [asdict(x) for x in e.enclosures], e.image, e.language,
        e.published.isoformat() if e.published else "",
        e.updated.isoformat() if e.updated else "",
    ]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()[:32]


def ingest_entries(
    s: Session, source: SourceRow, entries: list[Entry], now: datetime, window_seconds: float
) -> IngestStats:
    stats = IngestStats()
    existing = _existing_articles(s, source.id, [e.guid for e in entries])
    window = timedelta(seconds=window_seconds)
    for entry in entries:
        row = existing.get(entry.guid)
        digest = content_hash(entry)
        if row is not None:
            if row.content_hash == digest:
                stats.unchanged += 1
                continue
            _fill(row, entry, now, keep_published=True)
            row.content_hash = digest
            stats.updated_articles += 1
            continue
        row = ArticleRow(
            id=article_id(source.name, entry.guid), source_id=source.id, guid=entry.guid,
            fetched_at=now, content_hash=digest, merge_reason={},
        )
        _fill(row, entry, now, keep_published=False)
        _place(s, row, now, window, stats)
        s.add(row)
        s.flush()  # later entries of this batch must see this one as a candidate
        existing[entry.guid] = row
        stats.new_articles += 1
    source.entries_seen += len(entries)
    return stats


def _existing_articles(s: Session, source_id: int, guids: list[str]) -> dict[str, ArticleRow]:
    found: dict[str, ArticleRow] = {}
    for start in range(0, len(guids), 500):  # stay under every database's parameter limit
        chunk = guids[start : start + 500]
        stmt = select(ArticleRow).where(ArticleRow.source_id == source_id, ArticleRow.guid.in_(chunk))
        found.update((r.guid, r) for r in s.scalars(stmt))
    return found


def _fill(row: ArticleRow, e: Entry, now: datetime, *, keep_published: bool) -> None:
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
    row.body_hash = merge.body_hash(e.text)
    if not keep_published:
        published = e.published or now
        row.published = min(published, now + FUTURE_SLACK)


def _place(s: Session, row: ArticleRow, now: datetime, window: timedelta, stats: IngestStats) -> None:
    """Put a new article into its story: an existing one (merging) or a new one."""
    conditions = []
    if row.canonical_url:
        conditions.append(ArticleRow.canonical_url == row.canonical_url)
    if row.body_hash:
        conditions.append(
            (ArticleRow.body_hash == row.body_hash)
            & (ArticleRow.published >= row.published - window)
            & (ArticleRow.published <= row.published + window)
        )
    candidates: list[merge.Candidate] = []
    boilerplate: frozenset[str] = frozenset()
    if conditions:
        stmt = (
            select(ArticleRow.id, ArticleRow.story_id, StoryRow.created_at,
                   ArticleRow.canonical_url, ArticleRow.body_hash)
            .join(StoryRow, StoryRow.id == ArticleRow.story_id)
            .where(or_(*conditions))
            .limit(200)
        )
        candidates = [merge.Candidate(*r) for r in s.execute(stmt)]
        same_body = sum(1 for c in candidates if row.body_hash and c.body_hash == row.body_hash)
        if same_body >= merge.BOILERPLATE_ARTICLES:
            boilerplate = frozenset({row.body_hash})
    decision = merge.decide(row.canonical_url, row.body_hash, candidates, boilerplate)
    if decision.target is None:
        story = StoryRow(
            id=new_story_id(), created_at=now, published=row.published, updated=row.published,
            title=row.title, chosen_article_id=row.id, item_hash="",
        )
        s.add(story)
        s.flush()
        row.story_id = story.id
        row.merge_reason = {"rule": "new"}
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


def absorb(s: Session, keeper: str, absorbed: str, now: datetime) -> None:
    """The older story ``keeper`` takes over ``absorbed``, whose id becomes an alias."""
    s.execute(update(ArticleRow).where(ArticleRow.story_id == absorbed).values(story_id=keeper))
    s.execute(update(StoryAliasRow).where(StoryAliasRow.story_id == absorbed).values(story_id=keeper))
    s.execute(delete(StoryRow).where(StoryRow.id == absorbed))
    s.add(StoryAliasRow(alias_id=absorbed, story_id=keeper, created_at=now))
