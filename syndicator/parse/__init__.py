"""Parse stage: a fetched document becomes a ``ParsedFeed`` of normalised entries.

RSS 0.9x/1.0/2.0 and Atom go through feedparser; JSON Feed, which feedparser
does not read, has a parser of its own. Both produce the same ``Entry``
values: plain-text titles, sanitised HTML, absolute links, UTC dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from syndicator.errors import ParseError
from syndicator.model import ParsedFeed
from syndicator.parse.common import finish_entries

__all__ = ["ParseError", "parse_document"]


def parse_document(
    body: bytes, url: str = "", content_type: str = "", *, strip_tracking_pixels: bool = True,
    known_items: Mapping[str, str] | None = None,
) -> ParsedFeed:
    """Parse one document; raises ParseError when it holds no feed at all.

    ``strip_tracking_pixels``: drop known tracking images from the HTML (``[output] strip_tracking_pixels``).
    ``known_items``: item hash -> guid of the source's stored articles: the items sent as they were then are
    not parsed again, their guids are in ``unchanged`` (see syndicator.parse.items)."""
    if not body or not body.strip():
        raise ParseError("empty document")
    media = content_type.split(";")[0].strip().lower()
    if media.startswith(_NOT_FEEDS):
        # feedparser reads anything as loose markup; an image or a video is refused by its type.
        raise ParseError(f"not a feed: the server sent {media}")
    if _looks_like_json(body, content_type):
        from syndicator.parse.jsonfeed import parse_json_feed

        feed = parse_json_feed(body, url, strip_tracking_pixels=strip_tracking_pixels, known=known_items)
    else:
        feed = _parse_items(body, url, content_type, strip_tracking_pixels, known_items or {})
    return finish_entries(feed, url)


def _parse_items(
    body: bytes, url: str, content_type: str, strip_tracking_pixels: bool, known: Mapping[str, str]
) -> ParsedFeed:
    """An RSS or Atom document parsed without the items the store holds as sent, each entry's item hash noted."""
    from syndicator.parse import items
    from syndicator.parse.xmlfeed import parse_xml_feed

    split = items.split_known(body, url, content_type, known, salt=f"strip={strip_tracking_pixels}")
    if split is None:
        return parse_xml_feed(body, url, content_type, strip_tracking_pixels=strip_tracking_pixels)
    reduced, kept, unchanged = split
    feed = parse_xml_feed(reduced, url, content_type, strip_tracking_pixels=strip_tracking_pixels)
    if len(feed.entries) != len(kept):
        # feedparser found other items than expat did: trust neither the cut nor the hashes.
        if reduced is not body:
            feed = parse_xml_feed(body, url, content_type, strip_tracking_pixels=strip_tracking_pixels)
        return feed
    hashes: dict[str, str] = {}
    for entry, digest in zip(feed.entries, kept, strict=True):
        hashes.setdefault(entry.guid, digest)  # a guid twice: the first item is the one kept (finish_entries)
    return replace(feed, raw_hashes=hashes, unchanged=tuple(unchanged))


_NOT_FEEDS = ("image/", "audio/", "video/", "font/", "application/pdf", "application/zip")


def _looks_like_json(body: bytes, content_type: str) -> bool:
    ct = content_type.split(";")[0].strip().lower()
    if ct in ("application/feed+json", "application/json"):
        return True
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head == b"{"
