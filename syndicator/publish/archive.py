"""RFC 5005 archived feeds: readers page back past a feed's newest ``limit`` stories.

With ``archive = true`` a feed's stories beyond the newest ``limit`` (up to
``archive_pages`` more pages' worth, which retention keeps) are published in
archive documents, one per ISO week of publication: ``all-archive-2026-W47.atom``
(and ``.rss``, ``.json``). A week's page keeps its name and its stories
whatever arrives later, as RFC 5005 §4 asks of archive documents (only
retention, at the far end, takes stories off). Links, in Atom and in RSS's
``atom:link``:

- the subscription feed: ``prev-archive`` to the newest archive page;
- each archive page: ``current`` to the subscription feed, ``prev-archive`` to
  the next older page, ``next-archive`` to the next newer one, and
  ``<fh:archive/>`` saying it is an archive.

JSON Feed has no archive notion; its ``next_url`` (pagination) links the
same pages in the same order.

The links are added to what the renderers produce (lxml, json), so the
renderers stay unaware of archiving.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from syndicator.config import FeedConfig
from syndicator.publish.items import Item

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"
EXTENSIONS = ("rss", "atom", "json")


@dataclass(frozen=True)
class Page:
    key: str  # "2026-W47"
    items: tuple[Item, ...]


def window(feed: FeedConfig) -> FeedConfig:
    """The feed as far back as it is published: its newest page plus its archive pages."""
    return replace(feed, limit=feed.limit * (feed.archive_pages + 1)) if feed.archive else feed


def week_key(item: Item) -> str:
    year, week, _ = item.published.isocalendar()
    return f"{year}-W{week:02d}"


def pages(older: Sequence[Item], max_pages: int) -> list[Page]:
    """The stories past the newest page, by ISO week, newest week first; at most ``max_pages``."""
    grouped: dict[str, list[Item]] = {}
    for item in older:
        grouped.setdefault(week_key(item), []).append(item)
    keys = sorted(grouped, reverse=True)[:max_pages]
    return [Page(k, tuple(grouped[k])) for k in keys]


def page_name(feed: str, key: str, ext: str) -> str:
    return f"{feed}-archive-{key}.{ext}"


def add_links(data: bytes, ext: str, links: dict[str, str], *, is_archive: bool) -> bytes:
    """``data`` (a rendered feed) with ``links`` (rel -> href) and, for a page, the archive marker."""
    if ext == "json":
        doc = json.loads(data)
        if links.get("prev-archive"):
            doc["next_url"] = links["prev-archive"].rsplit(".", 1)[0] + ".json"
        return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode()
    from lxml import etree

    root = etree.fromstring(data)
    atom = root.tag == f"{{{ATOM_NS}}}feed"
    parent = root if atom else root.find("channel")
    first_item = parent.find(f"{{{ATOM_NS}}}entry") if atom else parent.find("item")
    position = list(parent).index(first_item) if first_item is not None else len(parent)
    new = []
    for rel, href in links.items():
        if href:
            el = etree.SubElement(parent, f"{{{ATOM_NS}}}link", {"rel": rel, "href": href, "type": _MEDIA[ext]})
            new.append(el)
    if is_archive:
        new.append(etree.SubElement(parent, f"{{{HISTORY_NS}}}archive", nsmap={"fh": HISTORY_NS}))
    for offset, el in enumerate(new):
        parent.insert(position + offset, el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


_MEDIA = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


def stale_pages(folder: Path, feed: str, keep: set[str]) -> list[Path]:
    """Archive files of ``feed`` that are no longer published (retention moved past their week)."""
    return [p for p in folder.glob(f"{feed}-archive-*") if p.name not in keep and not p.name.startswith(".")]
