"""Reading stories back out, for ``syndicator stories`` and its ``--json`` contract."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from syndicator.store.schema import ArticleRow, SourceRow, StoryAliasRow, StoryRow


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def story_dicts(
    s: Session, story_ids: list[str], headline: str = "first", related_limit: int = 0, level: str = "article"
) -> list[dict]:
    """Stories in the order given, as the ``stories --json`` contract shapes them."""
    from syndicator.publish.items import build_items

    items = build_items(s, story_ids, headline, level, related_limit)
    if not items:
        return []
    rows = s.execute(
        select(ArticleRow, SourceRow.name)
        .join(SourceRow, SourceRow.id == ArticleRow.source_id)
        .where(ArticleRow.story_id.in_([i.id for i in items]))
        .order_by(ArticleRow.published, ArticleRow.fetched_at, ArticleRow.id)
    ).all()
    articles: dict[str, list[dict]] = {}
    for a, source in rows:
        articles.setdefault(a.story_id, []).append(
            {
                "id": a.id,
                "source": source,
                "guid": a.guid,
                "url": a.url,
                "title": a.title,
                "published": rfc3339(a.published),
            }
        )
    return [
        {
            "id": i.id,
            "title": i.title,
            "url": i.link,
            "published": rfc3339(i.published),
            "articles": articles.get(i.id, []),
            "related": [{"id": r.id, "title": r.title, "url": r.url} for r in i.related],
        }
        for i in items
    ]


def newest_story_ids(s: Session, limit: int, source_names: list[str] | None = None) -> list[str]:
    stmt = select(StoryRow.id).order_by(StoryRow.published.desc(), StoryRow.id)
    if source_names is not None:
        sub = (
            select(ArticleRow.story_id)
            .join(SourceRow, SourceRow.id == ArticleRow.source_id)
            .where(SourceRow.name.in_(source_names))
        )
        stmt = stmt.where(StoryRow.id.in_(sub))
    if limit:
        stmt = stmt.limit(limit)
    return list(s.scalars(stmt))


def resolve_story_id(s: Session, story_id: str) -> str | None:
    """A story id, or the id of the story that absorbed it."""
    if s.get(StoryRow, story_id) is not None:
        return story_id
    alias = s.get(StoryAliasRow, story_id)
    return alias.story_id if alias else None


def explain(s: Session, story_id: str, related_limit: int = 5, headline: str = "first") -> dict | None:
    from syndicator.store.related import related_stories, story_heads

    real = resolve_story_id(s, story_id)
    if real is None:
        return None
    story = s.get(StoryRow, real)
    links = related_stories(s, [real], related_limit).get(real, [])
    heads = story_heads(s, [ln.story_id for ln in links], headline)
    aliases = list(s.scalars(select(StoryAliasRow.alias_id).where(StoryAliasRow.story_id == real)))
    rows = s.execute(
        select(ArticleRow, SourceRow.name)
        .join(SourceRow, SourceRow.id == ArticleRow.source_id)
        .where(ArticleRow.story_id == real)
        .order_by(ArticleRow.published, ArticleRow.id)
    ).all()
    return {
        "id": real,
        "asked_for": story_id,
        "aliases": aliases,
        "title": story.title,
        "chosen_article": story.chosen_article_id,
        "published": rfc3339(story.published),
        "updated": rfc3339(story.updated),
        "articles": [
            {"id": a.id, "source": src, "title": a.title, "url": a.url, "merge": a.merge_reason}
            for a, src in rows
        ],
        "related": [
            {"id": ln.story_id, "title": heads[ln.story_id][0], "url": heads[ln.story_id][1], "reason": ln.reason}
            for ln in links
            if ln.story_id in heads
        ],
    }
