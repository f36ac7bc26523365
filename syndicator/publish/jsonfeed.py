"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), written to the spec."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from syndicator.publish.items import Item


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render_json(
    *,
    title: str,
    description: str,
    self_url: str,
    home_url: str,
    author: str,
    language: str,
    items: Sequence[Item],
    hub_url: str = "",
    icon: str = "",
) -> bytes:
    doc: dict = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": home_url,
        "feed_url": self_url,
    }
    if hub_url:
        doc["hubs"] = [{"type": "WebSub", "url": hub_url}]
    if description:
        doc["description"] = description
    if icon:
        doc["icon"] = icon
    doc["authors"] = [{"name": author}]
    if language:
        doc["language"] = language
    doc["items"] = [_item(i) for i in items]
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode()


def _item(item: Item) -> dict:
    out: dict = {"id": item.id, "title": item.title}
    if item.link:
        out["url"] = item.link
    out["content_html"] = item.body_html or item.title
    out["date_published"] = rfc3339(item.published)
    out["date_modified"] = rfc3339(item.updated)
    if item.author:
        out["authors"] = [{"name": item.author}]
    if item.categories:
        out["tags"] = list(item.categories)
    if item.image:
        out["image"] = item.image
    if item.language:
        out["language"] = item.language
    if item.enclosures:
        out["attachments"] = [
            {"url": e["url"], "mime_type": e.get("type") or "application/octet-stream"}
            | ({"size_in_bytes": int(e["length"])} if e.get("length") else {})
            for e in item.enclosures
        ]
    out["_syndicator"] = {
        "about": "https://github.com/syndicator-project/syndicator#json-feed-extension",
        "source": item.source,
        "variants": [{"title": v.title, "url": v.url, "source": v.source} for v in item.variants],
        "related": [{"id": r.id, "title": r.title, "url": r.url} for r in item.related],
    }
    return out
