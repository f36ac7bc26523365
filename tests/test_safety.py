"""Safety: what comes from outside (an imported OPML file) reaches only public http(s) addresses, at every
redirect hop, names resolved through a stub resolver; the server sends a script-forbidding policy, refuses
oversized requests and never lists a folder."""

from __future__ import annotations

import socket
import threading
import tomllib

import httpx
import pytest
import uvicorn

from syndicator import addresses
from syndicator.config import FetchConfig
from syndicator.fetch import Fetcher, FetchRequest
from syndicator.serve import MAX_HEADERS, create_app, server_config
from tests.conftest import Resource, free_port, syndicator, wait_for_port, write_config
from tests.feedmaker import It, rss2

REFUSED = [
    "file:///etc/passwd",
    "http://127.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/feed",
    "http://[::ffff:127.0.0.1]/feed",
    "http://10.1.2.3/feed",
    "http://192.168.0.1/feed",
    "http://224.0.0.251/feed",
    "http://0.0.0.0/feed",
]


def _opml(urls: list[str]) -> str:
    outlines = "".join(f'<outline type="rss" text="feed {n}" xmlUrl="{u}"/>' for n, u in enumerate(urls))
    return f'<?xml version="1.0"?><opml version="2.0"><head/><body>{outlines}</body></opml>'


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254", "10.0.0.1", "172.16.5.4", "::1", "fe80::1",
                                     "ff02::1", "0.0.0.0", "::ffff:169.254.169.254", "100.64.0.1"])
def test_non_public_addresses_are_named(address):
    assert addresses.address_problem(address)


def test_public_addresses_pass():
    assert addresses.address_problem("93.184.216.34") is None
    assert addresses.address_problem("2606:2800:220:1:248:1893:25c8:1946") is None


def test_import_refuses_local_and_private_urls_unless_allowed(tmp_path):
    cfg = write_config(tmp_path, {})
    opml = tmp_path / "feeds.opml"
    opml.write_text(_opml([*REFUSED, "https://93.184.216.34/feed.xml"]))
    out = syndicator("--config", str(cfg), "sources", "import-opml", str(opml))
    assert out.returncode == 0, out.stderr
    assert "1 source(s) added" in out.stdout
    for url in REFUSED:
        assert f"{url}: refused" in out.stderr, url
    assert "loopback" in out.stderr and "link-local" in out.stderr
    sources = tomllib.loads(cfg.read_text())["sources"]
    assert [(s["url"], s["origin"]) for s in sources] == [("https://93.184.216.34/feed.xml", "opml")]

    # --allow-private: loopback and private addresses are accepted (and remembered); file:// never is.
    out = syndicator("--config", str(cfg), "sources", "import-opml", "--allow-private", str(opml))
    assert out.returncode == 0, out.stderr
    sources = tomllib.loads(cfg.read_text())["sources"]
    urls = {s["url"]: s for s in sources}
    assert "http://127.0.0.1/" in urls and urls["http://127.0.0.1/"]["allow_private"] is True
    assert "http://169.254.169.254/latest/meta-data/" in urls
    assert "file:///etc/passwd" not in urls and "file:///etc/passwd: refused" in out.stderr


def test_imported_source_is_not_fetched_from_loopback_but_a_configured_one_is(feed_server, tmp_path):
    feed_server.resources["/f.xml"] = Resource(rss2([It("Local story", "https://l.example/1", "1")]))
    url = feed_server.url("/f.xml")
    cfg = write_config(tmp_path, {})
    cfg.write_text(
        cfg.read_text()
        + f'[[sources]]\nname = "imported"\nurl = "{url}"\norigin = "opml"\n'
        + f'[[sources]]\nname = "mine"\nurl = "{url}"\n'
    )
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 1
    assert "source imported failed: refused" in out.stderr and "loopback" in out.stderr
    assert len(feed_server.requests_for("/f.xml")) == 1  # only the configured source's request got through
    # Imported with --allow-private: fetched.
    cfg.write_text(cfg.read_text().replace('origin = "opml"\n', 'origin = "opml"\nallow_private = true\n'))
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    assert len(feed_server.requests_for("/f.xml")) == 3


@pytest.fixture
def stub_names():
    """Test names resolved by a stub resolver: two "public" names, one private, one rebinding to loopback."""
    table = {
        "news.public.test": ["93.184.216.34"],
        "mirror.public.test": ["93.184.216.35"],
        "intranet.test": ["10.0.0.7"],
        "mixed.test": ["93.184.216.36", "127.0.0.1"],
    }

    def resolver(host: str) -> list[str]:
        if host not in table:
            raise socket.gaierror(f"stub resolver: unknown name {host}")
        return table[host]

    previous = addresses.set_resolver(resolver)
    yield table
    addresses.set_resolver(previous)


def _fetch_through(feed_server, url: str, *, guard: bool = True):
    # The feed server doubles as a forward proxy: it receives "GET http://news.public.test/..." and answers
    # from its resources, so a "public" name is served locally while the fetcher checks what it resolves to.
    with Fetcher(FetchConfig()) as fetcher:
        return fetcher.fetch(FetchRequest("s", url, guard=guard, proxy=feed_server.url("")))


