"""Plain data passed between the pipeline's stages.

Every stage (fetch → parse → merge → store → publish) takes and returns these
frozen dataclasses, so each stage can be tested on its own without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
