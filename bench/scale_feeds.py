"""Benchmark feeds: N sources × M items of real headlines and bodies, and the server that serves them.

The generator is deterministic (same N, M, seed and generation give byte-identical documents): headlines are
UCI News Aggregator titles, bodies are walked along a word chain of ECB+ news texts (../shared/data/stories/;
see ``chain`` for why not verbatim sentences), about 2 KB an item; every fourth source is Atom, the rest
RSS 2.0. Items are laid out in time one every 90 s across all sources, so a reused UCI headline (5,000 of
them for up to 50,000 items) comes back 125 hours later, outside the merge window, and does not chain the
whole run into one story. One item in ten is a wire copy: the body of the next source's item at the same
position under its own headline, so merging has real work to do. Generation 2 puts 10% new items (rounded
up) at the top of every source and drops as many of the oldest.

The server listens on 127.0.0.1 .. 127.0.0.<hosts> (one port), source i on host i % hosts + 1, answers 304 to
a matching If-None-Match (or, without one, to an If-Modified-Since not older than the generation's date),
gzips when asked and allowed, sleeps a per-request latency, and counts requests per source. A control API on
127.0.0.1: ``/_bench/state`` (JSON counts), ``POST /_bench/set?gen=2&latency=50`` and ``POST /_bench/reset``.

    python bench/scale_feeds.py serve --sources 200 --items 50 --port 8765 [--gzip]
"""

from __future__ import annotations

import argparse
import csv
import email.utils
import gzip
import hashlib
import json
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "stories"
if not DATA.is_dir():  # a worktree under /work/wt/<name>: the shared data is two levels up
    DATA = Path("/work/shared/data/stories")
BASE_TIME = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=90)
BODY_CHARS = 1800
WIRE_SHARE = 10  # one item in WIRE_SHARE is a wire copy of the next source's item


UCI_FILE, ECB_FILE = "uci_news_head5000.csv", "ecbplus_documents.jsonl"


def use_data(folder: Path, uci: str = UCI_FILE, ecb: str = ECB_FILE) -> None:
    """Read headlines and bodies from other files (the tests' small samples)."""
    global DATA, UCI_FILE, ECB_FILE
    DATA, UCI_FILE, ECB_FILE = folder, uci, ecb
    for fn in (headlines, sentences, chain):
        fn.cache_clear()


@cache
def headlines() -> tuple[str, ...]:
    with open(DATA / UCI_FILE, newline="", encoding="utf-8") as f:
        return tuple(row["TITLE"].strip() for row in csv.DictReader(f) if row["TITLE"].strip())


@cache
def sentences() -> tuple[str, ...]:
    out: list[str] = []
    with open(DATA / ECB_FILE, encoding="utf-8") as f:
        for line in f:
            for s in json.loads(line)["text"].split("\n"):
                s = " ".join(s.replace("``", '"').replace("''", '"').split())
                if len(s) >= 40:
                    out.append(s)
    return tuple(out)


@cache
def chain() -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """A first-order word chain over the ECB+ sentences: sentence openings, and each word's followers.

    Why not the sentences themselves: ECB+ holds about 1 MB of text and 1,000 × 50 items need 90 MB, so
    verbatim sentences would recur about 90 times each and every article would share long passages with
    dozens of others, a load no real set of feeds presents (it made every article a merge candidate of
    every other). Words walked along the chain read like news, with the corpus's vocabulary and phrasing,
    and overlap between items as much as real articles do: in common phrases only.
    """
    starts: list[str] = []
    follow: dict[str, list[str]] = {}
    for sent in sentences():
        words = sent.split()
        starts.append(words[0])
        for a, b in zip(words, [*words[1:], "\n"], strict=True):
            follow.setdefault(a, []).append(b)
    return tuple(starts), {k: tuple(v) for k, v in follow.items()}


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    link: str
    body: str
    published: datetime


def _seq(n_sources: int, source: int, position: int) -> int:
    """Global sequence number of an item: position 0 of every source is the newest row."""
    return position * n_sources + source


def _body(seed: int, seq: int) -> str:
    rng = random.Random(f"{seed}:body:{seq}")
    starts, follow = chain()
    words: list[str] = []
    size = 0
    while size < BODY_CHARS:
        word = rng.choice(starts)
        for _ in range(60):  # a sentence: walk the chain to its end (or cut a run-on one short)
            words.append(word)
            size += len(word) + 1
            word = rng.choice(follow.get(word, ("\n",)))
            if word == "\n":
                break
        if not words[-1].endswith((".", "?", "!", '"')):
            words[-1] += "."
    return " ".join(words)


