"""What an output feed holds: its stories as format-neutral ``Item`` values.

Every renderer (RSS, Atom, JSON Feed, the index page) draws from the same
items, so the three formats always agree. An item's id is its story's id,
never an article's: a new variant must not make a reader show the story again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from datetime import datetime
from html import escape

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session, load_only

from syndicator.config import Config, FeedConfig
from syndicator.model import UNTITLED
from syndicator.store.schema import ArticleRow, SourceRow, StoryRow


@dataclass(frozen=True)
class Variant:
    """Another headline the story was published under."""

    title: str
    url: str
    source: str


@dataclass(frozen=True)
class Related:
    id: str
    title: str
    url: str


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    link: str
    published: datetime
    updated: datetime
    body_html: str  # the chosen article's sanitised content, then our own additions
    summary_html: str
    author: str
    categories: tuple[str, ...]
    enclosures: tuple[dict, ...]
    image: str
    language: str
    source: str
    variants: tuple[Variant, ...]
    related: tuple[Related, ...]
    article_ids: tuple[str, ...]

    def content_hash(self) -> str:
        """Hash of everything a reader sees except ``updated`` itself.

        Stored as each story's ``item_hash``: the JSON hashed must stay what ``dataclasses.asdict`` gives
        (tests/test_publish_cost.py checks), or every story's ``updated`` would move on upgrade. Built by
        hand because ``asdict`` deep-copies every value, which was a sixth of an unchanged publish.
        """
        data = {f: getattr(self, f) for f in _ITEM_FIELDS}
        data["published"] = self.published.isoformat()
        data["variants"] = [{"title": v.title, "url": v.url, "source": v.source} for v in self.variants]
        data["related"] = [{"id": r.id, "title": r.title, "url": r.url} for r in self.related]
        blob = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


_ITEM_FIELDS = tuple(f.name for f in fields(Item) if f.name != "updated")

# How many of the newest stories are looked at, at most, before a feed's stories are looked for from its
# sources' articles (see feed_story_ids): the larger of these two.
RECENT_SCAN = 2000
SCAN_FACTOR = 20  # times the feed's limit


def feed_story_ids(s: Session, config: Config, feed: FeedConfig, now: datetime | None = None) -> list[str]:
    """The newest ``feed.limit`` stories with an article from one of the feed's sources
    that pass the feed's filters (checked while paging, so filtering never costs a scan
    of stories older than the last one kept, unless too few pass).

    The newest stories are looked at first (an index walk, then one lookup per story): a
    feed of most sources finds its stories there, whatever the store's size. Only when
    too few of them qualify (a feed of rare sources, strict filters) does it ask the other
    way round, from the sources' articles, which costs what those sources hold."""
    names = feed.sources if "*" not in feed.sources else tuple(src.name for src in config.sources)
    # A feed of most sources finds its stories among the first 2 x limit; one of fewer sources looks
    # further, up to RECENT_SCAN stories (or SCAN_FACTOR x limit), before asking the other way round.
    last = max(RECENT_SCAN, SCAN_FACTOR * feed.limit)
    scan = min(2 * feed.limit, last)
    while True:
        recent = list(s.scalars(_with_article_from(
            select(StoryRow.id, StoryRow.published).order_by(StoryRow.published.desc(), StoryRow.id).limit(scan),
            names,
        )))
        kept = _passing(s, feed, recent, now, feed.limit)
        if len(kept) >= feed.limit or _at_most(s, scan):
            return kept[: feed.limit]
        if scan >= last:
            break
        scan = min(scan * 8, last)
    base = (
        select(StoryRow.id)
        .join(ArticleRow, ArticleRow.story_id == StoryRow.id)
        .join(SourceRow, SourceRow.id == ArticleRow.source_id)
        .where(SourceRow.name.in_(names))
        .group_by(StoryRow.id, StoryRow.published)
        .order_by(StoryRow.published.desc(), StoryRow.id)
    )
    from syndicator.publish import filters

    if not filters.has_filters(feed):
        return list(s.scalars(base.limit(feed.limit)))
    kept, page, offset = [], max(feed.limit * 2, 200), 0
    while len(kept) < feed.limit:
        ids = list(s.scalars(base.limit(page).offset(offset)))
        if not ids:
            break
        offset += len(ids)
        kept.extend(_passing(s, feed, ids, now, feed.limit - len(kept)))
    return kept[: feed.limit]


