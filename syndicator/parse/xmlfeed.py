"""RSS and Atom through feedparser."""

from __future__ import annotations

from typing import Any

import feedparser

from syndicator.errors import ParseError
from syndicator.model import Enclosure, ParsedFeed
from syndicator.parse import entities
from syndicator.parse.common import make_entry, struct_to_datetime
from syndicator.schedule import skip_hints

entities.install()


def parse_xml_feed(body: bytes, url: str, content_type: str = "", *, strip_tracking_pixels: bool = True) -> ParsedFeed:
    headers = {"content-location": url} if url.startswith(("http:", "https:", "file:")) else {}
    # Without a Content-Type (file sources) feedparser flags every document as
    # bozo ("NonXMLContentType"); XML is what we expect here.
    headers["content-type"] = content_type or "application/xml"
    # feedparser never raises on bad input: it sets ``bozo`` and keeps what it could read.
    entities.take_dropped()
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    warning = ""
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        warning = f"{type(exc).__name__}: {exc}" if exc else "malformed feed"
    dropped = entities.take_dropped()
    if dropped:
        warning = (
            f"entity declarations ignored: they would expand to {dropped} characters "
            f"(limit {entities.MAX_ENTITY_EXPANSION})" + (f"; {warning}" if warning else "")
        )
    feed = parsed.get("feed", {})
    if not parsed.get("entries") and not parsed.get("version"):
        reason = warning or "no RSS, Atom or JSON Feed found"
        raise ParseError(f"not a feed: {reason}")
    base = feed.get("link") or url
    language = (feed.get("language") or "").strip()
    entries = tuple(_entry(e, url or base, language, strip_tracking_pixels) for e in parsed.get("entries", []))
    skip_hours, skip_days = skip_hints(body) if str(parsed.get("version", "")).startswith("rss") else ((), ())
    return ParsedFeed(
        title=_text(feed.get("title")),
        link=feed.get("link", ""),
        language=language,
        entries=entries,
        ttl_minutes=_int(feed.get("ttl")),
        skip_hours=skip_hours,
        skip_days=skip_days,
        warning=warning,
        kind=parsed.get("version", ""),
    )


def _entry(e: Any, base: str, language: str, strip_tracking_pixels: bool = True):
    content_html = ""
    for c in e.get("content", []) or []:
        value = c.get("value", "")
        if value and len(value) > len(content_html):
            content_html = value
    summary_html = e.get("summary", "") or ""
    if summary_html == content_html:
        summary_html = ""
    enclosures = []
    for enc in e.get("enclosures", []) or []:
        length = _int(enc.get("length")) or 0
        enclosures.append(Enclosure(url=enc.get("href", ""), type=enc.get("type", ""), length=length))
    image = ""
    for key in ("media_thumbnail", "media_content"):
        for m in e.get(key, []) or []:
            if m.get("url") and (key == "media_thumbnail" or "image" in m.get("type", "image")):
                image = m["url"]
                break
        if image:
            break
    if not image and isinstance(e.get("image"), dict):
        image = e["image"].get("href", "")
    return make_entry(
        base=base,
        guid=e.get("id", "") or "",
        link=e.get("link", "") or "",
        title=e.get("title", "") or "",
        summary_html=summary_html,
        content_html=content_html,
        published=struct_to_datetime(e.get("published_parsed")),
        # dict.get: feedparser's own get() maps a missing updated_parsed to
        # published_parsed, with a DeprecationWarning.
        updated=struct_to_datetime(dict.get(e, "updated_parsed")),
        author=e.get("author", "") or "",
        categories=[t.get("term") or t.get("label") or "" for t in e.get("tags", []) or []],
        enclosures=enclosures,
        image=image,
        language=_entry_language(e) or language,
        strip_tracking_pixels=strip_tracking_pixels,
    )


def _entry_language(e: Any) -> str:
    """An Atom entry's own xml:lang (feedparser puts it on the title and content details)."""
    for detail in (e.get("title_detail"), *(e.get("content") or ())):
        lang = (detail or {}).get("language") if isinstance(detail, dict) else None
        if lang and isinstance(lang, str) and len(lang) <= 35:
            return lang.strip()
    return ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
