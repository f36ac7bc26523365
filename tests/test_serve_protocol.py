"""The wire protocol of `syndicator serve` (syndicator/serve_protocol.py): published files answered from
the parser's callback give the same answers as the ASGI app; keep-alive, pipelining, HTTP/1.0 and a cap on
request heads (httptools has none of its own)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from syndicator.serve import create_app, server_config
from tests.conftest import free_port, wait_for_port


def _serve(public, *, fast_path: bool, access_log: bool = False):
    port = free_port()
    server = uvicorn.Server(server_config(create_app(public, max_age=60), port=port, fast_path=fast_path,
                                          access_log=access_log))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    return server, thread, port


@pytest.fixture
def servers(tmp_path):
    """The same folder served twice: with the fast path, and through the ASGI app only."""
    public = tmp_path / "public"
    public.mkdir()
    (public / "all.rss").write_bytes(b"<rss>" + b"x" * 3000 + b"</rss>")
    (public / "all.atom").write_bytes(b"<feed>one</feed>")
    (public / "index.html").write_bytes(b"<html>hi</html>")
    running = [_serve(public, fast_path=True), _serve(public, fast_path=False)]
    yield public, running[0][2], running[1][2]
    for server, thread, _ in running:
        server.should_exit = True
        thread.join(10)


def _exchange(port: int, request: bytes, *, expect_close: bool = False, timeout: float = 5.0) -> bytes:
    """Send ``request`` on a new connection and read what comes back until the server closes it (or,
    on a kept-alive connection, until nothing more arrives for a moment)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        sock.settimeout(timeout if expect_close else 0.5)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            assert not expect_close, "the server did not close the connection"
    return answer


def _responses(raw: bytes) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """Split a stream of HTTP/1.1 responses (bodies framed by Content-Length; a 304 has none)."""
    out = []
    while raw:
        head, sep, raw = raw.partition(b"\r\n\r\n")
        assert sep, head
        status, *lines = head.split(b"\r\n")
        headers = {k.lower(): v for k, _, v in (line.partition(b": ") for line in lines)}
        n = int(headers.get(b"content-length", b"0")) if b" 304 " not in status + b" " else 0
        out.append((status, headers, raw[:n]))
        raw = raw[n:]
    return out