def _with_article_from(newest, names):
    """The stories of ``newest`` (a select of id and published) with an article from one of ``names``,
    in the same order (newest first, then by id)."""
    recent = newest.subquery()
    has_article = (
        select(ArticleRow.id)
        .join(SourceRow, SourceRow.id == ArticleRow.source_id)
        .where(ArticleRow.story_id == recent.c.id, SourceRow.name.in_(names))
        .exists()
    )
    return select(recent.c.id).where(has_article).order_by(recent.c.published.desc(), recent.c.id)


def _at_most(s: Session, n: int) -> bool:
    """The store holds at most ``n`` stories (counted no further than n + 1)."""
    return (s.scalar(select(func.count()).select_from(select(StoryRow.id).limit(n + 1).subquery())) or 0) <= n


def _passing(s: Session, feed: FeedConfig, ids: list[str], now: datetime | None, wanted: int) -> list[str]:
    """The first ``wanted`` of ``ids`` (in order) that pass the feed's filters; their texts are read a
    page at a time, so a feed without filters, or whose first stories pass, reads few."""
    from syndicator.publish import filters

    if not filters.has_filters(feed):
        return ids[:wanted]
    kept: list[str] = []
    page = max(feed.limit * 2, 200)
    for at in range(0, len(ids), page):
        chunk = ids[at: at + page]
        texts = _story_texts(s, chunk)
        kept.extend(i for i in chunk if i in texts and filters.accepts(feed, texts[i], now or texts[i].published))
        if len(kept) >= wanted:
            break
    return kept[:wanted]


def _story_texts(s: Session, story_ids: list[str]):
    from syndicator.publish.filters import StoryText

    stories = {r.id: r for r in s.scalars(select(StoryRow).where(StoryRow.id.in_(story_ids)))}
    grouped: dict[str, list[ArticleRow]] = {}
    # only what filters read: a stored article also holds its fingerprint, page text and HTML
    only = load_only(ArticleRow.id, ArticleRow.story_id, ArticleRow.title, ArticleRow.text, ArticleRow.categories)
    for a in s.scalars(select(ArticleRow).where(ArticleRow.story_id.in_(story_ids)).options(only)):
        grouped.setdefault(a.story_id, []).append(a)
    out = {}
    for sid, members in grouped.items():
        story = stories[sid]
        chosen = next((a for a in members if a.id == story.chosen_article_id), members[0])
        out[sid] = StoryText(
            titles=tuple(a.title for a in members),
            body=chosen.text,
            categories=tuple(c for a in members for c in (a.categories or ())),
            published=story.published,
        )
    return out


# The article columns an item is made of: not the fingerprint, merge reason, plain text or page text,
# which are most of a stored article's bytes (decoding the fingerprints was a third of a publish).
_ITEM_COLUMNS = (
    ArticleRow.id, ArticleRow.story_id, ArticleRow.url, ArticleRow.title, ArticleRow.summary, ArticleRow.content,
    ArticleRow.author, ArticleRow.categories, ArticleRow.enclosures, ArticleRow.image, ArticleRow.language,
    ArticleRow.published, ArticleRow.fetched_at,
)


