"""Hostile sources, each served from 127.0.0.1 by a real server, all in one real ``syndicator refresh``
beside a good source: every one fails only itself, with a clear error, in bounded time and memory,
and the good source is stored and published."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import syndicator, write_config
from tests.feedmaker import It, rss2
from tests.localserver import LocalServer, QuietHandler

GOOD = rss2([It("A good story survives its neighbours", "https://good.example/1", "good-1")])
GIB = 1 << 30
MIB = 1 << 20


def billion_laughs() -> bytes:
    decls, prev = ['<!ENTITY lol0 "lol">'], "lol0"
    for k in range(1, 10):
        decls.append(f'<!ENTITY lol{k} "{f"&{prev};" * 10}">')
        prev = f"lol{k}"
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(decls) + "\n]>\n"
        f'<rss version="2.0"><channel><title>&{prev};</title>'
        f"<item><title>Laughs &{prev};</title><link>https://bomb.example/1</link></item></channel></rss>"
    ).encode()


def quadratic_blowup() -> bytes:
    """One 50 kB entity referenced 40,000 times: 2 GB once expanded, from a 2 MB document."""
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "' + "A" * 50_000 + '">\n]>\n'
        '<rss version="2.0"><channel><title>t</title><item><title>Blowup</title>'
        "<link>https://bomb.example/2</link><description>" + "&a;" * 40_000 + "</description></item></channel></rss>"
    ).encode()


@cache
def gzip_bomb(layers: int) -> bytes:
    """256 MB of zeros gzipped (about 250 kB), then gzipped again for each further layer."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    body = b"".join(c.compress(zeros) for _ in range(256)) + c.flush()
    for _ in range(layers - 1):
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        body = c.compress(body) + c.flush()
    return body


class Hostile(QuietHandler):  # a client that gives up, as it should, is no error (QuietHandler.handle)
    protocol_version = "HTTP/1.0"  # the streaming answers end when the connection closes

    def do_GET(self) -> None:
        self._answer()

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _answer(self) -> None:
        path = self.path
        if path == "/good.xml":
            self._head(200, {"Content-Type": "application/rss+xml", "Content-Length": str(len(GOOD))})
            self.wfile.write(GOOD)
        elif path in ("/laughs.xml", "/blowup.xml"):
            body = billion_laughs() if path == "/laughs.xml" else quadratic_blowup()
            self._head(200, {"Content-Type": "application/rss+xml", "Content-Length": str(len(body))})
            self.wfile.write(body)
        elif path in ("/gigabyte", "/gigabyte-declared"):
            headers = {"Content-Type": "application/rss+xml"}
            if path == "/gigabyte-declared":
                headers["Content-Length"] = str(GIB)
            self._head(200, headers)
            block = b"<rss>" + b" " * (MIB - 5)
            for _ in range(1024):  # 1 GB, written as the client reads; never held
                self.wfile.write(block)
        elif path in ("/gzip-bomb", "/gzip-gzip-bomb"):
            layers = 1 if path == "/gzip-bomb" else 2
            body = gzip_bomb(layers)
            encoding = ", ".join(["gzip"] * layers)
            self._head(200, {"Content-Type": "application/rss+xml", "Content-Encoding": encoding,
                             "Content-Length": str(len(body))})
            self.wfile.write(body)
        elif path == "/slow.xml":
            self._head(200, {"Content-Type": "application/rss+xml"})
            for byte in GOOD * 10:  # one byte a second: minutes for the whole document
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(1.0)
        elif path == "/slow-headers.xml":
            # Status line and headers one byte a second: no single read ever waits long enough to time out.
            head = b"HTTP/1.0 200 OK\r\nContent-Type: application/rss+xml\r\nX-Padding: " + b"x" * 200 + b"\r\n\r\n"
            for byte in head:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(1.0)
            self.wfile.write(GOOD)
        elif path in ("/loop-a", "/loop-b"):
            self._head(302, {"Location": "/loop-b" if path == "/loop-a" else "/loop-a", "Content-Length": "0"})
        elif path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            self._head(301, {"Location": f"/chain/{n + 1}", "Content-Length": "0"})
        elif path == "/page.html":
            body = b"<!doctype html><html><head><title>Home</title></head><body><p>Welcome</p></body></html>"
            self._head(200, {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body))})
            self.wfile.write(body)
        elif path == "/image.png":
            body = b"\x89PNG\r\n\x1a\n" + bytes(2000)
            self._head(200, {"Content-Type": "image/png", "Content-Length": str(len(body))})
            self.wfile.write(body)
        else:
            self._head(404, {"Content-Length": "0"})


@pytest.fixture
def hostile_server():
    with LocalServer(Hostile) as server:
        yield server.port


