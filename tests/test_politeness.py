"""HTTP politeness against real local servers: User-Agent, concurrency overall and per host name,
timeouts, the size cap, compression, permanent and temporary redirects, 429/503 backing off one
host only, validators kept even when the body is unchanged, and the schedule `sources list` shows."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import brotli
import pytest

from syndicator import __version__
from syndicator.config import FetchConfig, load_config
from syndicator.fetch import PROJECT_URL, Fetcher, FetchRequest
from syndicator.store import Store
from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, rss2
from tests.politeserver import PoliteServer, Reply


@pytest.fixture
def polite():
    server = PoliteServer().start()
    yield server
    server.stop()


def _feed(tag: str, n: int = 1, extra: str = "") -> bytes:
    body = rss2([It(f"{tag} story {i}", f"https://{tag}.example/{i}", f"{tag}-{i}") for i in range(n)])
    return body.replace(b"<description>d</description>", b"<description>d</description>" + extra.encode(), 1)


def _rows(cfg: Path):
    with Store(load_config(cfg).database_url()) as store:
        return store.sources()


def _line(listing: str, name: str) -> str:
    return next(x for x in listing.splitlines() if x.startswith(name + " "))


def test_user_agent_names_the_project_and_compressed_bodies_are_read(polite, tmp_path):
    encoders = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}
    for enc, compress in encoders.items():
        polite.routes[f"/{enc}.xml"] = lambda h, enc=enc, compress=compress: Reply(
            body=compress(_feed(enc)), headers={"Content-Encoding": enc, "Content-Type": "application/rss+xml"}
        )
    cfg = write_config(tmp_path, {enc: polite.url(f"/{enc}.xml") for enc in encoders})
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    assert "3 fetched" in out.stdout and "articles: 3 new" in out.stdout
    for seen in polite.seen:
        assert seen.headers["user-agent"] == f"Syndicator/{__version__} (+{PROJECT_URL})"
        assert {"gzip", "deflate", "br"} <= {e.strip() for e in seen.headers["accept-encoding"].split(",")}


def _fetch_all(config: FetchConfig, urls: list[str]):
    with Fetcher(config) as fetcher:
        return list(fetcher.fetch_iter(FetchRequest(f"s{i}", u) for i, u in enumerate(urls)))


def test_requests_in_flight_are_capped_per_host_name_and_overall(polite):
    polite.routes["/slow.xml"] = lambda h: Reply(body=_feed("slow"), delay=0.4)
    urls = [polite.url("/slow.xml")] * 6 + [polite.url("/slow.xml", "localhost")] * 6
    results = _fetch_all(FetchConfig(), urls)
    assert [r.outcome for r in results] == ["ok"] * 12
    # Two at a time on each host name, and both hosts at once.
    assert polite.max_in_flight == {"127.0.0.1": 2, "localhost": 2}
    assert polite.max_overall == 4
    polite.max_in_flight.clear()
    polite.max_overall = 0
    _fetch_all(FetchConfig(concurrency=3, per_host=5), urls)
    assert polite.max_overall == 3 and max(polite.max_in_flight.values()) <= 3


def test_a_host_with_many_sources_does_not_hold_up_the_others(polite):
    polite.routes["/slow.xml"] = lambda h: Reply(body=_feed("slow"), delay=0.3)
    # Twenty sources on one host listed first, then two on another, four workers.
    urls = [polite.url("/slow.xml")] * 20 + [polite.url("/slow.xml", "localhost")] * 2
    _fetch_all(FetchConfig(concurrency=4), urls)
    first = [s.host for s in sorted(polite.seen, key=lambda s: s.started)[:4]]
    assert first.count("localhost") == 2, first


def test_total_and_connect_timeouts(polite):
    polite.routes["/drip.xml"] = lambda h: Reply(body=_feed("drip") * 10, dribble=0.05)
    start = time.monotonic()
    [result] = _fetch_all(FetchConfig(timeout=1.0), [polite.url("/drip.xml")])
    assert result.outcome == "error" and "timed out" in result.error
    assert time.monotonic() - start < 5
    # A server that sends its status line and headers a byte at a time: no single read ever times out,
    # the total deadline still ends the request.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def dribble_headers():
        conn, _ = listener.accept()
        try:
            conn.recv(4096)
            for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 1000:
                conn.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            pass  # the client hung up: what it should do
        finally:
            conn.close()

    threading.Thread(target=dribble_headers, daemon=True).start()
    start = time.monotonic()
    [result] = _fetch_all(FetchConfig(timeout=1.0), [f"http://127.0.0.1:{listener.getsockname()[1]}/f.xml"])
    assert result.outcome == "error" and "timed out" in result.error
    assert time.monotonic() - start < 3
    listener.close()
    # A server whose accept queue is full never completes the TCP handshake: the connect timeout ends it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)
    try:
        start = time.monotonic()
        [result] = _fetch_all(FetchConfig(timeout=30.0, connect_timeout=0.5), [f"http://127.0.0.1:{port}/f.xml"])
        assert result.outcome == "error" and "ConnectTimeout" in result.error
        assert time.monotonic() - start < 5
    finally:
        for c in fillers:
            c.close()
        listener.close()


def test_the_size_cap_aborts_the_download(polite):
    big = b"<rss>" + b"x" * 5_000_000
    polite.routes["/big.xml"] = lambda h: Reply(body=big, chunked=True)
    polite.routes["/declared.xml"] = lambda h: Reply(body=big)
    polite.routes["/bomb.xml"] = lambda h: Reply(body=gzip.compress(big), headers={"Content-Encoding": "gzip"})
    results = {r.source: r for r in _fetch_all(
        FetchConfig(max_bytes=100_000),
        [polite.url("/big.xml"), polite.url("/declared.xml"), polite.url("/bomb.xml")],
    )}
    assert "over the 100000-byte cap (download aborted)" in results["s0"].error
    assert "response of 5000005 bytes is over the 100000-byte cap" in results["s1"].error
    assert "over the 100000-byte cap (download aborted)" in results["s2"].error  # counted decompressed


def test_permanent_redirect_moves_the_source_only_when_seen_twice_in_a_row(feed_server, tmp_path):
    feed_server.resources["/new.xml"] = Resource(rss2([It("Moved", "https://m.example/1", "m1")]))
    moved = Resource(b"", status=301, headers={"Location": feed_server.url("/new.xml")})
    feed_server.resources["/old.xml"] = moved
    feed_server.resources["/tmp.xml"] = Resource(b"", status=302, headers={"Location": feed_server.url("/new.xml")})
    feed_server.resources["/t307.xml"] = Resource(b"", status=307, headers={"Location": feed_server.url("/new.xml")})
    feed_server.resources["/p308.xml"] = Resource(b"", status=308, headers={"Location": feed_server.url("/new.xml")})
    cfg = write_config(tmp_path, {"perm": feed_server.url("/old.xml"), "temp": feed_server.url("/tmp.xml"),
                                  "t307": feed_server.url("/t307.xml"), "p308": feed_server.url("/p308.xml")})

    def refresh_and_row(name):
        assert syndicator("--config", str(cfg), "refresh").returncode == 0
        return _rows(cfg)[name]

    row = refresh_and_row("perm")
    assert row.current_url == "" and row.redirect_candidate == feed_server.url("/new.xml")
    assert _rows(cfg)["p308"].current_url == ""
    # The publisher fixes its mistake: the next fetch sees no redirect, and the count starts again.
    feed_server.resources["/old.xml"] = Resource(rss2([It("Moved", "https://m.example/1", "m1")]))
    assert refresh_and_row("perm").redirect_candidate == ""
    assert _rows(cfg)["p308"].current_url == feed_server.url("/new.xml")  # 308: the same rule, seen twice
    feed_server.resources["/old.xml"] = moved
    assert refresh_and_row("perm").current_url == ""
    assert refresh_and_row("perm").current_url == feed_server.url("/new.xml")  # twice in a row: moved
    feed_server.requests.clear()
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert feed_server.requests_for("/old.xml") == []
    # 302 and 307 never move a source, however often they are seen.
    assert len(feed_server.requests_for("/tmp.xml")) == 1 and len(feed_server.requests_for("/t307.xml")) == 1
    rows = _rows(cfg)
    assert rows["temp"].current_url == "" and rows["t307"].current_url == ""


def test_new_validators_are_stored_even_when_the_body_is_unchanged(feed_server, polite, tmp_path):
    body = rss2([It("Same", "https://s.example/1", "s1")])
    feed_server.resources["/f.xml"] = Resource(body)
    tags = iter(['"v1"', '"v2"', '"v3"'])
    polite.routes["/always200.xml"] = lambda h: Reply(body=body, headers={"ETag": next(tags)})
    cfg = write_config(tmp_path, {"f": feed_server.url("/f.xml"), "a": polite.url("/always200.xml")})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    first = feed_server.resources["/f.xml"].etag
    # The server now answers 304 with a new ETag and Last-Modified for the same body.
    feed_server.resources["/f.xml"].headers = {"ETag": '"fresh"', "Last-Modified": "Mon, 02 Mar 2026 10:00:00 GMT"}
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert feed_server.requests[-1].status == 304 and feed_server.requests[-1].headers["if-none-match"] == first
    rows = _rows(cfg)
    assert rows["f"].etag == '"fresh"' and rows["f"].last_modified == "Mon, 02 Mar 2026 10:00:00 GMT"
    assert rows["a"].etag == '"v2"'  # a 200 with the same body but a new ETag: the new one is kept
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert feed_server.requests[-1].headers["if-none-match"] == '"fresh"'
    assert polite.seen[-1].headers["if-none-match"] == '"v2"'


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limited_host_is_left_alone_while_other_hosts_go_on(polite, tmp_path, status):
    for i in range(3):
        polite.routes[f"/busy{i}.xml"] = lambda h: Reply(status, b"slow down", headers={"Retry-After": "7200"})
    polite.routes["/fine.xml"] = lambda h: Reply(body=_feed("fine"))
    sources = {f"a{i}": polite.url(f"/busy{i}.xml") for i in range(3)}
    sources["other"] = polite.url("/fine.xml", "localhost")
    cfg = write_config(tmp_path, sources, extra="[fetch]\nper_host = 1\n")
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 1
    # One request to the busy host: the other sources on it were not sent; the other host was fetched.
    assert len(polite.paths("127.0.0.1")) == 1 and polite.paths("localhost") == ["/fine.xml"]
    assert "1 fetched, 0 unchanged, 1 failed, 2 deferred" in out.stdout
    assert out.stdout.count("host 127.0.0.1 asked to wait until") == 2
    polite.seen.clear()
    again = syndicator("--config", str(cfg), "refresh")
    assert again.returncode == 0, again.stdout + again.stderr
    assert polite.paths("127.0.0.1") == [] and polite.paths("localhost") == ["/fine.xml"]
    assert "3 deferred" in again.stdout
    listing = syndicator("--config", str(cfg), "sources", "list").stdout
    for name in ("a0", "a1", "a2"):  # all wait for the Retry-After, the one that got the 429 too
        assert "in 2.0h" in _line(listing, name), listing
    assert "Retry-After" in listing and listing.count("host 127.0.0.1 asked to wait until") == 2


def test_sources_list_shows_when_each_source_is_due_and_why(feed_server, tmp_path):
    feed_server.resources["/ttl.xml"] = Resource(_feed("ttl", extra="<ttl>180</ttl>"))
    feed_server.resources["/cached.xml"] = Resource(_feed("cached"), headers={"Cache-Control": "max-age=7200"})
    # Every hour skipped but one, five hours from now: the next poll (60 min ±10%) always lands in a skipped
    # hour. A fixed allowed hour (5) failed when the suite ran at 04:xx UTC: the poll fell in hour 5.
    allowed = (datetime.now(UTC).hour + 5) % 24
    feed_server.resources["/skip.xml"] = Resource(_feed(
        "skip", extra="<skipHours>" + "".join(f"<hour>{h}</hour>" for h in range(24) if h != allowed) + "</skipHours>"
    ))
    feed_server.resources["/plain.xml"] = Resource(_feed("plain"))
    feed_server.resources["/err.xml"] = Resource(b"oops", "text/plain", status=500)
    names = ("ttl", "cached", "skip", "plain", "err")
    cfg = write_config(tmp_path, {n: feed_server.url(f"/{n}.xml") for n in names})
    assert syndicator("--config", str(cfg), "refresh").returncode == 1
    listing = syndicator("--config", str(cfg), "sources", "list").stdout
    assert "in 3.0h" in _line(listing, "ttl") and "server asked to wait: <ttl>180</ttl>" in _line(listing, "ttl")
    assert "in 2.0h" in _line(listing, "cached") and "Cache-Control max-age=7200" in _line(listing, "cached")
    assert "interval 60m ±10%" in _line(listing, "plain")
    assert "skipHours/skipDays" in _line(listing, "skip")
    assert _rows(cfg)["skip"].next_due_at.hour == allowed  # the one hour the feed may be read in
    assert "backoff after 1 error(s): 60m" in _line(listing, "err")
    # Errors in a row double the wait; a success resets the count.
    assert syndicator("--config", str(cfg), "refresh", "--source", "err").returncode == 1
    line = _line(syndicator("--config", str(cfg), "sources", "list").stdout, "err")
    assert "backoff after 2 error(s): 2h" in line and " 2 " in line
    feed_server.resources["/err.xml"] = Resource(_feed("err"))
    # A 304 repeats no <ttl>: the one the last document gave still counts.
    out = syndicator("--config", str(cfg), "refresh", "--source", "err", "--source", "ttl")
    assert out.returncode == 0 and "1 fetched, 1 unchanged" in out.stdout
    listing = syndicator("--config", str(cfg), "sources", "list").stdout
    assert "<ttl>180</ttl>" in _line(listing, "ttl")
    assert "interval 60m" in _line(listing, "err") and _rows(cfg)["err"].consecutive_errors == 0


def test_conditional_refreshes_reuse_kept_alive_connections(polite):
    # An unread 304 left httpx's connection mid-response, so it was closed, not pooled: every
    # conditional request opened a new connection (1,001 for 1,000 sources at 1,000 x 50 in bench/).
    accepted = []
    get_request = polite.httpd.get_request
    polite.httpd.get_request = lambda: accepted.append(1) or get_request()
    polite.routes["/c.xml"] = lambda h: (
        Reply(304, headers={"ETag": '"v1"'}) if h.get("if-none-match") == '"v1"'
        else Reply(body=_feed("c"), headers={"ETag": '"v1"'})
    )
    with Fetcher(FetchConfig(concurrency=4, per_host=2)) as fetcher:
        for _ in range(3):  # three conditional refreshes of 10 sources on one host
            results = list(fetcher.fetch_iter(FetchRequest(f"s{i}", polite.url("/c.xml"), etag='"v1"')
                                              for i in range(10)))
            assert [r.outcome for r in results] == ["not_modified"] * 10
    assert len(polite.seen) == 30
    assert len(accepted) <= 2  # per_host connections, kept alive across all 30 requests


def test_a_connection_idle_longer_than_httpx_default_expiry_is_still_reused(polite):
    # A cold refresh pauses its fetching while the store catches up, often for more than httpx's default
    # keep-alive expiry (5 s): 956 connections for 1,000 requests in bench/ (docs/benchmarks.md, section 16).
    accepted = []
    get_request = polite.httpd.get_request
    polite.httpd.get_request = lambda: accepted.append(1) or get_request()
    polite.routes["/k.xml"] = lambda h: Reply(body=_feed("k"))
    with Fetcher(FetchConfig(concurrency=1, per_host=1)) as fetcher:
        assert [r.outcome for r in fetcher.fetch_iter([FetchRequest("a", polite.url("/k.xml"))])] == ["ok"]
        time.sleep(5.5)
        assert [r.outcome for r in fetcher.fetch_iter([FetchRequest("b", polite.url("/k.xml"))])] == ["ok"]
    assert len(polite.seen) == 2 and len(accepted) == 1


def test_each_host_keeps_its_own_connections_and_idle_hosts_past_the_cap_are_closed(polite):
    import httpx

    from syndicator.hostpools import HostPools

    pools = HostPools(httpx.Limits(max_connections=4, max_keepalive_connections=1), {}, keep=1)
    a, b = polite.url("/a"), polite.url("/b", "localhost")
    with pools.lease(a) as ca, pools.lease(a) as ca2:
        assert ca is ca2  # one pool per host
        with pools.lease(b) as cb:  # two hosts in use: neither is closed, whatever the cap
            assert cb is not ca and len(pools) == 2
    with pools.lease(b):
        assert len(pools) == 1  # the idle least recently used host went past keep=1
    with pools.lease(a) as again:
        assert again is not ca
    pools.close()
    assert len(pools) == 0


def test_fetched_results_wait_for_the_caller_in_a_bounded_window(polite):
    """A caller slower than the network (a cold refresh storing) holds the fetching back: at most
    concurrency + READY_AHEAD requests are sent before it takes its first result (all 150 were, before)."""
    from syndicator.fetch import READY_AHEAD

    polite.routes["/f.xml"] = lambda h: Reply(body=_feed("f"))
    n = 150
    concurrency = 4
    with Fetcher(FetchConfig(concurrency=concurrency, per_host=4)) as fetcher:
        results = fetcher.fetch_iter(FetchRequest(f"s{i}", polite.url("/f.xml")) for i in range(n))
        first = next(results)
        time.sleep(1.0)  # the pool has all the time it needs to run ahead, if it may
        sent = len(polite.seen)
        assert first.outcome == "ok"
        assert concurrency < sent <= concurrency + READY_AHEAD + 1, sent
        rest = list(results)
    assert len(rest) == n - 1 and {r.outcome for r in rest} == {"ok"}
    assert len(polite.seen) == n