def build_items(
    s: Session, story_ids: list[str], headline: str, level: str = "article", related_limit: int = 0,
    stories: dict[str, StoryRow] | None = None,
) -> list[Item]:
    """Items for these stories, in the given order, each with up to ``related_limit`` related stories.
    ``stories``: the story rows, when the caller has loaded them already (publish settles their dates)."""
    if not story_ids:
        return []
    links = story_related(s, story_ids, related_limit, headline)
    if stories is None:
        stories = load_stories(s, story_ids)
    # Plain rows, not ORM objects: an item only reads them (building ~300 mapped objects was a tenth of
    # a regenerated feed).
    rows = s.execute(
        select(*_ITEM_COLUMNS, SourceRow.name.label("source_name"))
        .join(SourceRow, SourceRow.id == ArticleRow.source_id)
        .where(ArticleRow.story_id.in_(story_ids))
        .order_by(ArticleRow.published, ArticleRow.fetched_at, ArticleRow.id)
    ).all()
    by_story: dict[str, list[tuple[Row, str]]] = {}
    for row in rows:
        by_story.setdefault(row.story_id, []).append((row, row.source_name))
    items = []
    for sid in story_ids:
        story = stories.get(sid)
        members = by_story.get(sid)
        if story is None or not members:
            continue
        items.append(_item(story, members, headline, level, links.get(sid, ())))
    return items


def load_stories(s: Session, story_ids: list[str]) -> dict[str, StoryRow]:
    return {r.id: r for r in s.scalars(select(StoryRow).where(StoryRow.id.in_(story_ids)))}


def story_related(s: Session, story_ids: list[str], limit: int, headline: str) -> dict[str, tuple[Related, ...]]:
    """Each story's related stories as links: the related story's headline and its chosen article's URL."""
    from syndicator.store.related import related_stories, story_heads

    found = related_stories(s, story_ids, limit)
    heads = story_heads(s, sorted({ln.story_id for links in found.values() for ln in links}), headline)
    return {
        sid: tuple(Related(ln.story_id, *heads[ln.story_id]) for ln in links if ln.story_id in heads)
        for sid, links in found.items()
    }


def _item(
    story: StoryRow, members: list[tuple[Row, str]], headline: str, level: str,
    related: tuple[Related, ...] = (),
) -> Item:
    chosen, source = next(((a, src) for a, src in members if a.id == story.chosen_article_id), members[0])
    title = chosen.title
    if headline == "latest":
        # The newest arrival's headline; the link, id and date stay the story's own.
        title = max(members, key=lambda m: (m[0].fetched_at, m[0].published, m[0].id))[0].title
    # Articles stored before every entry got a headline (parse.common.untitled_headline) may have none;
    # feedgen refuses an item without a title, and one such item would stop the whole publish.
    title = title or chosen.url or UNTITLED
    seen = {title.casefold()}
    variants = []
    for article, src in members:
        if article.title.casefold() in seen:
            continue
        seen.add(article.title.casefold())
        variants.append(Variant(article.title, article.url, src))
    body = chosen.content or chosen.summary
    # At event level the other articles are other outlets' coverage, not other headlines of one article.
    label = "Coverage" if level == "event" else "Also published as"
    body_html = body + _variants_html(variants, label) + _related_html(related)
    return Item(
        id=story.id,
        title=title,
        link=chosen.url,
        published=story.published,
        updated=story.updated,
        body_html=body_html,
        summary_html=chosen.summary if chosen.content else "",
        author=chosen.author,
        categories=tuple(chosen.categories or ()),
        enclosures=tuple(chosen.enclosures or ()),
        image=chosen.image,
        language=chosen.language,
        source=source,
        variants=tuple(variants),
        related=related,
        article_ids=tuple(a.id for a, _ in members),
    )


def _variants_html(variants: list[Variant], label: str) -> str:
    if not variants:
        return ""
    lis = "".join(
        f'<li><a href="{escape(v.url)}">{escape(v.title)}</a> ({escape(v.source)})</li>'
        if v.url
        else f"<li>{escape(v.title)} ({escape(v.source)})</li>"
        for v in variants
    )
    return f"<p>{label}:</p><ul>{lis}</ul>"


def _related_html(related: tuple[Related, ...]) -> str:
    if not related:
        return ""
    lis = "".join(
        f'<li><a href="{escape(r.url)}">{escape(r.title)}</a></li>' if r.url else f"<li>{escape(r.title)}</li>"
        for r in related
    )
    return f"<p>Related stories:</p><ul>{lis}</ul>"


def count_stories(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(StoryRow)) or 0
