"""RSS 2.0 and Atom 1.0 through feedgen.

feedgen stamps ``updated``/``lastBuildDate`` with the current time unless told
otherwise; we always tell it, from the content, so that an unchanged feed
renders to the same bytes and readers see nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from feedgen.feed import FeedGenerator

from syndicator import __version__
from syndicator.fetch import PROJECT_URL
from syndicator.publish import feedext
from syndicator.publish.items import Item


def render_xml(
    fmt: str,
    *,
    feed_id: str,
    title: str,
    description: str,
    self_url: str,
    home_url: str,
    author: str,
    language: str,
    updated: datetime,
    items: Sequence[Item],
    hub_url: str = "",
    icon: str = "",
    media: bool | None = None,
) -> bytes:
    """``fmt`` is "rss" or "atom"; ``hub_url``, when set, is advertised as the feed's WebSub hub;
    ``icon``, an image URL, is RSS's ``<image>`` and Atom's ``<icon>``. ``media``: whether the Media RSS
    namespace is declared, by default when an item has an image (publish/reuse.py renders a few of a
    feed's items with the declarations of the whole feed)."""
    fg = FeedGenerator()
    if fmt == "rss":
        fg.load_extension("dc", atom=False, rss=True)
    if any(_image(i) for i in items) if media is None else media:
        fg.load_extension("media", atom=True, rss=True)
    ext = feedext.register(fg)  # before the entries: feedgen gives each entry its part on add_entry
    if hub_url:
        ext.hub(hub_url)
    fg.id(feed_id)
    fg.title(title)
    fg.author({"name": author})
    fg.link(href=self_url, rel="self", type=_MEDIA[fmt])
    fg.link(href=home_url, rel="alternate", type="text/html")
    fg.description(description or title)  # RSS requires it; also Atom's subtitle
    if language:
        fg.language(language)
    if icon:
        fg.icon(icon)
        fg.image(url=icon, title=title, link=home_url)
    fg.generator("Syndicator", __version__, PROJECT_URL)
    fg.updated(updated)
    fg.lastBuildDate(updated)
    for item in items:
        _entry(fg, item, fmt)
    if fmt == "rss":
        return fg.rss_str(pretty=True)
    return fg.atom_str(pretty=True)


_MEDIA = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


def _entry(fg: FeedGenerator, item: Item, fmt: str) -> None:
    fe = fg.add_entry(order="append")
    fe.id(item.id)
    fe.guid(item.id, permalink=False)
    fe.title(item.title)
    if item.link:
        fe.link(href=item.link, rel="alternate")
    fe.published(item.published)
    fe.updated(item.updated)
    ext = getattr(fe, feedext.NAMESPACE)
    if fmt == "rss":
        fe.description(item.body_html or item.title)
        if item.author:
            fe.dc.dc_creator(item.author)
        if item.language:
            fe.dc.dc_language(item.language)  # RSS 2.0 has <language> only on the channel
    else:
        if item.language:
            ext.lang(item.language)
        fe.content(item.body_html or item.title, type="html")
        if item.summary_html:
            fe.summary(item.summary_html, type="html")
        if item.author:
            fe.author({"name": item.author})
    for rel in item.related:
        # feedgen drops rel and title from entry links (its issue #135) and has no atom:link in RSS items:
        # our extension writes both (Atom <link rel="related">, RSS <atom:link rel="related">).
        if rel.url:
            ext.link(rel="related", href=rel.url, title=rel.title)
    for term in item.categories:
        fe.category(term=term)
    if _image(item):
        fe.media.thumbnail({"url": item.image}, group=None)  # Media RSS, read by most readers in RSS and Atom
    for enc in item.enclosures[:1] if fmt == "rss" else item.enclosures:
        # RSS allows one enclosure per item; Atom any number of links. feedgen would write an Atom
        # enclosure as a bare <link href> (it drops rel, its issue #135): a second "alternate" link.
        length, media = str(enc.get("length") or 0), enc.get("type") or "application/octet-stream"
        if fmt == "rss":
            fe.enclosure(enc["url"], length, media)
        else:
            ext.link(rel="enclosure", href=enc["url"], type=media, length=length)


def has_image(items: Sequence[Item]) -> bool:
    """Whether the Media RSS namespace is declared for a feed of these items."""
    return any(_image(i) for i in items)


def _image(item: Item) -> bool:
    return item.image.startswith(("http://", "https://"))
