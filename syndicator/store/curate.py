"""A person's corrections to merging: ``unmerge`` and ``merge`` by hand.

An unmerged article gets a story of its own and the two stories are recorded
as split (``story_splits``), so no later article can join them again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from syndicator import merge
from syndicator.errors import UsageError
from syndicator.store.ingest import absorb, start_story
from syndicator.store.queries import resolve_story_id
from syndicator.store.schema import ArticleRow, StoryRow, StorySplitRow


def unmerge(s: Session, article_id: str, now: datetime) -> str:
    """Split ``article_id`` out of its story into a new one; returns the new story's id."""
    article = s.get(ArticleRow, article_id)
    if article is None:
        raise UsageError(f"no article with id {article_id!r}")
    old = s.get(StoryRow, article.story_id)
    members = s.scalar(select(func.count()).select_from(ArticleRow).where(ArticleRow.story_id == old.id))
    if members <= 1:
        raise UsageError(f"article {article_id} is already a story of its own ({old.id})")
    story = start_story(s, article, now, {"rule": "unmerged", "from": old.id, "at": now.isoformat()})
    _lead_again(s, old, article.id)
    a, b = merge.split_key(old.id, story.id)
    s.add(StorySplitRow(story_a=a, story_b=b, created_at=now))
    return story.id


def merge_by_hand(s: Session, article_id: str, story_id: str, now: datetime) -> str:
    """Move ``article_id`` into ``story_id`` (or the story that absorbed it); returns that story's id."""
    article = s.get(ArticleRow, article_id)
    if article is None:
        raise UsageError(f"no article with id {article_id!r}")
    target = resolve_story_id(s, story_id)
    if target is None:
        raise UsageError(f"no story with id {story_id!r}")
    old = article.story_id
    if old == target:
        return target
    a, b = merge.split_key(old, target)
    s.execute(delete(StorySplitRow).where(StorySplitRow.story_a == a, StorySplitRow.story_b == b))
    article.story_id = target
    article.merge_reason = {"rule": "manual", "at": now.isoformat()}
    s.flush()
    remaining = s.scalar(select(func.count()).select_from(ArticleRow).where(ArticleRow.story_id == old))
    if not remaining:
        absorb(s, target, old, now)  # the emptied story's id lives on as an alias
    else:
        _lead_again(s, s.get(StoryRow, old), article.id)
    return target


def _lead_again(s: Session, story: StoryRow, leaving: str) -> None:
    """If the leaving article led ``story``, its earliest remaining article leads it now (same id)."""
    if story.chosen_article_id != leaving:
        return
    s.flush()
    successor = s.scalars(
        select(ArticleRow)
        .where(ArticleRow.story_id == story.id)
        .order_by(ArticleRow.published, ArticleRow.fetched_at, ArticleRow.id)
        .limit(1)
    ).one()
    story.chosen_article_id, story.title = successor.id, successor.title
