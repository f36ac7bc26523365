"""JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/): feedparser reads neither."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from syndicator.errors import ParseError
from syndicator.model import Enclosure, ParsedFeed
from syndicator.parse.common import make_entry, parse_date
from syndicator.parse.items import PARSE_REVISION


def parse_json_feed(
    body: bytes, url: str, *, strip_tracking_pixels: bool = True, known: Mapping[str, str] | None = None
) -> ParsedFeed:
    """``known``: item hash -> guid; the items sent as they were when stored are not made into entries again
    (their guids are in ``unchanged``; see syndicator.parse.items, which does the same for RSS and Atom)."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"not a feed: invalid JSON: {exc}") from None
    except RecursionError:
        # json.loads recurses once per nesting level: "[[[[…" a few thousand deep (tests/test_hostile.py).
        raise ParseError("not a feed: JSON nested too deeply") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise ParseError("not a feed: JSON without a jsonfeed.org version")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("not a feed: JSON Feed without an items array")
    base = _str(doc.get("home_page_url")) or _str(doc.get("feed_url")) or url
    language = _str(doc.get("language"))
    feed_authors = _authors(doc)
    # What an item's entry depends on besides the item itself.
    context = json.dumps([PARSE_REVISION, f"strip={strip_tracking_pixels}", url, base, language, feed_authors])
    known = known or {}
    entries = []
    hashes: dict[str, str] = {}
    unchanged: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        digest = _digest(context, item)
        if digest in known:
            unchanged.append(known[digest])
            continue
        guid = item.get("id")
        guid = str(guid) if isinstance(guid, (str, int, float)) and not isinstance(guid, bool) else ""
        content_html = _str(item.get("content_html"))
        if not content_html and _str(item.get("content_text")):
            from html import escape

            content_html = "<p>" + escape(_str(item["content_text"])).replace("\n\n", "</p><p>") + "</p>"
        attachments = [
            Enclosure(
                url=_str(a.get("url")),
                type=_str(a.get("mime_type")),
                length=a.get("size_in_bytes") if isinstance(a.get("size_in_bytes"), int) else 0,
            )
            for a in item.get("attachments") or []
            if isinstance(a, dict)
        ]
        entries.append(
            make_entry(
                base=base,
                guid=guid,
                link=_str(item.get("url")) or _str(item.get("external_url")),
                title=_str(item.get("title")),
                summary_html=_str(item.get("summary")),
                content_html=content_html,
                published=parse_date(_str(item.get("date_published"))),
                updated=parse_date(_str(item.get("date_modified"))),
                author=", ".join(_authors(item)) or ", ".join(feed_authors),
                categories=[t for t in item.get("tags") or [] if isinstance(t, str)],
                enclosures=attachments,
                image=_str(item.get("image")) or _str(item.get("banner_image")),
                language=_str(item.get("language")) or language,
                strip_tracking_pixels=strip_tracking_pixels,
            )
        )
        if digest:
            hashes.setdefault(entries[-1].guid, digest)
    return ParsedFeed(
        title=_str(doc.get("title")),
        link=_str(doc.get("home_page_url")),
        language=language,
        entries=tuple(entries),
        kind="json" + str(doc.get("version", "")).rsplit("/", 1)[-1].replace(".", ""),
        raw_hashes=hashes,
        unchanged=tuple(dict.fromkeys(unchanged)),
    )


def _digest(context: str, item: dict) -> str:
    """The item as sent, hashed with what it inherits; "" when its JSON does not serialise again (too deep)."""
    try:
        text = json.dumps(item, sort_keys=True, ensure_ascii=False)
    except (RecursionError, ValueError, TypeError):
        return ""
    return hashlib.sha1((context + text).encode("utf-8", "surrogatepass")).hexdigest()


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _authors(obj: dict) -> list[str]:
    found = obj.get("authors")
    if not isinstance(found, list):
        found = [obj.get("author")] if isinstance(obj.get("author"), dict) else []
    return [_str(a.get("name")) for a in found if isinstance(a, dict) and _str(a.get("name"))]