def test_redirect_from_a_public_name_to_a_private_address_is_refused(feed_server, stub_names):
    feed = rss2([It("Public story", "https://p.example/1", "1")])
    feed_server.resources["http://mirror.public.test/feed.xml"] = Resource(feed)
    feed_server.resources["http://intranet.test/feed.xml"] = Resource(feed)
    feed_server.resources["/secret.xml"] = Resource(feed)
    hops = {
        "/to-mirror": "http://mirror.public.test/feed.xml",
        "/to-intranet": "http://intranet.test/feed.xml",
        "/to-loopback": feed_server.url("/secret.xml"),
        "/to-mixed": "http://mixed.test/feed.xml",
        "/to-metadata": "http://169.254.169.254/latest/meta-data/",
        "/to-file": "file:///etc/passwd",
        "/twice": "http://news.public.test/to-intranet",
    }
    for path, target in hops.items():
        redirect = Resource(b"", status=302, headers={"Location": target})
        feed_server.resources[f"http://news.public.test{path}"] = redirect

    # A redirect between public names is followed: the check does not refuse everything.
    ok = _fetch_through(feed_server, "http://news.public.test/to-mirror")
    assert ok.outcome == "ok" and ok.url == "http://mirror.public.test/feed.xml", ok.error

    for path, why in (("/to-intranet", "10.0.0.7 is a private address"), ("/to-loopback", "loopback"),
                      ("/to-mixed", "127.0.0.1 is a loopback"), ("/to-metadata", "link-local"),
                      ("/to-file", "only http and https"), ("/twice", "10.0.0.7")):
        result = _fetch_through(feed_server, f"http://news.public.test{path}")
        assert result.outcome == "error", path
        assert result.error.startswith("redirect refused") and why in result.error, (path, result.error)
    paths = [r.path for r in feed_server.requests]
    assert "http://intranet.test/feed.xml" not in paths and "/secret.xml" not in paths
    # A source from the configuration file is trusted as written: the same redirect is followed.
    trusted = _fetch_through(feed_server, "http://news.public.test/to-intranet", guard=False)
    assert trusted.outcome == "ok", trusted.error


def test_a_name_resolving_to_loopback_is_refused_before_connecting(feed_server, stub_names):
    stub_names["feeds.rebind.test"] = ["127.0.0.1"]
    feed_server.resources["/f.xml"] = Resource(rss2([It("x", "https://x.example/1", "1")]))
    with Fetcher(FetchConfig()) as fetcher:
        result = fetcher.fetch(FetchRequest("s", f"http://feeds.rebind.test:{feed_server.port}/f.xml", guard=True))
    assert result.outcome == "error" and "loopback" in result.error
    assert not feed_server.requests


def test_pinned_request_goes_to_the_checked_address_with_the_original_host():
    # Without a proxy a guarded request connects to the address just checked (no second lookup to rebind).
    from syndicator.fetch import _pinned

    url, ext, headers = _pinned("https://news.public.test:8443/feed?x=1", "93.184.216.34", {"Accept": "*/*"})
    assert url == "https://93.184.216.34:8443/feed?x=1"
    assert ext == {"sni_hostname": "news.public.test"} and headers["Host"] == "news.public.test:8443"
    url, _, _ = _pinned("http://news.public.test/f", "2606:2800:220:1::1", {})
    assert url == "http://[2606:2800:220:1::1]/f"


@pytest.fixture
def server(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    (public / "index.html").write_bytes(b"<html>hi</html>")
    (public / "all.rss").write_bytes(b"<rss/>")
    (public / "old.rss").mkdir()  # a folder with a feed's name
    (public / "old.rss" / "x.rss").write_bytes(b"<rss/>")
    (public / "archive").mkdir()
    (public / "archive" / "index.html").write_bytes(b"<html>archive</html>")
    port = free_port()
    srv = uvicorn.Server(server_config(create_app(public), port=port))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_for_port(port)
    yield port
    srv.should_exit = True
    thread.join(10)


def test_index_page_is_sent_with_a_policy_forbidding_scripts(server):
    r = httpx.get(f"http://127.0.0.1:{server}/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe-inline" not in csp
    head = httpx.head(f"http://127.0.0.1:{server}/index.html")
    assert head.headers["content-security-policy"] == csp
    feed = httpx.get(f"http://127.0.0.1:{server}/all.rss")
    assert "sandbox" in feed.headers["content-security-policy"]


def test_folders_are_never_listed(server):
    for path in ("/old.rss", "/old.rss/", "/old.rss/x.rss", "/archive", "/archive/", "/archive/index.html"):
        assert httpx.get(f"http://127.0.0.1:{server}{path}").status_code == 404, path


def test_oversized_requests_are_refused(server):
    base = f"http://127.0.0.1:{server}"
    many = {f"X-H{n}": "v" for n in range(MAX_HEADERS + 1)}
    assert httpx.get(f"{base}/all.rss", headers=many).status_code == 431
    assert httpx.get(f"{base}/all.rss", headers={f"X-H{n}": "v" for n in range(20)}).status_code == 200
    assert httpx.request("GET", f"{base}/all.rss", content=b"x" * 1000).status_code == 413
    assert httpx.get(f"{base}/all.rss?" + "a" * 5000).status_code == 414
    # One huge header: refused by the protocol's cap on request heads (httptools has none of its own).
    with socket.create_connection(("127.0.0.1", server)) as sock:
        sock.sendall(b"GET /all.rss HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        sock.settimeout(10)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert not answer.startswith(b"HTTP/1.1 200") and answer.startswith(b"HTTP/1.1 431")


def test_article_pages_of_an_imported_source_are_held_to_the_same_rule(feed_server):
    from syndicator import fulltext
    from syndicator.model import Entry

    feed_server.resources["/page.html"] = Resource(b"<html><body><p>secret</p></body></html>", "text/html")
    entry = Entry(guid="g", url=feed_server.url("/page.html"), title="t", text="x", summary="x")
    with Fetcher(FetchConfig()) as fetcher:
        guarded = fulltext.enrich(fetcher, [entry], {}, publish=False, guard=True)
        assert guarded.fetched["g"][0] == "failed" and not feed_server.requests
        trusted = fulltext.enrich(fetcher, [entry], {}, publish=False, guard=False)
    assert trusted.fetched["g"] and len(feed_server.requests_for("/page.html")) == 1
