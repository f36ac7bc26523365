"""WebSub: with ``[output] websub_hub`` every feed advertises the hub and itself, and each publish
that changes feed files pings a (stand-in) hub once per changed feed URL; a hub that fails never
fails the refresh."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

import feedparser
import pytest
from feedgen.feed import FeedGenerator
from lxml import etree

from syndicator.config import load_config
from syndicator.errors import ConfigError
from syndicator.publish import feedext
from tests.conftest import Resource, free_port, syndicator, write_config
from tests.feedmaker import It, long_body, rss2
from tests.localserver import LocalServer, QuietHandler
from tests.test_pipeline import validate_atom, validate_json_feed

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "http://127.0.0.1:8080/"  # write_config's base_url


@dataclass
class Ping:
    path: str
    content_type: str
    form: dict[str, list[str]]


class StandInHub:
    """Records every POST; answers ``status`` (202 Accepted, as a real hub does)."""

    def __init__(self, status: int = 202) -> None:
        self.pings: list[Ping] = []
        self.status = status
        hub = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                hub.pings.append(Ping(self.path, self.headers.get("Content-Type", ""), parse_qs(body)))
                self.send_response(hub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = LocalServer(Handler)
        self.url = self.server.url("/hub")

    def pinged_urls(self) -> list[str]:
        return [u for p in self.pings for u in p.form.get("hub.url", [])]


@pytest.fixture
def hub():
    h = StandInHub()
    with h.server:
        yield h


FEEDS = """
[[feeds]]
name = "all"
title = "All stories"
sources = ["*"]
[[feeds]]
name = "bonly"
title = "Only b"
sources = ["b"]
"""


def _setup(feed_server, tmp_path, hub_url: str):
    feed_server.resources["/a.xml"] = Resource(rss2([It("Alpha one", "https://a.example/1", "a1", long_body("a1"))]))
    feed_server.resources["/b.xml"] = Resource(rss2([It("Beta one", "https://b.example/1", "b1", long_body("b1"))]))
    return write_config(
        tmp_path,
        {"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml")},
        extra=f'websub_hub = "{hub_url}"\n',  # lands in [output], the last table before it
        feeds=FEEDS,
    )


def _feed_urls(*names: str) -> set[str]:
    return {f"{BASE}{n}.{ext}" for n in names for ext in ("rss", "atom", "json")}


def test_changed_feeds_are_pinged_once_each_and_unchanged_ones_never(feed_server, hub, tmp_path):
    cfg = _setup(feed_server, tmp_path, hub.url)
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    # First publish: every feed file is new, so every feed URL is pinged, once.
    assert sorted(hub.pinged_urls()) == sorted(_feed_urls("all", "bonly"))
    for p in hub.pings:
        assert p.path == "/hub"
        assert p.content_type.startswith("application/x-www-form-urlencoded")
        assert p.form["hub.mode"] == ["publish"] and len(p.form["hub.url"]) == 1
        assert set(p.form) == {"hub.mode", "hub.url"}

    # Nothing new anywhere: nothing changes, nobody is pinged.
    hub.pings.clear()
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    assert hub.pings == []

    # A new story from source a changes "all" but not "bonly": only all.* are pinged.
    feed_server.resources["/a.xml"] = Resource(rss2([
        It("Alpha one", "https://a.example/1", "a1", long_body("a1")),
        It("Alpha two", "https://a.example/2", "a2", long_body("a2"), published=datetime(2025, 4, 11, 10, tzinfo=UTC)),
    ]))
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    assert sorted(hub.pinged_urls()) == sorted(_feed_urls("all"))


def test_feeds_advertise_the_hub_and_themselves(feed_server, hub, tmp_path):
    cfg = _setup(feed_server, tmp_path, hub.url)
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    public = tmp_path / "public"

    atom = (public / "all.atom").read_bytes()
    validate_atom(atom)
    root = etree.fromstring(atom)
    links = {el.get("rel"): el for el in root.findall(f"{ATOM}link")}  # the feed's own links, not entries'
    assert links["hub"].get("href") == hub.url
    assert links["self"].get("href") == f"{BASE}all.atom"
    assert len(root.findall(f"{ATOM}link[@rel='hub']")) == 1
    assert f'<link href="{hub.url}" rel="hub"/>'.encode() in atom  # in the default namespace, no prefix
    assert all(e.find(f"{ATOM}link[@rel='hub']") is None for e in root.iter(f"{ATOM}entry"))

    rss = etree.fromstring((public / "all.rss").read_bytes())
    channel = rss.find("channel")
    atom_links = channel.findall(f"{ATOM}link")
    assert [(el.get("rel"), el.get("href")) for el in atom_links] == [("self", f"{BASE}all.rss"), ("hub", hub.url)]
    assert atom_links[0].getnext() is atom_links[1]  # beside the self link
    parsed = feedparser.parse((public / "all.rss").read_bytes())
    assert not parsed.bozo and {ln["rel"] for ln in parsed.feed.links} >= {"self", "hub"}

    doc = json.loads((public / "all.json").read_bytes())
    assert doc["hubs"] == [{"type": "WebSub", "url": hub.url}]
    assert doc["feed_url"] == f"{BASE}all.json"
    validate_json_feed((public / "all.json").read_bytes())


def test_without_a_hub_feeds_carry_no_hub_and_nothing_is_pinged(feed_server, hub, tmp_path):
    cfg = _setup(feed_server, tmp_path, "")
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    public = tmp_path / "public"
    assert etree.fromstring((public / "all.atom").read_bytes()).find(f"{ATOM}link[@rel='hub']") is None
    assert etree.fromstring((public / "all.rss").read_bytes()).find(f"channel/{ATOM}link[@rel='hub']") is None
    assert "hubs" not in json.loads((public / "all.json").read_bytes())
    assert hub.pings == []


def test_a_failing_hub_never_fails_the_refresh(feed_server, hub, tmp_path):
    hub.status = 500
    cfg = _setup(feed_server, tmp_path, hub.url)
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    assert len(hub.pings) == 6  # each refused ping is logged, the next one still tried
    assert "refused the ping" in out.stderr and "HTTP 500" in out.stderr
    assert (tmp_path / "public" / "all.atom").is_file()


def test_an_unreachable_hub_never_fails_the_refresh(feed_server, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/hub"  # nothing listens there
    cfg = _setup(feed_server, tmp_path, dead)
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    assert "unreachable" in out.stderr and "5 more ping(s) skipped" in out.stderr
    assert etree.fromstring((tmp_path / "public" / "all.atom").read_bytes()).find(
        f"{ATOM}link[@rel='hub']"
    ).get("href") == dead


@pytest.mark.parametrize(
    ("value", "reason"), [('"ftp://hub.example/"', "not an http(s) URL"), ("3", "not a string")]
)
def test_bad_hub_setting_is_refused(tmp_path, value, reason):
    cfg = write_config(tmp_path, {}, extra=f"websub_hub = {value}\n")
    with pytest.raises(ConfigError, match=r"\[output\]\.websub_hub: .*" + re.escape(reason)):
        load_config(cfg)


def test_hub_url_is_kept_as_written(tmp_path):
    cfg = write_config(tmp_path, {}, extra='websub_hub = "https://pubsubhubbub.appspot.com"\n')
    assert load_config(cfg).output.websub_hub == "https://pubsubhubbub.appspot.com"


def test_entry_links_through_the_extension_stay_valid_atom():
    """The extension is the place for entry-level links too (e.g. rel="related")."""
    fg = FeedGenerator()
    ext = feedext.register(fg)
    ext.hub("https://hub.example/")
    fg.id("urn:uuid:00000000-0000-0000-0000-000000000001")
    fg.title("t")
    fg.link(href="https://x.example/all.atom", rel="self")
    fg.description("d")
    fg.updated(datetime(2025, 1, 1, tzinfo=UTC))
    fe = fg.add_entry()
    fe.id("urn:uuid:00000000-0000-0000-0000-000000000002")
    fe.title("e")
    fe.updated(datetime(2025, 1, 1, tzinfo=UTC))
    fe.content("c")
    getattr(fe, feedext.NAMESPACE).link(rel="related", href="https://y.example/1", title="Other")
    data = fg.atom_str(pretty=True)
    validate_atom(data)
    entry = etree.fromstring(data).find(f"{ATOM}entry")
    related = entry.find(f"{ATOM}link[@rel='related']")
    assert related.get("href") == "https://y.example/1" and related.get("title") == "Other"
    with pytest.raises(ValueError, match="not an Atom link attribute"):
        ext.link(href="https://x/", colour="red")
