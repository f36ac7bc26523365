"""Merge stage: decide which stored stories a new article belongs to.

Pure decisions, no database. The store finds the candidates (articles that
share a key of the merge index within the time window) and applies what
``decide`` returns; ``syndicator.similarity.compare`` says whether two
articles are one story. An article that matches several stories joins them
all (the oldest absorbs the others), so the grouping is the connected
components of the match relation and does not depend on arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from syndicator import similarity
from syndicator.similarity import Fingerprint

# A body carried by this many articles of one source in the window is a
# site-wide boilerplate excerpt, not an article: it stops counting as
# evidence. (A/B tests publish up to 20 variants of one story, found in the
# Upworthy data, but they are not all one feed's items in one window.)
BOILERPLATE_ARTICLES = 10
# ... or, within one fetched feed document, this many items being at least
# this share of the document's items.
BOILERPLATE_MIN = 3
BOILERPLATE_SHARE = 0.5
# A key with more postings than this in the window is too common to
# narrow anything down (think a wire service's standard first words):
# it is skipped, which keeps the cost per article flat.
MAX_POSTINGS_PER_KEY = 200


@dataclass(frozen=True)
class Candidate:
    """A stored article that might be the same story as the new one."""

    article_id: str
    story_id: str
    story_created: datetime
    fingerprint: Fingerprint


@dataclass(frozen=True)
class Decision:
    """The stories the new article belongs to, oldest first (none: a new story), and why."""

    story_ids: tuple[str, ...] = ()
    reasons: tuple[dict, ...] = ()

    @property
    def target(self) -> str | None:
        return self.story_ids[0] if self.story_ids else None


def split_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def decide(
    new: Fingerprint,
    candidates: Iterable[Candidate],
    *,
    level: str = "article",
    splits: frozenset[tuple[str, str]] = frozenset(),
    boilerplate: frozenset[str] = frozenset(),
) -> Decision:
    """The stories ``new`` matches, each with its best-scoring reason.

    Stories a person split apart (``splits``) are never joined together:
    the older one that matches wins.
    """
    best: dict[str, tuple[similarity.Match, Candidate]] = {}
    for cand in candidates:
        if level == "article" and similarity.apart(new, cand.fingerprint):
            continue  # proven no match, without the full comparison
        match = similarity.compare(new, cand.fingerprint, level)
        if match is None:
            continue
        if new.body_hash and new.body_hash in boilerplate and match.kind not in ("url",):
            continue  # the shared "body" is a site-wide excerpt
        held = best.get(cand.story_id)
        if held is None or (match.score, cand.article_id) > (held[0].score, held[1].article_id):
            best[cand.story_id] = (match, cand)
    ordered = sorted(best.items(), key=lambda kv: (kv[1][1].story_created, kv[0]))
    chosen: list[str] = []
    reasons: list[dict] = []
    for story_id, (match, cand) in ordered:
        if any(split_key(story_id, other) in splits for other in chosen):
            continue
        chosen.append(story_id)
        reasons.append(
            {"rule": match.kind, "score": round(match.score, 4), "with": cand.article_id, "signals": match.signals}
        )
    return Decision(tuple(chosen), tuple(reasons))
