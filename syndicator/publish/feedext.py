"""What feedgen does not write by itself: extra ``<link>`` elements, and WebSub.

feedgen writes one self link per RSS channel and only the link attributes it
knows; it has no notion of a WebSub hub (``rel="hub"``) nor of extra links on
an entry. ``SyndicatorExtension`` (feed level) and ``SyndicatorEntryExtension``
(entry level) are feedgen extensions that keep a list of links and write them
into the XML feedgen builds:

    ext = register(fg)                               # once per FeedGenerator
    ext.link(rel="hub", href="https://hub.example/")
    fe = fg.add_entry()
    fe.syndicator.link(rel="related", href="…", title="…")

In Atom each link is an ``<atom:link>`` of the feed or entry; in RSS 2.0 an
``<atom:link>`` in the channel (beside feedgen's self link) or in the item.
A new kind of link needs no change here; a new kind of element is one more
method and one more line in ``extend_atom``/``extend_rss``.

``ping_hub`` tells a WebSub hub which feeds changed (WebSub §7, "publishing").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
NAMESPACE = "syndicator"  # the attribute feedgen sets on the generator and its entries: fg.syndicator
_ATOM_LINK = f"{{{ATOM_NS}}}link"  # in RSS
# feedgen builds an Atom document's elements without a namespace under a literal xmlns="…Atom" attribute
# (they are Atom once serialised and parsed again); ours must match or they would carry a prefix.
_LINK_IN_ATOM = "link"
_LINK_ATTRS = ("href", "rel", "type", "hreflang", "title", "length")  # RFC 4287 §4.2.7, in this order


class _Links:
    """A list of links, written as ``atom:link`` elements."""

    def __init__(self) -> None:
        self._links: list[dict[str, str]] = []

    def link(self, *, href: str, rel: str = "alternate", **attrs: str) -> None:
        unknown = set(attrs) - set(_LINK_ATTRS)
        if unknown:
            raise ValueError(f"not an Atom link attribute: {', '.join(sorted(unknown))}")
        self._links.append({"href": href, "rel": rel, **{k: str(v) for k, v in attrs.items() if v}})

    def links(self, rel: str | None = None) -> list[dict[str, str]]:
        return [dict(ln) for ln in self._links if rel is None or ln["rel"] == rel]

    def _write(self, parent: etree._Element, tag: str, after: etree._Element | None = None) -> None:
        """Append the links to ``parent``, or insert them right after ``after``."""
        index = list(parent).index(after) + 1 if after is not None else len(parent)
        for offset, ln in enumerate(self._links):
            # A SubElement takes the parent's namespace prefixes (no xmlns:ns0 of its own); then move it.
            el = etree.SubElement(parent, tag, {k: ln[k] for k in _LINK_ATTRS if k in ln})
            parent.insert(index + offset, el)


class SyndicatorExtension(_Links, BaseExtension):
    """Feed-level links (the WebSub hub; ``hub()`` is the shortcut)."""

    def hub(self, url: str) -> None:
        self.link(rel="hub", href=url)

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        self._write(feed, _LINK_IN_ATOM)  # feedgen appends the entries after the extensions have run
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed.find("channel")
        self_link = next((el for el in channel.iterfind(_ATOM_LINK) if el.get("rel") == "self"), None)
        self._write(channel, _ATOM_LINK, after=self_link)
        return feed


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class SyndicatorEntryExtension(_Links, BaseEntryExtension):
    """Entry-level links (e.g. ``rel="related"``) and the entry's ``xml:lang`` in Atom
    (feedgen sets it only on the feed); nothing is written unless set."""

    def __init__(self) -> None:
        super().__init__()
        self._lang = ""

    def lang(self, tag: str) -> None:
        self._lang = tag

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        if self._lang:
            entry.set(_XML_LANG, self._lang)
        self._write(entry, _LINK_IN_ATOM)
        return entry

    def extend_rss(self, item: etree._Element) -> etree._Element:
        self._write(item, _ATOM_LINK)
        return item


def register(fg) -> SyndicatorExtension:
    """Register the extension on a FeedGenerator (before adding entries); returns the feed-level part."""
    fg.register_extension(NAMESPACE, SyndicatorExtension, SyndicatorEntryExtension, atom=True, rss=True)
    return getattr(fg, NAMESPACE)


# -- WebSub publishing ---------------------------------------------------------

PING_TIMEOUT = 10.0  # seconds per POST to the hub


def ping_hub(hub: str, urls: Iterable[str], *, timeout: float = PING_TIMEOUT) -> list[str]:
    """POST ``hub.mode=publish&hub.url=URL`` to the hub, once per URL; returns the URLs the hub accepted.

    Never raises: a refused ping is logged and the refresh goes on. Once the
    hub cannot be reached at all (connection refused, timeout), the remaining
    pings of this publish are skipped rather than each waiting out its timeout.
    """
    urls = list(dict.fromkeys(urls))
    if not hub or not urls:
        return []
    import httpx

    from syndicator.fetch import default_user_agent

    accepted: list[str] = []
    try:
        with httpx.Client(timeout=timeout, headers={"User-Agent": default_user_agent()}) as client:
            for n, url in enumerate(urls):
                try:
                    r = client.post(hub, data={"hub.mode": "publish", "hub.url": url})
                except httpx.HTTPError as exc:
                    skipped = len(urls) - n - 1
                    log.warning(
                        "WebSub hub %s unreachable (%s: %s); %d more ping(s) skipped",
                        hub, type(exc).__name__, exc, skipped,
                    )
                    break
                if r.is_success:
                    accepted.append(url)
                else:
                    log.warning("WebSub hub %s refused the ping for %s: HTTP %d", hub, url, r.status_code)
    except Exception as exc:  # a ping must never fail the refresh
        log.warning("WebSub ping to %s failed: %s: %s", hub, type(exc).__name__, exc)
    return accepted
