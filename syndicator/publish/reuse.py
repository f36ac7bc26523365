"""Reusing the renders of items that did not change: a feed regenerated after one new story renders one
entry per format, not a hundred.

An entry's bytes depend on its item alone (id, content, dates) and the format, not on its neighbours:
RSS and Atom are pretty-printed by lxml with the namespaces declared once on the root, JSON Feed's items
are indented at a fixed depth. So each entry is cut out of a render that held it and kept, keyed by the
item's id, content hash (everything a reader sees but ``updated``) and dates; a feed is the head and tail
of a render of its missing entries (at least one: that render gives the feed's own elements and the
declarations of the whole feed) with the kept entries spliced in between, in order. The result is the
bytes ``render_xml``/``render_json`` give for the whole feed (tests/test_publish_reuse.py and
bench/publish_same_bytes.py check). Anything unexpected in a render falls back to rendering it whole.

The renders are kept in this process only (a daemon's steady state); at most MAX_ENTRIES of them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

from syndicator.publish.items import Item
from syndicator.publish.jsonfeed import _item as json_item
from syndicator.publish.jsonfeed import render_json
from syndicator.publish.xmlfeeds import has_image, render_xml

MAX_ENTRIES = 20_000  # ~3 formats x a few thousand items of ~2-5 KB: tens of MB at most
# Where an entry starts and ends in lxml's pretty print: the item element's indentation is fixed by its
# depth (rss/channel/item, feed/entry); an Atom entry may carry xml:lang. Text and attribute values never
# hold a raw "<": these are tags.
_BOUNDS = {
    "rss": (b"    <item", b"    </item>\n"),
    "atom": (b"  <entry", b"  </entry>\n"),
}

_kept: OrderedDict[tuple, bytes] = OrderedDict()
stats = {"hits": 0, "misses": 0, "fallbacks": 0}  # for tests and the benchmark


def clear() -> None:
    _kept.clear()
    for k in stats:
        stats[k] = 0


def _key(fmt: str, item: Item, digest: str) -> tuple:
    return (fmt, item.id, digest, _iso(item.published), _iso(item.updated))


def _iso(when: datetime) -> str:
    return when.isoformat()


def _keep(key: tuple, data: bytes) -> None:
    _kept[key] = data
    _kept.move_to_end(key)
    while len(_kept) > MAX_ENTRIES:
        _kept.popitem(last=False)


def _lookup(keys: list[tuple]) -> list[int]:
    """Indexes of the keys not kept (counted as misses), the kept ones marked as recently used."""
    missing = []
    for n, key in enumerate(keys):
        if key in _kept:
            _kept.move_to_end(key)
        else:
            missing.append(n)
    stats["hits"] += len(keys) - len(missing)
    stats["misses"] += len(missing)
    return missing


def render_xml_reusing(fmt: str, *, items: Sequence[Item], hashes: dict[str, str], **feed) -> bytes:
    """``render_xml(fmt, items=items, **feed)``, rendering only the entries not rendered before."""
    if not items or len(items) > MAX_ENTRIES // 3:
        return render_xml(fmt, items=items, **feed)
    keys = [_key(fmt, i, hashes[i.id]) for i in items]
    missing = _lookup(keys) or [0]  # one entry at least: its render gives the feed's head and tail
    media = has_image(items)
    data = render_xml(fmt, items=[items[n] for n in missing], media=media, **feed)
    start, end = _BOUNDS[fmt]
    cuts = _cut(data, start, end)
    if cuts is None or len(cuts[1]) != len(missing):
        stats["fallbacks"] += 1
        return render_xml(fmt, items=items, **feed)
    head, entries, tail = cuts
    for n, entry in zip(missing, entries, strict=True):
        _keep(keys[n], entry)
    return b"".join([head, *(_kept[k] for k in keys), tail])


def _cut(data: bytes, start: bytes, end: bytes) -> tuple[bytes, list[bytes], bytes] | None:
    """The render's head, its entries (each from the start of its opening line to the end of its closing
    one) and its tail; None when they are not one run of entries, one after another."""
    first = _find_start(data, start, 0)
    if first < 0:
        return None
    at, entries = first, []
    while _find_start(data, start, at - 1) == at:
        stop = data.find(b"\n" + end, at)
        if stop < 0:
            return None
        stop += 1 + len(end)
        entries.append(data[at:stop])
        at = stop
    if _find_start(data, start, at - 1) >= 0:
        return None  # entries apart from each other: not a render this module understands
    return data[:first], entries, data[at:]


def _find_start(data: bytes, start: bytes, pos: int) -> int:
    """Where the next line opening an entry element (``start`` then ">" or " ") begins, or -1."""
    needle = b"\n" + start
    at = data.find(needle, max(pos, 0))
    while at >= 0 and data[at + len(needle): at + len(needle) + 1] not in (b">", b" "):
        at = data.find(needle, at + 1)
    return at + 1 if at >= 0 else -1


def render_json_reusing(*, items: Sequence[Item], hashes: dict[str, str], **feed) -> bytes:
    """``render_json(items=items, **feed)``, encoding only the items not encoded before."""
    head = render_json(items=(), **feed)
    empty = b'"items": []\n}\n'
    if not items:
        return head
    if not head.endswith(empty) or len(items) > MAX_ENTRIES // 3:
        stats["fallbacks"] += 1
        return render_json(items=items, **feed)
    keys = [_key("json", i, hashes[i.id]) for i in items]
    for n in _lookup(keys):
        # json.dumps(doc, indent=2) puts the feed's items two levels deep: 4 more spaces on every line.
        text = json.dumps(json_item(items[n]), ensure_ascii=False, indent=2).replace("\n", "\n    ")
        _keep(keys[n], text.encode())
    body = b",\n    ".join(_kept[k] for k in keys)
    return head[: -len(empty)] + b'"items": [\n    ' + body + b"\n  ]\n}\n"
