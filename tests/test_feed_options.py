"""Per output feed: title, description, language, icon, author, item count; RFC 5005 archive pages a
reader walks back through with prev-archive links. Per source: extra headers, basic auth, a proxy and a
User-Agent of its own, none of them sent on to another host after a redirect."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import feedparser
from lxml import etree

from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, long_body, rss2

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
SECRET = "k3y-5ecret-0042"


def _items(n: int, start: datetime) -> list[It]:
    # One story every 2 days: n stories over several ISO weeks.
    return [It(f"Story {k} on subject {k * 7919}", f"https://s.example/{k}", f"g{k}", long_body(f"subject {k}"),
               published=start - timedelta(days=2 * k)) for k in range(n)]


def test_feed_metadata_and_item_count(feed_server, tmp_path):
    feed_server.resources["/a.xml"] = Resource(rss2(_items(5, datetime.now(UTC) - timedelta(hours=1))))
    feeds = ('[[feeds]]\nname = "fr"\ntitle = "Les nouvelles"\ndescription = "Tout, une fois"\nlanguage = "fr"\n'
             'icon = "https://cdn.example/icon.png"\nauthor = "La rédaction"\nlimit = 2\n')
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml")}, feeds=feeds)
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    public = tmp_path / "public"
    rss = etree.fromstring((public / "fr.rss").read_bytes()).find("channel")
    assert rss.findtext("title") == "Les nouvelles" and rss.findtext("description") == "Tout, une fois"
    assert rss.findtext("language") == "fr" and rss.findtext("image/url") == "https://cdn.example/icon.png"
    assert len(rss.findall("item")) == 2
    atom = feedparser.parse((public / "fr.atom").read_bytes())
    assert atom.feed.icon == "https://cdn.example/icon.png" and atom.feed.author == "La rédaction"
    assert atom.feed.subtitle == "Tout, une fois" and len(atom.entries) == 2
    doc = json.loads((public / "fr.json").read_bytes())
    assert doc["icon"] == "https://cdn.example/icon.png" and doc["language"] == "fr"
    assert doc["authors"] == [{"name": "La rédaction"}] and len(doc["items"]) == 2


def test_archive_pages_let_a_reader_page_back(feed_server, tmp_path):
    feed_server.resources["/a.xml"] = Resource(rss2(_items(12, datetime.now(UTC) - timedelta(hours=1))))
    feeds = '[[feeds]]\nname = "all"\nlimit = 3\narchive = true\narchive_pages = 10\n'
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml")}, feeds=feeds)
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    public = tmp_path / "public"
    base = "http://127.0.0.1:8080/"

    def walk(ext: str):
        doc = etree.fromstring((public / f"all.{ext}").read_bytes())
        seen, pages = [], 0
        while True:
            parent = doc if ext == "atom" else doc.find("channel")
            entries = parent.findall(f"{ATOM}entry") if ext == "atom" else parent.findall("item")
            seen += [e.findtext(f"{ATOM}title") if ext == "atom" else e.findtext("title") for e in entries]
            links = {ln.get("rel"): ln.get("href") for ln in parent.findall(f"{ATOM}link")}
            if pages:
                assert parent.find(f"{FH}archive") is not None  # marked as an archive document
                assert links["current"] == f"{base}all.{ext}"
            else:
                assert parent.find(f"{FH}archive") is None
            if "prev-archive" not in links:
                return seen, pages
            doc = etree.fromstring((public / links["prev-archive"].removeprefix(base)).read_bytes())
            pages += 1

    for ext in ("atom", "rss"):
        titles, pages = walk(ext)
        assert pages >= 3
        assert sorted(titles) == sorted(f"Story {k} on subject {k * 7919}" for k in range(12)), ext
        assert titles[:3] == [f"Story {k} on subject {k * 7919}" for k in range(3)]  # newest first
    # JSON Feed: the same pages through next_url.
    doc, titles = json.loads((public / "all.json").read_bytes()), []
    while True:
        titles += [i["title"] for i in doc["items"]]
        if "next_url" not in doc:
            break
        doc = json.loads((public / doc["next_url"].removeprefix(base)).read_bytes())
    assert len(titles) == 12 and len(set(titles)) == 12
    # Feed readers parse the pages; republishing an unchanged store rewrites nothing.
    for page in public.glob("all-archive-*.atom"):
        assert not feedparser.parse(page.read_bytes()).bozo
    before = {p.name: p.read_bytes() for p in public.iterdir()}
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert {p.name: p.read_bytes() for p in public.iterdir()} == before
    # Fewer archive pages allowed: the older pages' files go.
    cfg.write_text(cfg.read_text().replace("archive_pages = 10", "archive_pages = 1"))
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert len(list(public.glob("all-archive-*.atom"))) == 1


def test_source_headers_auth_user_agent_and_proxy(feed_server, tmp_path):
    feed_server.resources["/a.xml"] = Resource(rss2([It("A", "https://a.example/1", "a1")]))
    other = f"http://localhost:{feed_server.port}/b.xml"  # another host name for the same server
    feed_server.resources["/moved.xml"] = Resource(b"", status=302, headers={"Location": other})
    feed_server.resources["/b.xml"] = Resource(rss2([It("B", "https://b.example/1", "b1")]))
    feed_server.resources["http://proxied.test/feed.xml"] = Resource(rss2([It("P", "https://p.example/1", "p1")]))
    cfg = write_config(tmp_path, {})
    extra = 'headers = { X-Api-Key = "${KEY}" }\nusername = "reader"\npassword = "${KEY}"\nuser_agent = "Mine/1.0"\n'
    cfg.write_text(
        cfg.read_text()
        + f'[[sources]]\nname = "a"\nurl = "{feed_server.url("/a.xml")}"\n{extra}'
        + f'[[sources]]\nname = "moved"\nurl = "{feed_server.url("/moved.xml")}"\n{extra}'
        + f'[[sources]]\nname = "p"\nurl = "http://proxied.test/feed.xml"\nproxy = "{feed_server.url("")}"\n'
    )
    out = syndicator("--config", str(cfg), "refresh", env={"KEY": SECRET})
    assert out.returncode == 0, out.stderr
    a = feed_server.requests_for("/a.xml")[0].headers
    assert a["x-api-key"] == SECRET and a["user-agent"] == "Mine/1.0"
    assert a["authorization"] == "Basic " + base64.b64encode(f"reader:{SECRET}".encode()).decode()
    assert feed_server.requests_for("/moved.xml")[0].headers["x-api-key"] == SECRET
    b = feed_server.requests_for("/b.xml")[0].headers
    assert "x-api-key" not in b and "authorization" not in b  # not sent on to another host
    assert feed_server.requests_for("http://proxied.test/feed.xml")  # reached through the proxy
    titles = {e.title for e in feedparser.parse((tmp_path / "public" / "all.atom").read_bytes()).entries}
    assert titles == {"A", "B", "P"}
    assert SECRET not in out.stdout + out.stderr
