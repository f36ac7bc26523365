"""Plain data passed between the pipeline's stages.

Every stage (fetch → parse → merge → store → publish) takes and returns these
frozen dataclasses, so each stage can be tested on its own without a database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

# A date further ahead than this is a publisher's clock or time-zone error;
# taking it at face value would pin the item to the top of every feed.
FUTURE_SLACK = timedelta(hours=1)

# The headline of an item with no title, no words and no link (see parse.common.untitled_headline).
UNTITLED = "Untitled"


@dataclass(frozen=True)
class Enclosure:
    url: str
    type: str = ""
    length: int = 0


@dataclass(frozen=True)
class Entry:
    """One item of a source feed, normalised.

    ``summary`` and ``content`` hold sanitised HTML; ``text`` is the plain text
    used for matching (content if any, else summary). Dates are timezone-aware
    UTC or None when the source gave none that could be read.
    """

    guid: str
    url: str
    title: str
    summary: str = ""
    content: str = ""
    text: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    author: str = ""
    categories: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()
    image: str = ""
    language: str = ""


def content_hash(e: Entry) -> str:
    """What an entry says, hashed: an article is updated when its source's entry hashes differently.

    Here, not in the store, because the parse workers (syndicator.prepare) skip fingerprinting entries whose
    hash the store already holds, and importing the store (SQLAlchemy) cost each worker 28 MB of RSS.
    """
    data = [
        e.title, e.url, e.summary, e.content, e.author, list(e.categories),
        [asdict(x) for x in e.enclosures], e.image, e.language,
        e.published.isoformat() if e.published else "",
        e.updated.isoformat() if e.updated else "",
    ]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ParsedFeed:
    """What the parser made of one fetched document."""

    title: str = ""
    link: str = ""
    language: str = ""
    entries: tuple[Entry, ...] = ()
    ttl_minutes: int | None = None
    skip_hours: tuple[int, ...] = ()  # RSS <skipHours>: UTC hours 0-23 not to fetch in
    skip_days: tuple[str, ...] = ()  # RSS <skipDays>: "monday" ... "sunday"
    # A parse problem that still let entries through (feedparser's "bozo");
    # recorded on the source, never fatal by itself.
    warning: str = ""
    kind: str = ""  # "rss20", "atom10", "json11", ... as detected
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    # guid -> the hash of the item it was parsed from, as sent (syndicator.parse.items); empty when the
    # document was not split into items (an unusual document, parsed whole).
    raw_hashes: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # Guids of the items left out of the parse because the store holds them as sent (``known_items``).
    unchanged: tuple[str, ...] = ()