def test_fast_path_answers_as_the_app_does(servers):
    _, fast, slow = servers
    probe = httpx.get(f"http://127.0.0.1:{slow}/all.rss", headers={"Accept-Encoding": "identity"})
    etag, modified = probe.headers["etag"], probe.headers["last-modified"]
    gz_etag = etag[:-1] + '-gz"'
    header_sets = [
        {"Accept-Encoding": "identity"},
        {"Accept-Encoding": "gzip"},
        {"Accept-Encoding": "identity", "If-None-Match": etag},
        {"Accept-Encoding": "gzip", "If-None-Match": gz_etag},
        {"Accept-Encoding": "gzip", "If-None-Match": etag},  # either tag matches (serve._not_modified)
        {"Accept-Encoding": "identity", "If-None-Match": '"other", W/' + etag},
        {"Accept-Encoding": "identity", "If-None-Match": "*"},
        {"Accept-Encoding": "identity", "If-Modified-Since": modified},
        {"Accept-Encoding": "identity", "If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
        {"Accept-Encoding": "identity", "If-Modified-Since": "not a date"},
    ]
    paths = ["/", "/all.rss", "/all.atom", "/all.rss?x=1", "/%61ll.rss", "/nope.rss", "/../etc/passwd",
             "/index.html/", "//all.rss", "/healthz"]
    compared = 0
    for method in ("GET", "HEAD"):
        for path in paths:
            for headers in header_sets:
                answers = []
                for port in (fast, slow):
                    request = f"{method} {path} HTTP/1.1\r\nHost: x\r\n" + "".join(
                        f"{k}: {v}\r\n" for k, v in headers.items()) + "Connection: close\r\n\r\n"
                    raw = _exchange(port, request.encode(), expect_close=True)
                    ((status, head, body),) = _responses(raw) if method == "GET" else [_head_only(raw)]
                    head.pop(b"date", None)
                    answers.append((status, head, body))
                assert answers[0] == answers[1], (method, path, headers)
                compared += 1
    assert compared == 2 * len(paths) * len(header_sets)


def _head_only(raw: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head, _, rest = raw.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    return status, {k.lower(): v for k, _, v in (line.partition(b": ") for line in lines)}, rest


def test_keep_alive_and_pipelined_requests_answered_in_order(servers):
    _, fast, _ = servers
    etag = httpx.get(f"http://127.0.0.1:{fast}/all.atom", headers={"Accept-Encoding": "identity"}).headers["etag"]
    requests = [
        b"GET /all.rss HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n",
        b"GET /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\nIf-None-Match: %s\r\n\r\n" % etag.encode(),
        b"GET /missing.rss HTTP/1.1\r\nHost: x\r\n\r\n",  # through the app, between two fast answers
        b"HEAD /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n",
        b"GET /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n",
    ]
    with socket.create_connection(("127.0.0.1", fast)) as sock:
        sock.sendall(b"".join(requests))  # pipelined: all in one go
        raw = b""
        sock.settimeout(5)
        while raw.count(b"HTTP/1.1 ") < 5 or not raw.endswith(b"<feed>one</feed>"):
            chunk = sock.recv(65536)
            assert chunk, raw
            raw += chunk
        # Split on status lines (no body here contains one); HEAD's answer has a Content-Length, no body.
        empty, first, second, third, head, last = raw.split(b"HTTP/1.1 ")
        assert empty == b""
        assert first.startswith(b"200") and first.endswith(b"x" * 3000 + b"</rss>")
        assert second.startswith(b"304") and second.endswith(b"\r\n\r\n")
        assert third.startswith(b"404")
        assert head.startswith(b"200") and b"content-length: 16\r\n" in head and head.endswith(b"\r\n\r\n")
        assert last.startswith(b"200") and last.endswith(b"\r\n\r\n<feed>one</feed>")
        # The connection stays open for the next request.
        sock.sendall(b"GET /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n")
        again = b""
        while not again.endswith(b"<feed>one</feed>"):
            chunk = sock.recv(65536)
            assert chunk
            again += chunk
        assert again.startswith(b"HTTP/1.1 200")


def test_many_small_pipelined_requests_are_not_taken_for_a_large_head(servers):
    _, fast, _ = servers
    one = b"GET /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n"
    n = 2000  # about 130 KB in one send: more than the cap on one head, but every head is small
    with socket.create_connection(("127.0.0.1", fast)) as sock:
        sock.sendall(one * n)
        sock.settimeout(5)
        raw = b""
        while raw.count(b"<feed>one</feed>") < n:
            chunk = sock.recv(1 << 20)
            assert chunk, raw[-300:]
            raw += chunk
    assert raw.count(b"HTTP/1.1 200 OK") == n and b"431" not in raw


def test_http_1_0_gets_its_answer_and_the_connection_closes(servers):
    _, fast, _ = servers
    raw = _exchange(fast, b"GET /all.atom HTTP/1.0\r\nAccept-Encoding: identity\r\n\r\n", expect_close=True)
    ((status, headers, body),) = _responses(raw)
    assert status.startswith(b"HTTP/1.1 200") and body == b"<feed>one</feed>"
    assert headers[b"connection"] == b"close"


@pytest.mark.parametrize("chunked", [False, True])
def test_a_head_beyond_64_kib_is_refused_with_431(servers, chunked):
    _, fast, _ = servers
    big = b"GET /all.atom HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    answer = b""
    with socket.create_connection(("127.0.0.1", fast)) as sock:
        sock.settimeout(5)
        try:
            if chunked:  # an endless header, a little at a time: refused before it ends
                for i in range(0, len(big), 4096):
                    sock.sendall(big[i:i + 4096])
                    time.sleep(0.001)
            else:
                sock.sendall(big)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while we were still sending
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_a_head_just_under_the_cap_is_answered(servers):
    _, fast, _ = servers
    request = b"GET /all.atom HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\nX-Pad: " + b"p" * 60_000 + b"\r\n\r\n"
    raw = _exchange(fast, request)
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"<feed>one</feed>")


def test_with_the_access_log_every_request_is_logged(tmp_path, caplog):
    public = tmp_path / "public"
    public.mkdir()
    (public / "all.atom").write_bytes(b"<feed>one</feed>")
    server, thread, port = _serve(public, fast_path=True, access_log=True)
    try:
        with caplog.at_level("INFO", logger="uvicorn.access"):
            assert httpx.get(f"http://127.0.0.1:{port}/all.atom").status_code == 200
            deadline = time.monotonic() + 5
            while not any("/all.atom" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
                time.sleep(0.05)
        assert any("GET /all.atom" in r.getMessage() for r in caplog.records)
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_replaced_file_is_served_new_on_the_fast_path(servers):
    public, fast, _ = servers
    url = f"http://127.0.0.1:{fast}/all.atom"
    assert httpx.get(url).content == b"<feed>one</feed>"
    tmp = public / ".all.atom.tmp"
    tmp.write_bytes(b"<feed>two, longer</feed>")
    tmp.replace(public / "all.atom")  # as a publish does: a new inode renamed in
    assert httpx.get(url).content == b"<feed>two, longer</feed>"
    (public / "all.atom").unlink()
    assert httpx.get(url).status_code == 404
