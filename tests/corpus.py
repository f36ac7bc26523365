"""Many sources on one local HTTP server that logs every request with its start and end time.

Used by tests/test_workers.py (several worker processes against PostgreSQL) and
bench/workers.py (throughput with 1, 2 and 4 workers). Each source's feed is
built once; the server answers 304 to a matching If-None-Match, like a real one.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tests.feedmaker import It, rss2
from tests.localserver import LocalServer, QuietHandler

_SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "de", "po", "gu", "fa", "zel", "bor", "tin", "qua"]


@dataclass(frozen=True)
class Fetch:
    path: str
    agent: str
    status: int
    start: float  # time.time() when the request line arrived
    end: float  # after the last byte was written


class CorpusServer(LocalServer):
    """Serves ``feeds`` (path -> body) on 127.0.0.1, appending a ``Fetch`` per request to ``log``."""

    def __init__(self, feeds: dict[str, bytes], delay: float = 0.0) -> None:
        self.feeds = feeds
        self.etags = {p: '"' + hashlib.sha256(b).hexdigest()[:16] + '"' for p, b in feeds.items()}
        self.log: list[Fetch] = []
        self._lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                start = time.time()
                if delay:
                    time.sleep(delay)  # a fetch that takes a while, so fetches can overlap if allowed to
                body = server.feeds.get(self.path)
                etag = server.etags.get(self.path, "")
                if body is None:
                    status, payload = 404, b"not found"
                elif self.headers.get("If-None-Match") == etag:
                    status, payload = 304, b""
                else:
                    status, payload = 200, body
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                if status != 304:
                    self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if payload:
                    self.wfile.write(payload)
                self.wfile.flush()
                with server._lock:
                    server.log.append(Fetch(self.path, self.headers.get("User-Agent", ""), status, start, time.time()))

        super().__init__(Handler)

    def fetches(self) -> list[Fetch]:
        with self._lock:
            return list(self.log)


def _headline(rng: random.Random, words: int = 6) -> str:
    return " ".join(
        "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(words)
    ).capitalize()


@dataclass(frozen=True)
class Corpus:
    feeds: dict[str, bytes]  # path -> RSS document
    shared: int  # stories each carried by several sources (same link)
    own: int  # stories carried by one source only

    @property
    def stories(self) -> int:
        return self.shared + self.own


def make_corpus(sources: int, shared: int, own_per_source: int = 1, seed: int = 8) -> Corpus:
    """``sources`` feeds: each has its own stories plus one of ``shared`` stories that
    ``sources / shared`` sources all carry under the same link (different tracking parameters)."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    shared_titles = [_headline(rng) for _ in range(shared)]
    feeds: dict[str, bytes] = {}
    for i in range(sources):
        j = i % shared
        items = [
            It(shared_titles[j], f"https://news.example/story/{j}?utm_source=s{i}", f"s{i}-shared-{j}",
               published=now - timedelta(minutes=j))
        ]
        for k in range(own_per_source):
            items.append(
                It(_headline(rng), f"https://s{i}.example/own/{k}", f"s{i}-own-{k}",
                   published=now - timedelta(minutes=(i * 7 + k) % 600))
            )
        feeds[f"/s{i:04d}.xml"] = rss2(items, title=f"Source {i}")
    return Corpus(feeds, shared, sources * own_per_source)
