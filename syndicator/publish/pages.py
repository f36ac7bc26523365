"""The human side of the output: ``index.html`` and ``feeds.opml``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from xml.sax.saxutils import quoteattr

from syndicator.publish.items import Item

FORMATS = (
    ("rss", "RSS 2.0", "application/rss+xml"),
    ("atom", "Atom 1.0", "application/atom+xml"),
    ("json", "JSON Feed 1.1", "application/feed+json"),
)


@dataclass(frozen=True)
class FeedSummary:
    name: str
    title: str
    description: str
    items: Sequence[Item]


def render_index(site_title: str, base_url: str, feeds: Sequence[FeedSummary], latest: int = 20) -> bytes:
    alternates = "\n".join(
        f'<link rel="alternate" type="{mime}" title={quoteattr(f"{f.title} ({label})")} '
        f'href="{escape(base_url + f.name + "." + ext)}">'
        for f in feeds
        for ext, label, mime in FORMATS
    )
    feed_rows = "\n".join(
        f"<li><strong>{escape(f.title)}</strong> ({len(f.items)} stories): "
        + " · ".join(f'<a href="{escape(f.name)}.{ext}">{label}</a>' for ext, label, _ in FORMATS)
        + (f"<br><small>{escape(f.description)}</small>" if f.description else "")
        + "</li>"
        for f in feeds
    )
    seen: set[str] = set()
    stories = []
    for f in feeds:
        for item in f.items:
            if item.id not in seen:
                seen.add(item.id)
                stories.append(item)
    stories.sort(key=lambda i: (i.published, i.id), reverse=True)
    story_rows = "\n".join(_story(i) for i in stories[:latest])
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(site_title)}</title>
{alternates}
<link rel="outline" type="text/x-opml" title="All feeds (OPML)" href="feeds.opml">
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}}
h1{{margin-bottom:.2rem}} .meta{{color:#666;font-size:.85rem}} li{{margin:.4rem 0}}
.variants{{color:#555;font-size:.9rem}}
</style>
</head>
<body>
<h1>{escape(site_title)}</h1>
<p class="meta">Every story once, under a stable id, with its other headlines noted.
Subscribe to a feed below, or to <a href="feeds.opml">all of them (OPML)</a>.</p>
<h2>Feeds</h2>
<ul class="feeds">
{feed_rows}
</ul>
<h2>Latest stories</h2>
<ol class="stories">
{story_rows}
</ol>
</body>
</html>
"""
    return page.encode()


def _story(item: Item) -> str:
    title = escape(item.title)
    head = f'<a href="{escape(item.link)}">{title}</a>' if item.link else title
    when = item.published.strftime("%Y-%m-%d %H:%M UTC")
    variants = ""
    if item.variants:
        variants = '<div class="variants">Also published as: ' + "; ".join(
            f"{escape(v.title)} ({escape(v.source)})" for v in item.variants
        ) + "</div>"
    return f'<li>{head} <span class="meta">{escape(item.source)}, {when}</span>{variants}</li>'


def render_opml(site_title: str, base_url: str, feeds: Sequence[FeedSummary]) -> bytes:
    outlines = "\n".join(
        f"    <outline type=\"rss\" text={quoteattr(f.title)} title={quoteattr(f.title)} "
        f"xmlUrl={quoteattr(base_url + f.name + '.rss')} htmlUrl={quoteattr(base_url)}/>"
        for f in feeds
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n'
        f"  <head><title>{escape(site_title)}</title></head>\n  <body>\n{outlines}\n  </body>\n</opml>\n"
    ).encode()
