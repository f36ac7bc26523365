"""The W3C Feed Validation Service's rules that the schemas do not check, as code.

There is no offline copy of the W3C validator (validator.w3.org/feed); these are the rules of its
documentation (https://validator.w3.org/feed/docs/) that apply to what we publish. Each checker
returns the list of violations, empty when the document passes; tests/test_feed_rules.py shows
that each rule catches a broken document, so a passing check means something.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections import Counter
from datetime import datetime
from urllib.parse import urlsplit

from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA = "{http://search.yahoo.com/mrss/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# RFC 822 as RSS 2.0 uses it, with a four-digit year and a zone (the validator warns on two-digit years).
RFC822 = re.compile(
    r"^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}(?::\d{2})? (?:[+-]\d{4}|GMT|UT|[ECMP][SD]T)$"
)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")
LANG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")  # BCP 47, the shape the validator checks
URN_UUID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TAG = re.compile(r"<[A-Za-z/!]")

RSS_CHANNEL_ONCE = ("title", "link", "description", "language", "lastBuildDate", "pubDate", "generator", "ttl")
RSS_ITEM_ONCE = ("title", "link", "description", "guid", "pubDate", "author", "comments", "source")
ATOM_ONCE = ("id", "title", "updated", "subtitle", "rights", "icon", "logo", "generator")
ATOM_ENTRY_ONCE = ("id", "title", "updated", "published", "summary", "content", "rights", "source")


def absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _once(parent: etree._Element, names: tuple[str, ...], ns: str, where: str) -> list[str]:
    counts = Counter(el.tag for el in parent)
    return [f"{where}: <{n}> appears {counts[ns + n]} times" for n in names if counts[ns + n] > 1]


def check_rss(data: bytes, self_url: str | None = None) -> list[str]:
    errors: list[str] = []
    root = etree.fromstring(data)
    if root.tag != "rss" or root.get("version") != "2.0":
        return ["not an RSS 2.0 document"]
    channel = root.find("channel")
    for name in ("title", "link", "description"):
        if not (channel.findtext(name) or "").strip():
            errors.append(f"channel: missing <{name}>")
    errors += _once(channel, RSS_CHANNEL_ONCE, "", "channel")
    if channel.findtext("link") and not absolute(channel.findtext("link")):
        errors.append("channel: <link> is not an absolute URL")
    selfs = [ln for ln in channel.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    if len(selfs) != 1:
        errors.append("channel: needs exactly one atom:link rel=self")
    elif selfs[0].get("type") != "application/rss+xml" or (self_url and selfs[0].get("href") != self_url):
        errors.append(f"channel: atom:link rel=self is {selfs[0].attrib}")
    for name in ("lastBuildDate", "pubDate"):
        value = channel.findtext(name)
        if value is not None and not RFC822.match(value):
            errors.append(f"channel: <{name}> {value!r} is not an RFC 822 date with a zone")
    lang = channel.findtext("language")
    if lang is not None and not LANG.match(lang):
        errors.append(f"channel: <language> {lang!r} is not a language tag")
    guids: Counter[str] = Counter()
    for n, item in enumerate(channel.findall("item")):
        where = f"item {n}"
        errors += _once(item, RSS_ITEM_ONCE, "", where)
        title, description = item.findtext("title"), item.findtext("description")
        if not (title or description):
            errors.append(f"{where}: neither <title> nor <description>")
        if title and TAG.search(title):
            errors.append(f"{where}: HTML in <title>: {title!r}")
        guid = item.find("guid")
        if guid is None:
            errors.append(f"{where}: no <guid>")
        else:
            guids[guid.text or ""] += 1
            if guid.get("isPermaLink", "true") == "true" and not absolute(guid.text or ""):
                errors.append(f"{where}: <guid> is a permalink but not a URL: {guid.text!r}")
        if item.findtext("link") is not None and not absolute(item.findtext("link")):
            errors.append(f"{where}: <link> is not absolute")
        date = item.findtext("pubDate")
        if date is not None and not RFC822.match(date):
            errors.append(f"{where}: <pubDate> {date!r} is not an RFC 822 date with a zone")
        author = item.findtext("author")
        if author is not None and "@" not in author:
            errors.append(f"{where}: <author> must be an e-mail address (use dc:creator for a name)")
        enclosures = item.findall("enclosure")
        if len(enclosures) > 1:
            errors.append(f"{where}: more than one <enclosure>")
        for enc in enclosures:
            if not absolute(enc.get("url", "")) or not (enc.get("length") or "").isdigit() or not enc.get("type"):
                errors.append(f"{where}: <enclosure> needs an absolute url, a numeric length and a type")
        errors += _common_item(item, where)
        for lang_el in item.findall(f"{DC}language"):
            if not LANG.match(lang_el.text or ""):
                errors.append(f"{where}: dc:language {lang_el.text!r} is not a language tag")
    errors += [f"duplicate <guid> {g!r}" for g, c in guids.items() if c > 1]
    return errors


def _common_item(item: etree._Element, where: str) -> list[str]:
    errors = []
    for thumb in item.iter(f"{MEDIA}thumbnail"):
        if not absolute(thumb.get("url", "")):
            errors.append(f"{where}: media:thumbnail url is not absolute")
    for ln in item.findall(f"{ATOM}link"):
        if not absolute(ln.get("href", "")):
            errors.append(f"{where}: atom:link href {ln.get('href')!r} is not absolute")
    return errors


def check_atom(data: bytes, self_url: str | None = None) -> list[str]:
    errors: list[str] = []
    feed = etree.fromstring(data)
    if feed.tag != f"{ATOM}feed":
        return ["not an Atom feed"]
    errors += _once(feed, ATOM_ONCE, ATOM, "feed")
    feed_lang = feed.get(XML_LANG)
    if feed_lang is not None and not LANG.match(feed_lang):
        errors.append(f"feed: xml:lang {feed_lang!r} is not a language tag")
    errors += _atom_dates(feed, "feed", ("updated",))
    errors += _atom_links(feed, "feed")
    selfs = [ln for ln in feed.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    if len(selfs) != 1 or selfs[0].get("type") != "application/atom+xml" or (
        self_url and selfs[0].get("href") != self_url
    ):
        errors.append("feed: needs exactly one link rel=self of type application/atom+xml")
    feed_author = feed.find(f"{ATOM}author") is not None
    ids: Counter[str] = Counter([feed.findtext(f"{ATOM}id") or ""])
    for n, entry in enumerate(feed.findall(f"{ATOM}entry")):
        where = f"entry {n}"
        errors += _once(entry, ATOM_ENTRY_ONCE, ATOM, where)
        entry_id = entry.findtext(f"{ATOM}id") or ""
        ids[entry_id] += 1
        if not (URN_UUID.match(entry_id) or absolute(entry_id)):
            errors.append(f"{where}: <id> {entry_id!r} is neither a urn:uuid nor an absolute URL")
        if not feed_author and entry.find(f"{ATOM}author") is None:
            errors.append(f"{where}: no author, and the feed has none")
        title = entry.find(f"{ATOM}title")
        if title is None:
            errors.append(f"{where}: no <title>")
        elif title.get("type", "text") == "text" and TAG.search(title.text or ""):
            errors.append(f"{where}: HTML in a text <title>: {title.text!r}")
        content = entry.find(f"{ATOM}content")
        if content is not None and content.get("src") is None and content.get("type") not in ("html", "xhtml", "text"):
            errors.append(f"{where}: content type {content.get('type')!r}")
        alternate = any(ln.get("rel", "alternate") == "alternate" for ln in entry.findall(f"{ATOM}link"))
        if content is None and not alternate:
            errors.append(f"{where}: neither <content> nor an alternate link")
        lang = entry.get(XML_LANG)
        if lang is not None and not LANG.match(lang):
            errors.append(f"{where}: xml:lang {lang!r} is not a language tag")
        for cat in entry.findall(f"{ATOM}category"):
            if not cat.get("term"):
                errors.append(f"{where}: <category> without a term")
        errors += _atom_dates(entry, where, ("updated", "published"))
        errors += _atom_links(entry, where)
        errors += _common_item(entry, where)
    errors += [f"duplicate <id> {i!r}" for i, c in ids.items() if c > 1]
    return errors


def _atom_dates(parent: etree._Element, where: str, names: tuple[str, ...]) -> list[str]:
    errors = []
    for name in names:
        for el in parent.findall(f"{ATOM}{name}"):
            if not RFC3339.match(el.text or ""):
                errors.append(f"{where}: <{name}> {el.text!r} is not an RFC 3339 date with a zone")
    return errors


def _atom_links(parent: etree._Element, where: str) -> list[str]:
    errors = []
    alternates: Counter[tuple[str | None, str | None]] = Counter()
    for ln in parent.findall(f"{ATOM}link"):
        if not absolute(ln.get("href", "")):
            errors.append(f"{where}: link href {ln.get('href')!r} is not absolute")
        if ln.get("rel", "alternate") == "alternate":
            alternates[(ln.get("type"), ln.get("hreflang"))] += 1
        if ln.get("length") is not None and not ln.get("length").isdigit():
            errors.append(f"{where}: link length {ln.get('length')!r}")
    errors += [f"{where}: two alternate links with type/hreflang {k}" for k, c in alternates.items() if c > 1]
    return errors


def check_json(data: bytes, self_url: str | None = None) -> list[str]:
    errors: list[str] = []
    doc = json.loads(data)
    if doc.get("version") != "https://jsonfeed.org/version/1.1":
        errors.append(f"version {doc.get('version')!r}")
    for key in ("home_page_url", "feed_url"):
        if key in doc and not absolute(doc[key]):
            errors.append(f"{key} is not absolute")
    if self_url and doc.get("feed_url") != self_url:
        errors.append(f"feed_url is {doc.get('feed_url')!r}")
    ids: Counter[str] = Counter()
    for n, item in enumerate(doc.get("items", [])):
        where = f"item {n}"
        ids[str(item.get("id"))] += 1
        if not isinstance(item.get("id"), str):
            errors.append(f"{where}: id is not a string")
        for key in ("date_published", "date_modified"):
            if key in item and not RFC3339.match(item[key]):
                errors.append(f"{where}: {key} {item[key]!r} is not RFC 3339")
        for key in ("url", "image"):
            if key in item and not absolute(item[key]):
                errors.append(f"{where}: {key} is not absolute")
        if "title" in item and TAG.search(item["title"]):
            errors.append(f"{where}: HTML in title")
        if "language" in item and not LANG.match(item["language"]):
            errors.append(f"{where}: language {item['language']!r}")
        if not (item.get("content_html") or item.get("content_text")):
            errors.append(f"{where}: no content")
    errors += [f"duplicate id {i!r}" for i, c in ids.items() if c > 1]
    return errors


def parse_rfc822(value: str) -> datetime:
    return email.utils.parsedate_to_datetime(value)