def make_item(seed: int, n_sources: int, source: int, seq: int, last_seq: int) -> Item:
    """Item number ``seq`` (in time order, newest highest) of ``source``; ``last_seq`` is dated BASE_TIME.

    Dates end in the past: a future date would be clamped to the time of the run.
    """
    titles = headlines()
    body_seq = seq
    if random.Random(f"{seed}:wire:{seq}").randrange(WIRE_SHARE) == 0:
        body_seq = seq + 1 if (seq + 1) % n_sources else seq + 1 - n_sources  # next source, same row
    return Item(
        guid=f"https://s{source:04d}.bench.example/{seq}",
        title=titles[(seq * 7919) % len(titles)],
        link=f"https://s{source:04d}.bench.example/news/{seq}.html",
        body=_body(seed, body_seq),
        published=BASE_TIME - STEP * (last_seq - seq),
    )


def source_items(seed: int, n_sources: int, n_items: int, source: int, gen: int) -> list[Item]:
    """The items a source's document holds in generation ``gen`` (1 or 2), newest first."""
    new = -(-n_items // 10)  # 10% new, rounded up
    last_seq = _seq(n_sources, n_sources - 1, n_items - 1 + new)
    top_row = n_items - 1 + (new if gen >= 2 else 0)
    rows = range(top_row, top_row - n_items, -1)
    return [make_item(seed, n_sources, source, _seq(n_sources, source, r), last_seq) for r in rows]


def is_atom(source: int) -> bool:
    return source % 4 == 3


def gen_date(gen: int) -> datetime:
    return BASE_TIME - timedelta(days=2 - gen)


def render(seed: int, n_sources: int, n_items: int, source: int, gen: int) -> bytes:
    items = source_items(seed, n_sources, n_items, source, gen)
    name = f"Bench source {source:04d}"
    home = f"https://s{source:04d}.bench.example/"
    if is_atom(source):
        out = [
            '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
            f"<title>{name}</title><id>{home}</id><link href=\"{home}\"/>",
            f"<updated>{items[0].published.isoformat()}</updated>",
        ]
        for it in items:
            out.append(
                f"<entry><title>{escape(it.title)}</title><id>{escape(it.guid)}</id>"
                f"<link href=\"{escape(it.link)}\"/><published>{it.published.isoformat()}</published>"
                f"<updated>{it.published.isoformat()}</updated>"
                f"<summary type=\"html\">{escape('<p>' + escape(it.body) + '</p>')}</summary></entry>"
            )
        out.append("</feed>\n")
    else:
        out = [
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
            f"<title>{name}</title><link>{home}</link><description>{name}</description>",
        ]
        for it in items:
            out.append(
                f"<item><title>{escape(it.title)}</title><link>{escape(it.link)}</link>"
                f"<guid isPermaLink=\"true\">{escape(it.guid)}</guid>"
                f"<pubDate>{email.utils.format_datetime(it.published, usegmt=True)}</pubDate>"
                f"<description>{escape('<p>' + escape(it.body) + '</p>')}</description></item>"
            )
        out.append("</channel></rss>\n")
    return "\n".join(out).encode("utf-8")


def host_of(source: int, hosts: int) -> str:
    return f"127.0.0.{source % hosts + 1}"


def feed_url(source: int, hosts: int, port: int) -> str:
    return f"http://{host_of(source, hosts)}:{port}/feeds/{source:04d}.{'atom' if is_atom(source) else 'xml'}"


@dataclass(frozen=True)
class Doc:
    body: bytes
    gz: bytes
    etag: str
    last_modified: str
    modified: datetime
    content_type: str


class Farm:
    """Every document of both generations, rendered once up front; the switch and the counters."""

    def __init__(self, n_sources: int, n_items: int, seed: int = 1, *, gzip_ok: bool = False) -> None:
        self.n_sources, self.n_items, self.seed, self.gzip_ok = n_sources, n_items, seed, gzip_ok
        self.gen, self.latency = 1, 0.0
        self.docs = {g: [self._doc(i, g) for i in range(n_sources)] for g in (1, 2)}
        self.lock = threading.Lock()
        self.reset()

    def _doc(self, source: int, gen: int) -> Doc:
        body = render(self.seed, self.n_sources, self.n_items, source, gen)
        modified = gen_date(gen)
        ctype = "application/atom+xml" if is_atom(source) else "application/rss+xml"
        return Doc(
            body, gzip.compress(body, 6, mtime=0) if self.gzip_ok else b"",
            '"' + hashlib.sha256(body).hexdigest()[:20] + '"',
            email.utils.format_datetime(modified, usegmt=True), modified, ctype + "; charset=utf-8",
        )

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.counts = [0] * self.n_sources
            self.status = {"200": 0, "304": 0, "404": 0}
            self.bytes_out = 0
            self.connections = 0

    def state(self) -> dict:
        with self.lock:
            return {
                "gen": self.gen, "latency_ms": self.latency * 1000, "requests": sum(self.counts),
                "fetched_sources": sum(1 for c in self.counts if c), "sources": self.n_sources,
                "max_per_source": max(self.counts, default=0), "status": dict(self.status),
                "bytes": self.bytes_out, "connections": self.connections,
            }


def not_modified(doc: Doc, if_none_match: str, if_modified_since: str) -> bool:
    """The conditional-GET decision (RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since)."""
    if if_none_match:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return doc.etag in tags or "*" in tags
    if if_modified_since:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return doc.modified <= since
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for clients that reuse connections
    farm: Farm

    def setup(self) -> None:
        super().setup()
        with self.farm.lock:
            self.farm.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/_bench/reset":
            self.farm.reset()
        elif url.path == "/_bench/set":
            with self.farm.lock:
                if "gen" in q:
                    self.farm.gen = int(q["gen"])
                if "latency" in q:
                    self.farm.latency = float(q["latency"]) / 1000
        else:
            return self._send(404)
        self._send(200, json.dumps(self.farm.state()).encode(), {"Content-Type": "application/json"})

    def do_GET(self) -> None:
        farm = self.farm
        path = urlsplit(self.path).path
        if path == "/_bench/state":
            return self._send(200, json.dumps(farm.state()).encode(), {"Content-Type": "application/json"})
        stem = path.rsplit("/", 1)[-1].split(".", 1)[0]
        if not path.startswith("/feeds/") or not stem.isdigit() or int(stem) >= farm.n_sources:
            with farm.lock:
                farm.status["404"] += 1
            return self._send(404)
        source = int(stem)
        if farm.latency:
            time.sleep(farm.latency)
        doc = farm.docs[farm.gen][source]
        headers = {"ETag": doc.etag, "Last-Modified": doc.last_modified, "Content-Type": doc.content_type}
        if not_modified(doc, self.headers.get("If-None-Match", ""), self.headers.get("If-Modified-Since", "")):
            status, body = 304, b""
            headers.pop("Content-Type")
        else:
            status, body = 200, doc.body
            if farm.gzip_ok and "gzip" in self.headers.get("Accept-Encoding", ""):
                body = doc.gz
                headers["Content-Encoding"] = "gzip"
        with farm.lock:
            farm.counts[source] += 1
            farm.status[str(status)] += 1
            farm.bytes_out += len(body)
        self._send(status, body, headers)

    do_HEAD = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def serve(farm: Farm, port: int, hosts: int) -> list[_Server]:
    """Start one listener per loopback address (all on ``port``); returns them, serving in threads."""
    handler = type("FarmHandler", (Handler,), {"farm": farm})
    servers = []
    for h in range(hosts):
        srv = _Server((f"127.0.0.{h + 1}", port), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    return servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve")
    sv.add_argument("--sources", type=int, default=200)
    sv.add_argument("--items", type=int, default=50)
    sv.add_argument("--port", type=int, default=0)
    sv.add_argument("--hosts", type=int, default=20)
    sv.add_argument("--seed", type=int, default=1)
    sv.add_argument("--gzip", action="store_true")
    sv.add_argument("--latency", type=float, default=0.0, help="milliseconds added to every feed request")
    args = ap.parse_args(argv)
    farm = Farm(args.sources, args.items, args.seed, gzip_ok=args.gzip)
    farm.latency = args.latency / 1000
    port = args.port or free_port()
    serve(farm, port, args.hosts)
    sizes = [len(d.body) for d in farm.docs[1]]
    print(json.dumps({"port": port, "bytes_per_item": sum(sizes) / len(sizes) / args.items}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