def run_with_rusage(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess, int, float]:
    """Like subprocess.run, but reaps the child with os.wait4 to read its own peak RSS."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicator", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda k=k, s=s: out.__setitem__(k, s.read()), daemon=True)
        for k, s in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for r in readers:
        r.start()
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise AssertionError(f"syndicator {' '.join(args)} still running after {timeout}s")
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join(10)
    result = subprocess.CompletedProcess(
        proc.args, proc.returncode, out.get("out", b"").decode(), out.get("err", b"").decode()
    )
    return result, usage.ru_maxrss, time.monotonic() - started


@pytest.fixture
def plain_text_port():
    """A TCP server that answers anything, a TLS ClientHello included, with a plain-text line at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_each_hostile_source_fails_alone_in_bounded_time_and_memory(hostile_server, plain_text_port, tmp_path: Path):
    base = f"http://127.0.0.1:{hostile_server}"
    sources = {
        "good": f"{base}/good.xml",
        "laughs": f"{base}/laughs.xml",
        "blowup": f"{base}/blowup.xml",
        "gigabyte": f"{base}/gigabyte",
        "gigabyte-declared": f"{base}/gigabyte-declared",
        "gzip-bomb": f"{base}/gzip-bomb",
        "gzip-gzip-bomb": f"{base}/gzip-gzip-bomb",
        "slow": f"{base}/slow.xml",
        "slow-headers": f"{base}/slow-headers.xml",
        "loop": f"{base}/loop-a",
        "chain": f"{base}/chain/1",
        "html-page": f"{base}/page.html",
        "image": f"{base}/image.png",
        "tls": f"https://127.0.0.1:{plain_text_port}/feed.xml",  # TLS to a port that answers in plain text
        "dns": "http://feeds.syndicator-test.invalid/feed.xml",  # .invalid never resolves (RFC 6761)
        "refused": f"http://127.0.0.1:{_closed_port()}/feed.xml",
    }
    cfg = write_config(tmp_path, sources, extra="[fetch]\ntimeout = 4\nconnect_timeout = 3\n")
    gzip_bomb(1), gzip_bomb(2)  # built before the clock starts

    result, peak_kb, seconds = run_with_rusage("--config", str(cfg), "refresh", timeout=90)

    assert result.returncode == 1, result.stderr  # some sources failed; nothing crashed
    assert "Traceback" not in result.stderr, result.stderr
    # Bounded: the slow source is cut at the 4 s total timeout (not minutes), and nothing is held whole.
    assert seconds < 60, seconds
    assert peak_kb < 400 * 1024, f"peak RSS {peak_kb // 1024} MB"

    listing = syndicator("--config", str(cfg), "sources", "list")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    expected = {
        "gigabyte": "over the 10000000-byte cap",
        "gigabyte-declared": "over the 10000000-byte cap",
        "gzip-bomb": "over the 10000000-byte cap",
        "gzip-gzip-bomb": "over the 10000000-byte cap",
        "slow": "timed out",
        "slow-headers": "timed out",
        "loop": "redirect loop",
        "chain": "more than 5 redirects",
        "html-page": "not a feed",
        "image": "not a feed: the server sent image/png",
        "tls": "TLS handshake with 127.0.0.1 failed",
        "dns": "DNS lookup failed for feeds.syndicator-test.invalid",
        "refused": "cannot connect to 127.0.0.1",
    }
    for name, reason in expected.items():
        assert " error " in rows[name] and reason in rows[name], rows[name]
    # The entity bombs are read without their expansion: the item is kept, the source is flagged.
    for name in ("laughs", "blowup"):
        assert " ok " in rows[name], rows[name]
    assert "entity declarations ignored" in rows["blowup"], rows["blowup"]
    assert "undefined entity" in rows["laughs"], rows["laughs"]
    assert " ok " in rows["good"] and " 0 " in rows["good"], rows["good"]

    stories = syndicator("--config", str(cfg), "stories", "--json", "--limit", "0")
    titles = {s["title"] for s in json.loads(stories.stdout)}
    assert "A good story survives its neighbours" in titles
    assert "Blowup" in titles and any(t.startswith("Laughs") for t in titles)
    published = (tmp_path / "public" / "all.atom").read_text()
    assert "A good story survives its neighbours" in published
    assert not any(len(t) > 1000 for t in titles)  # nothing was expanded into a headline


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate", "br", "gzip, gzip"])
def test_bounded_decoding_gives_back_the_body_in_small_steps(coding):
    from syndicator import decode

    body = GOOD * 2000  # about 400 kB
    encoded, header = body, coding
    if coding == "br":
        import brotli

        encoded = brotli.compress(body)
    elif coding == "raw-deflate":
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        encoded, header = c.compress(body) + c.flush(), "deflate"
    else:
        for layer in coding.split(", "):
            c = zlib.compressobj(6, zlib.DEFLATED, 31 if layer == "gzip" else 15)
            encoded = c.compress(encoded) + c.flush()
    chunks = [encoded[i : i + 1000] for i in range(0, len(encoded), 1000)]
    pieces = list(decode.decoded(iter(chunks), header))
    assert b"".join(pieces) == body
    assert max(len(p) for p in pieces) <= 2 * decode.STEP  # brotli may pass the step by one block


@pytest.mark.parametrize("header", ["compress", "gzip, gzip, gzip", "zstd"])
def test_unknown_or_deeply_stacked_codings_are_refused(header):
    from syndicator import decode

    with pytest.raises(decode.DecodeError):
        list(decode.decoded(iter([b"x"]), header))
