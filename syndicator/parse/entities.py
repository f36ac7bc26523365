"""A bound on XML entity expansion inside feedparser (the "quadratic blowup" bomb).

feedparser keeps a document's internal entity declarations whose value is plain text (it
drops nested ones, so the classic billion-laughs chain never expands), and its loose parser
expands them itself when the strict one gives up. expat's own amplification limit makes the
strict parser give up on a bomb, so the loose one then expanded it unbounded: one 50 kB
entity referenced 4,000 times in a 200 kB document took 1 GB and 16 s (tests/test_hostile.py;
a 10 MB body would take far more than any machine has).

The check sits where feedparser handles the DOCTYPE, after it has decoded the document to
UTF-8, so that a UTF-16 or EBCDIC bomb is seen like any other.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

# Characters all entity references of a document may expand to. A real feed's entities are a
# character or a short phrase; well past any of them, far below harm.
MAX_ENTITY_EXPANSION = 1_000_000

_ENTITY_DECL = re.compile(rb"^\s*<!ENTITY([^>]*?)>", re.MULTILINE)  # feedparser's own pattern
_state = threading.local()

Replace = Callable[[bytes], tuple[str | None, bytes, dict[str, str]]]


def expansion(data: bytes, entities: dict[str, str]) -> int:
    """How many characters the references to ``entities`` in ``data`` expand to."""
    return sum(len(value) * data.count(f"&{name};".encode()) for name, value in entities.items())


def bounded(original: Replace) -> Replace:
    """feedparser's ``replace_doctype``, dropping the entity declarations that would expand too far."""

    def replace_doctype(data: bytes):
        version, out, entities = original(data)
        size = expansion(out, entities)
        if size <= MAX_ENTITY_EXPANSION:
            return version, out, entities
        _state.dropped = size
        first = re.search(rb"<\w", data)
        cut = first.start() if first else len(data)
        # Without their declarations the references stay undefined: text, never expanded.
        version, out, _ = original(_ENTITY_DECL.sub(b"", data[:cut]) + data[cut:])
        return version, out, {}

    replace_doctype.__wrapped__ = original  # type: ignore[attr-defined]
    return replace_doctype


def install() -> None:
    """Wrap feedparser's DOCTYPE handling once per process."""
    import feedparser.api

    if not hasattr(feedparser.api.replace_doctype, "__wrapped__"):
        feedparser.api.replace_doctype = bounded(feedparser.api.replace_doctype)


def take_dropped() -> int:
    """The expansion refused while parsing the last document in this thread (0: none)."""
    size = getattr(_state, "dropped", 0)
    _state.dropped = 0
    return size
