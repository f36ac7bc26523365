"""What both parsers share: building an ``Entry`` from loose values."""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from syndicator.model import Enclosure, Entry, ParsedFeed
from syndicator.sanitize import html_to_text, plain_title, sanitize_html
from syndicator.urls import absolute, clean_url

MAX_TITLE = 500
_UNTITLED_WORDS = 12


def make_entry(
    *,
    base: str,
    guid: str,
    link: str,
    title: str,
    summary_html: str,
    content_html: str,
    published: datetime | None,
    updated: datetime | None,
    author: str = "",
    categories: Iterable[str] = (),
    enclosures: Iterable[Enclosure] = (),
    image: str = "",
    language: str = "",
    strip_tracking_pixels: bool = True,
) -> Entry:
    url = clean_url(absolute(link, base))
    policy = {"strip_tracking_pixels": strip_tracking_pixels}
    summary = sanitize_html(summary_html, url or base, **policy) if summary_html else ""
    content = sanitize_html(content_html, url or base, **policy) if content_html else ""
    text = html_to_text(content or summary)
    clean_title = plain_title(title)[:MAX_TITLE]
    if not clean_title:
        # An untitled item (RSS allows it) still needs a headline in our feeds.
        words = plain_title(text).split()
        clean_title = " ".join(words[:_UNTITLED_WORDS]) + ("…" if len(words) > _UNTITLED_WORDS else "")
    guid = (guid or "").strip() or url
    if not guid:
        digest = hashlib.sha1(f"{clean_title}\n{text}".encode()).hexdigest()
        guid = f"sha1:{digest}"
    cats = tuple(dict.fromkeys(c.strip() for c in categories if c and c.strip()))
    return Entry(
        guid=guid[:2000],
        url=url,
        title=clean_title,
        summary=summary,
        content=content,
        text=text,
        published=published or updated,
        updated=updated,
        author=plain_title(author)[:300],
        categories=cats,
        enclosures=tuple(
            Enclosure(absolute(e.url, url or base), e.type, e.length) for e in enclosures if e.url
        ),
        image=absolute(image, url or base),
        language=language,
    )


def finish_entries(feed: ParsedFeed, url: str) -> ParsedFeed:
    """Drop repeated guids (first wins) and items with nothing to show."""
    seen: set[str] = set()
    kept = []
    for e in feed.entries:
        if e.guid in seen or not (e.title or e.url):
            continue
        seen.add(e.guid)
        kept.append(e)
    return replace(feed, entries=tuple(kept))


def struct_to_datetime(value) -> datetime | None:
    """feedparser's UTC ``time.struct_time`` to an aware datetime."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def parse_date(value: str) -> datetime | None:
    """RFC 3339 (JSON Feed) or RFC 822 date text to aware UTC."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
