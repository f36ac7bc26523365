"""A feed document's items as sent, hashed, so that a refresh parses only the items it has not stored yet.

A source that changed usually changed by an item or two: the rest of the document is the items the store
already holds, byte for byte. feedparser and the clean-up after it cost about 0.8 ms an item (41 ms for a
document of 50 items of 2 KB, ``bench/scale_feeds.py``), and a refresh used to spend them on every item of every
changed document to find the few new ones by their content hash (a warm-incremental refresh at 200 x 50: the
parse worker's 15 CPU s of the run's 49). expat, in C, finds where each item starts and ends in 0.6 ms for the
whole document; the items whose bytes (and everything around them that could change what they parse to)
hash as a stored article's do are cut out of the document before feedparser reads it.

What is cut is cut from the bytes: the rest of the document, prolog and header included, reaches feedparser as
it came, so an item left in parses as it would have in the whole document. What could change how an item
parses without changing its bytes goes into its hash too (:func:`_context`): the document's URL and media type,
its encoding, the namespace prefixes, ``xml:base`` and ``xml:lang`` in force, the channel's language, the
DOCTYPE, and ``PARSE_REVISION``, raised whenever this package parses an item differently.

A JSON Feed's items are hashed the same way (``syndicator.parse.jsonfeed``: each item's JSON, and the feed's
fields an item inherits). Anything unusual in XML, and the document is parsed whole as before (``None``): not
well-formed for expat, UTF-16 or UTF-32, a DOCTYPE with an internal subset (entities, which feedparser handles
its own way), a root that is not RSS, RDF or Atom; and if feedparser finds another number of items than expat
did, the whole document is parsed again.
"""

from __future__ import annotations

import hashlib
import xml.parsers.expat
from collections.abc import Mapping
from dataclasses import dataclass

# Raise when an item's bytes would parse to something else than before (a change to feedparser's use, to
# make_entry or to sanitising): the stored hashes then no longer match and every item is parsed again once.
PARSE_REVISION = "1"

_RSS1 = "http://purl.org/rss/1.0/"
_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_ATOM10 = "http://www.w3.org/2005/Atom"
_ATOM03 = "http://purl.org/atom/ns#"
_DC = "http://purl.org/dc/elements/1.1/"
# Separates a namespace from a local name in expat's element names; a control character no name contains.
_SEP = "\x1f"


@dataclass(frozen=True)
class Items:
    """Where a document's items are: ``spans`` (start, end) byte offsets in document order, and their hashes."""

    spans: tuple[tuple[int, int], ...]
    hashes: tuple[str, ...]

    def without(self, body: bytes, drop: set[int]) -> bytes:
        """The document without the items at the indexes in ``drop``."""
        if not drop:
            return body
        parts = []
        at = 0
        for i, (start, end) in enumerate(self.spans):
            if i in drop:
                parts.append(body[at:start])
                at = end
        parts.append(body[at:])
        return b"".join(parts)


def find_items(body: bytes, url: str, content_type: str, salt: str = "") -> Items | None:
    """The items of an RSS, RDF or Atom document and their hashes, or None when it should be parsed whole.

    ``salt``: anything else the caller's parse depends on (its settings)."""
    finder = _Finder(body)
    try:
        finder.run()
    except (xml.parsers.expat.ExpatError, ValueError, LookupError):
        return None
    if finder.root not in _ITEMS:
        return None
    context = _context(finder, url, content_type, salt)
    hashes = tuple(
        hashlib.sha1(context + body[start:end]).hexdigest() for start, end in finder.spans
    )
    return Items(tuple(finder.spans), hashes)


# Root element -> (depths at which items sit, their element names).
_ITEMS: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "rss": ((2, 3), ("item",)),  # channel/item; a few RSS 0.9x documents put items beside the channel
    f"{_RDF}{_SEP}RDF": ((2,), (f"{_RSS1}{_SEP}item", f"{_RSS090}{_SEP}item")),
    f"{_ATOM10}{_SEP}feed": ((2,), (f"{_ATOM10}{_SEP}entry",)),
    f"{_ATOM03}{_SEP}feed": ((2,), (f"{_ATOM03}{_SEP}entry",)),
}
_LANGUAGE = ("language", f"{_DC}{_SEP}language")


