"""Content-Encoding decoded in bounded steps, so a compression bomb cannot fill memory.

httpx decodes a whole network chunk at once: one 64 kB gzip chunk of zeros becomes 64 MB
before anyone can count it, and a body encoded twice ("Content-Encoding: gzip, gzip", which
HTTP allows) multiplies that again, to gigabytes from a few kilobytes on the wire
(tests/test_hostile.py). Here every decoder yields at most ``STEP`` bytes at a time, chained
lazily, and the caller counts the decoded bytes against its size cap as they come.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

STEP = 64 * 1024
# More stacked encodings than this is not a real server (RFC 9110 allows a list; nobody
# sends more than two), and each layer multiplies what a few bytes can become.
MAX_LAYERS = 2


class DecodeError(ValueError):
    """The body's Content-Encoding is unknown, stacked too deep, or the data is corrupt."""


def accept_encoding() -> str:
    """What we ask for: the codings this module decodes here."""
    return "gzip, deflate, br" if _brotli() is not None else "gzip, deflate"


def codings(header: str) -> list[str]:
    """The Content-Encoding header's codings, in the order they were applied."""
    found = [c.strip().lower() for c in header.split(",") if c.strip()]
    found = [c for c in found if c != "identity"]
    if len(found) > MAX_LAYERS:
        raise DecodeError(f"Content-Encoding {header!r}: more than {MAX_LAYERS} stacked codings")
    for c in found:
        if c not in ("gzip", "x-gzip", "deflate", "br") or (c == "br" and _brotli() is None):
            raise DecodeError(f"unsupported Content-Encoding {c!r}")
    return found


def decoded(chunks: Iterable[bytes], header: str) -> Iterator[bytes]:
    """The decoded body of ``chunks`` (raw, as received), in pieces of at most STEP bytes each."""
    stream: Iterable[bytes] = chunks
    for coding in reversed(codings(header)):  # the last coding applied is the first undone
        stream = _layer(stream, coding)
    yield from stream


def _layer(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    if coding == "br":
        yield from _brotli_layer(chunks)
        return
    wbits = zlib.MAX_WBITS | 16 if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
    d = zlib.decompressobj(wbits)
    first = True
    try:
        for chunk in chunks:
            if first and coding == "deflate" and chunk:
                first = False
                # "deflate" is meant to be zlib-wrapped; some servers send raw deflate (httpx accepts both).
                if (chunk[0] & 0x0F) != 8:
                    d = zlib.decompressobj(-zlib.MAX_WBITS)
            data = chunk
            while data:
                out = d.decompress(data, STEP)
                data = d.unconsumed_tail
                if out:
                    yield out
                if d.eof:
                    break
        out = d.flush()
        if out:
            yield out
    except zlib.error as exc:
        raise DecodeError(f"corrupt {coding} body: {exc}") from None


def _brotli_layer(chunks: Iterable[bytes]) -> Iterator[bytes]:
    brotli = _brotli()
    d = brotli.Decompressor()
    try:
        for chunk in chunks:
            out = d.process(chunk, output_buffer_limit=STEP)
            # The limit stops the output buffer growing (it may pass STEP by one block); the rest
            # comes from calls with no input, until one returns nothing.
            while out:
                yield out
                out = d.process(b"", output_buffer_limit=STEP)
    except brotli.error as exc:
        raise DecodeError(f"corrupt br body: {exc}") from None


def _brotli():
    try:
        import brotli
    except ImportError:
        return None
    return brotli
