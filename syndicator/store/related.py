"""Related-story links in the store: written as articles arrive, read when publishing.

Writing (:func:`link_article`) is incremental: a new article is compared with
the articles that share one of its ``r:`` keys within the window, never with a
scan of the store (:func:`syndicator.linking.links_for`, whose reads and caches
this module shares with merging). A link is one row read both ways, so the
older story gains the link too and is republished with it (its item hash
changes, so its ``updated`` moves; its id and ``published`` do not).

Reading (:func:`related_stories`) turns article links into story links: the
other article's current story, never the story itself (its variants), the
best score per story, best first.
"""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from syndicator import relate
from syndicator.linking import (  # noqa: F401 (the reads and caches linking shares with merging, used as related.X)
    _COMPACT_CACHE,
    _FP_CACHE,
    cached_fingerprint,
    compacts,
    fingerprints,
    forget,
    links_for,
    remember,
    shed,
)
from syndicator.similarity import Fingerprint
from syndicator.store import sql
from syndicator.store.schema import ArticleLinkRow, ArticleRow, StoryRow


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
    return len(rows)


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
        rows = [
            row
            # a link is one row, its articles in either column (schema.ArticleLinkRow): both ways round
            for here, there in ((ArticleLinkRow.article_id, ArticleLinkRow.other_id),
                                (ArticleLinkRow.other_id, ArticleLinkRow.article_id))
            for row in s.execute(
                select(mine.c.story_id, other.c.story_id, ArticleLinkRow.score, ArticleLinkRow.reason)
                .select_from(ArticleLinkRow)
                .join(mine, mine.c.id == here)
                .join(other, other.c.id == there)
                .where(mine.c.story_id.in_(chunk), other.c.story_id != mine.c.story_id)
            ).all()
        ]
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
