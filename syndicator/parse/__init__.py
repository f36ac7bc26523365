"""Parse stage: a fetched document becomes a ``ParsedFeed`` of normalised entries.

RSS 0.9x/1.0/2.0 and Atom go through feedparser; JSON Feed, which feedparser
does not read, has a parser of its own. Both produce the same ``Entry``
values: plain-text titles, sanitised HTML, absolute links, UTC dates.
"""

from __future__ import annotations

from syndicator.errors import ParseError
from syndicator.model import ParsedFeed
from syndicator.parse.common import finish_entries

__all__ = ["ParseError", "parse_document"]


def parse_document(
    body: bytes, url: str = "", content_type: str = "", *, strip_tracking_pixels: bool = True
) -> ParsedFeed:
    """Parse one document; raises ParseError when it holds no feed at all.

    ``strip_tracking_pixels``: drop known tracking images from the HTML (``[output] strip_tracking_pixels``)."""
    if not body or not body.strip():
        raise ParseError("empty document")
    media = content_type.split(";")[0].strip().lower()
    if media.startswith(_NOT_FEEDS):
        # feedparser reads anything as loose markup; an image or a video is refused by its type.
        raise ParseError(f"not a feed: the server sent {media}")
    if _looks_like_json(body, content_type):
        from syndicator.parse.jsonfeed import parse_json_feed

        feed = parse_json_feed(body, url, strip_tracking_pixels=strip_tracking_pixels)
    else:
        from syndicator.parse.xmlfeed import parse_xml_feed

        feed = parse_xml_feed(body, url, content_type, strip_tracking_pixels=strip_tracking_pixels)
    return finish_entries(feed, url)


_NOT_FEEDS = ("image/", "audio/", "video/", "font/", "application/pdf", "application/zip")


def _looks_like_json(body: bytes, content_type: str) -> bool:
    ct = content_type.split(";")[0].strip().lower()
    if ct in ("application/feed+json", "application/json"):
        return True
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head == b"{"