class _Finder:
    """One pass of expat over the document: the items' byte spans and what is in force around them."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.root = ""
        self.spans: list[tuple[int, int]] = []
        self.around: list[str] = []  # attributes, namespaces, DOCTYPE, encoding, language: outside the items
        self._depth = 0
        self._item_start = -1
        self._item_depth = 0
        self._text: list[str] | None = None
        self._depths: tuple[int, ...] = ()
        self._names: tuple[str, ...] = ()
        p = xml.parsers.expat.ParserCreate(namespace_separator=_SEP)
        p.buffer_text = True
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.StartNamespaceDeclHandler = self._namespace
        p.StartDoctypeDeclHandler = self._doctype
        p.XmlDeclHandler = self._xml_decl
        self._p = p

    def run(self) -> None:
        # Offsets are cut from the bytes where expat saw a ">": not inside a character of two or four bytes.
        if self.body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in self.body[:4]:
            raise ValueError("UTF-16 or UTF-32")
        self._p.Parse(self.body, True)

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        if self._item_start >= 0:
            return
        if self._depth == 1:
            self.root = name
            self._depths, self._names = _ITEMS.get(name, ((), ()))
        if self._depth in self._depths and name in self._names:
            self._item_start = self._p.CurrentByteIndex
            self._item_depth = self._depth
            return
        # The root and the channel: their attributes (xml:base, xml:lang, a version) can change how the items
        # parse. Not deeper: RSS 1.0 lists every item's address in the channel's rdf:Seq, which feedparser
        # ignores and which changes with every new item.
        if self._depth <= 2:
            self.around.append(f"<{self._depth} {name} {sorted(attrs.items())!r}")
        if name in _LANGUAGE and self._depth == 3:
            self._text = []
            self._p.CharacterDataHandler = self._text.append

    def _end(self, name: str) -> None:
        if self._item_start >= 0 and self._depth == self._item_depth:
            # The end tag starts here; it ends at its first ">" (an end tag has no attribute to hold one).
            at = self._p.CurrentByteIndex
            end = self.body.index(b">", at) + 1
            if at == self._item_start and (self.body[end - 2 : end] != b"/>" or b'"' in self.body[at:end]
                                           or b"'" in self.body[at:end]):
                raise ValueError("an empty item whose attributes may hold a '>'")
            self.spans.append((self._item_start, end))
            self._item_start = -1
        elif self._text is not None:
            self.around.append("language " + "".join(self._text))
            self._text = None
            self._p.CharacterDataHandler = None
        self._depth -= 1

    def _namespace(self, prefix: str | None, uri: str) -> None:
        if self._item_start < 0:
            self.around.append(f"xmlns:{prefix}={uri}")

    def _doctype(self, name: str, system_id: str | None, public_id: str | None, has_internal_subset: int) -> None:
        if has_internal_subset:  # entity declarations: feedparser expands them its own way
            raise ValueError("internal DTD subset")
        self.around.append(f"doctype {name} {system_id} {public_id}")

    def _xml_decl(self, version: str, encoding: str | None, standalone: int) -> None:
        self.around.append(f"xml {version} {encoding} {standalone}")


def _context(finder: _Finder, url: str, content_type: str, salt: str) -> bytes:
    text = "\n".join((PARSE_REVISION, salt, url, content_type.strip().lower(), *finder.around, ""))
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


def split_known(
    body: bytes, url: str, content_type: str, known: Mapping[str, str], salt: str = ""
) -> tuple[bytes, list[str], list[str]] | None:
    """``known``: item hash -> guid of the source's stored articles. Returns the document without the known
    items (``body`` itself when none is), the hashes of the items left in, in order, and the guids of those
    cut out; None when the document is to be parsed whole."""
    items = find_items(body, url, content_type, salt)
    if items is None:
        return None
    drop = {i for i, h in enumerate(items.hashes) if h in known}
    kept = [h for i, h in enumerate(items.hashes) if i not in drop]
    unchanged = list(dict.fromkeys(known[items.hashes[i]] for i in sorted(drop)))
    return items.without(body, drop), kept, unchanged
