"""What both parsers share: building an ``Entry`` from loose values."""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from syndicator.model import UNTITLED, Enclosure, Entry, ParsedFeed
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
    enclosures = tuple(enclosures)
    clean_title = plain_title(title)[:MAX_TITLE] or untitled_headline(text, url, enclosures)
    cats = tuple(dict.fromkeys(c.strip() for c in categories if c and c.strip()))
    guid = (guid or "").strip() or url
    if not guid:
        # No id and no link: the item's whole content names it, so two different
        # untitled items (feedparser's test suite has hundreds) stay two items.
        whole = [clean_title, text, summary, content, author, *cats, *(e.url for e in enclosures),
                 published.isoformat() if published else "", updated.isoformat() if updated else ""]
        guid = "sha1:" + hashlib.sha1("\n".join(whole).encode()).hexdigest()
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


def untitled_headline(text: str, url: str, enclosures: tuple[Enclosure, ...] = ()) -> str:
    """A headline for an item without a title (RSS allows it): its first words, else its link.

    Never empty: feedgen refuses an RSS item with neither title nor description and an
    Atom entry without a title, and one such item used to stop the whole publish
    (feedparser's sanitize test files hold items whose only content is an image).
    """
    words = plain_title(text).split()
    if words:
        return " ".join(words[:_UNTITLED_WORDS]) + ("…" if len(words) > _UNTITLED_WORDS else "")
    for candidate in (url, *(e.url for e in enclosures)):
        if candidate:
            return candidate[:MAX_TITLE]
    return UNTITLED


def finish_entries(feed: ParsedFeed, url: str) -> ParsedFeed:
    """Drop repeated guids (first wins): the same item twice in one document is one item.

    An item left out of the parse as stored (``feed.unchanged``, syndicator.parse.items) stands for its guid:
    a later item repeating it is dropped too, as it would have been in a whole parse.
    Every other item feedparser finds is kept, even one with nothing but an author or a
    date: what the publisher sent is stored, and it is the feed's filters that choose.
    """
    seen: set[str] = set(feed.unchanged)
    kept = []
    for e in feed.entries:
        if e.guid in seen:
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
