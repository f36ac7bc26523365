"""Merge stage: decide which stored story a new article belongs to.

Pure decisions, no database: the store finds the candidates (articles that
share a canonical URL or a body fingerprint) and applies what ``decide``
returns. An article that matches several stories joins them all (the oldest
absorbs the others), so the grouping is the connected components of the
match relation and does not depend on the order articles arrive in.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

# A body shorter than this never merges anything on its own: short
# descriptions are generic ("This is powerful stuff.", "Read more…") and
# shared by unrelated articles.
MIN_BODY_WORDS = 30
# A body fingerprint already carried by this many articles is a site-wide
# boilerplate excerpt, not an article: it stops counting as evidence.
BOILERPLATE_ARTICLES = 8

_POST_APPEARED = re.compile(r"\bthe post\b.{0,300}?\bappeared first on\b.{0,120}$", re.I | re.S)
_CONTINUE = re.compile(r"(\[\s*(…|\.\.\.)\s*\]|\b(continue|read) (reading|more)\b.{0,80})$", re.I)
_NON_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class Candidate:
    """A stored article that might be the same story as the new one."""

    article_id: str
    story_id: str
    story_created: datetime
    canonical_url: str
    body_hash: str | None


@dataclass(frozen=True)
class Decision:
    """The stories the new article belongs to (none: it starts a new one), and why."""

    story_ids: tuple[str, ...] = ()
    reasons: tuple[dict, ...] = field(default_factory=tuple)

    @property
    def target(self) -> str | None:
        return self.story_ids[0] if self.story_ids else None


def normalise_body(text: str) -> str:
    """Plain text reduced to the words that identify an article's body.

    Syndicated copies of one body differ in typography (curly quotes,
    dashes, non-breaking spaces), case, and a trailing "The post … appeared
    first on …" line that WordPress adds; none of that should matter.
    """
    text = unicodedata.normalize("NFKC", text or "")
    text = _POST_APPEARED.sub("", text.strip())
    text = _CONTINUE.sub("", text.strip())
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def body_hash(text: str) -> str | None:
    """Fingerprint of a substantial body; None for short or empty bodies."""
    words = normalise_body(text)
    if len(words.split()) < MIN_BODY_WORDS:
        return None
    return hashlib.sha256(words.encode()).hexdigest()[:32]


def decide(
    canonical_url: str,
    body_fingerprint: str | None,
    candidates: list[Candidate],
    boilerplate: frozenset[str] = frozenset(),
) -> Decision:
    """Which stories share this article's page or its substantial body.

    Stories come oldest first, so ``Decision.target`` is the one that keeps
    its id when the article joins several.
    """
    matched: dict[str, dict] = {}
    for cand in sorted(candidates, key=lambda c: (c.story_created, c.story_id)):
        reason = None
        if canonical_url and cand.canonical_url == canonical_url:
            reason = {"rule": "canonical_url", "score": 1.0, "with": cand.article_id, "url": canonical_url}
        elif body_fingerprint and cand.body_hash == body_fingerprint and body_fingerprint not in boilerplate:
            reason = {"rule": "body_hash", "score": 1.0, "with": cand.article_id}
        if reason and cand.story_id not in matched:
            matched[cand.story_id] = reason
    return Decision(tuple(matched), tuple(matched.values()))
