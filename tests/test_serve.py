"""Serving published files: content types, strong ETags from content, 304s, HEAD, gzip,
404 for anything else and no way out of the output folder."""

from __future__ import annotations

import gzip
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
import uvicorn

from syndicator.serve import create_app, server_config
from tests.conftest import free_port, wait_for_port, write_config


@pytest.fixture(params=["fast path", "ASGI only"])
def client(tmp_path, request):
    public = tmp_path / "public"
    public.mkdir()
    (public / "all.rss").write_bytes(b"<rss>one</rss>")
    (public / "all.atom").write_bytes(b"<feed>one</feed>")
    (public / "all.json").write_bytes(b'{"items": []}')
    (public / "index.html").write_bytes(b"<html>hi</html>")
    (public / "feeds.opml").write_bytes(b"<opml/>")
    (public / ".all.rss.123.tmp").write_bytes(b"half")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    port = free_port()
    server = uvicorn.Server(server_config(create_app(public, max_age=120), port=port,
                                          fast_path=request.param == "fast path"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        yield c, public
    server.should_exit = True
    thread.join(10)


def test_content_types_and_caching_headers(client):
    c, _ = client
    expected = {
        "/all.rss": "application/rss+xml; charset=utf-8",
        "/all.atom": "application/atom+xml; charset=utf-8",
        "/all.json": "application/feed+json; charset=utf-8",
        "/": "text/html; charset=utf-8",
        "/feeds.opml": "text/x-opml; charset=utf-8",
    }
    for path, ctype in expected.items():
        r = c.get(path, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200, path
        assert r.headers["content-type"] == ctype
        assert r.headers["cache-control"] == "public, max-age=120"
        assert "last-modified" in r.headers
    r = c.get("/all.rss", headers={"Accept-Encoding": "identity"})
    assert r.headers["etag"] == '"' + hashlib.sha256(b"<rss>one</rss>").hexdigest()[:32] + '"'


def test_conditional_requests(client):
    c, public = client
    first = c.get("/all.atom", headers={"Accept-Encoding": "identity"})
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert c.get("/all.atom", headers={"If-None-Match": etag, "Accept-Encoding": "identity"}).status_code == 304
    assert c.get("/all.atom", headers={"If-Modified-Since": modified}).status_code == 304
    assert c.get("/all.atom", headers={"If-None-Match": '"other"'}).status_code == 200
    # A publish replaces the file: new content, new ETag, the old one no longer matches.
    (public / "all.atom").write_bytes(b"<feed>two</feed>")
    st = (public / "all.atom").stat()
    os.utime(public / "all.atom", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    r = c.get("/all.atom", headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert r.status_code == 200 and r.content == b"<feed>two</feed>" and r.headers["etag"] != etag


def test_head_and_gzip(client):
    c, _ = client
    head = c.head("/all.rss", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(b"<rss>one</rss>"))
    raw = c.get("/all.rss", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["vary"] == "Accept-Encoding"
    assert raw.content == b"<rss>one</rss>"  # the client decoded what we compressed
    etag = raw.headers["etag"]
    assert c.get("/all.rss", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}).status_code == 304
    with c.stream("GET", "/all.rss", headers={"Accept-Encoding": "gzip"}) as streamed:
        assert gzip.decompress(b"".join(streamed.iter_raw())) == b"<rss>one</rss>"


def test_200_head_and_304_carry_the_same_headers(client):
    c, _ = client
    for path, csp in (("/all.atom", "default-src 'none'; sandbox"), ("/", None)):
        for encoding in ("identity", "gzip"):
            get = c.get(path, headers={"Accept-Encoding": encoding})
            head = c.head(path, headers={"Accept-Encoding": encoding})
            same = c.get(path, headers={"Accept-Encoding": encoding, "If-None-Match": get.headers["etag"]})
            assert (get.status_code, head.status_code, same.status_code) == (200, 200, 304)
            assert same.content == b"" and "content-length" not in same.headers
            assert "content-type" not in same.headers and "content-encoding" not in same.headers
            for name in ("etag", "last-modified", "cache-control", "vary", "content-security-policy",
                         "x-content-type-options", "referrer-policy"):
                assert get.headers[name] == head.headers[name] == same.headers[name], (path, encoding, name)
            assert head.headers["content-type"] == get.headers["content-type"]
            assert head.headers["content-length"] == get.headers["content-length"]
            assert get.headers["etag"].endswith('-gz"') == (encoding == "gzip")
            if csp:
                assert get.headers["content-security-policy"] == csp


@pytest.mark.parametrize(
    "path",
    ["/nope.rss", "/secret.txt", "/../secret.txt", "/%2e%2e/secret.txt", "/.all.rss.123.tmp", "/public/all.rss",
     "/all.rss/", "/..%2fsecret.txt"],
)
def test_everything_else_is_404(client, path):
    c, _ = client
    assert c.get(path).status_code == 404


def test_only_get_and_head(client):
    c, _ = client
    assert c.post("/all.rss").status_code == 405
    assert c.delete("/all.rss").status_code == 405
    assert c.request("OPTIONS", "/all.rss").status_code == 405


def test_serve_command_serves_and_stops_on_sigterm(tmp_path):
    cfg = write_config(tmp_path, {})
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "all.rss").write_bytes(b"<rss/>")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicator", "--config", str(cfg), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port)
        r = httpx.get(f"http://127.0.0.1:{port}/all.rss")
        assert r.status_code == 200 and r.content == b"<rss/>"
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - start < 10
    finally:
        proc.kill()
