"""Our feeds against the W3C Feed Validation Service's rules (tests/feedrules.py), beyond the schemas;
and what a source's items carry (language, author, categories, enclosures, images) carried over."""

from __future__ import annotations

import json

import feedparser
import pytest
from lxml import etree

from tests import feedrules
from tests.conftest import Resource, syndicator, write_config
from tests.test_pipeline import validate_atom, validate_json_feed

RSS_SOURCE = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Tagesblatt</title><link>https://tagesblatt.example/</link><description>d</description>
<language>de-DE</language>
<item><title>Hafen &amp;lt;b&amp;gt;wieder&amp;lt;/b&amp;gt; offen</title>
  <link>/2025/04/hafen</link><guid isPermaLink="false">tb-1</guid>
  <description>&lt;p&gt;Der Hafen ist wieder offen, sagte die Stadt am Freitag.&lt;/p&gt;</description>
  <pubDate>Fri, 11 Apr 2025 09:30:00 +0200</pubDate><dc:creator>Anna Beispiel</dc:creator>
  <category>Wirtschaft</category><category>Hamburg</category>
  <enclosure url="https://tagesblatt.example/audio/hafen.mp3" length="123456" type="audio/mpeg"/>
  <media:thumbnail url="https://tagesblatt.example/img/hafen.jpg" width="640" height="360"/>
</item>
</channel></rss>
"""
ATOM_SOURCE = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
<title>Le Quotidien</title><id>urn:test:lq</id><updated>2025-04-11T08:00:00Z</updated>
<author><name>Desk</name></author><link href="https://lq.example/"/>
<entry xml:lang="fr"><title>Le port rouvre ses portes</title><id>urn:test:lq:1</id>
  <link href="https://lq.example/port"/><updated>2025-04-11T08:00:00Z</updated>
  <published>2025-04-11T07:00:00+01:00</published>
  <author><name>Marie Exemple</name></author><category term="Economie"/>
  <content type="html">&lt;p&gt;Le port a rouvert vendredi apres deux semaines de fermeture.&lt;/p&gt;</content>
  <link rel="enclosure" href="https://lq.example/port.ogg" type="audio/ogg" length="999"/>
</entry>
<entry><title>Markets steady as the port reopens</title><id>urn:test:lq:2</id>
  <link href="https://lq.example/markets"/><updated>2025-04-11T06:00:00Z</updated>
  <content type="html">&lt;p&gt;Shares were little changed in early trading on Friday.&lt;/p&gt;</content>
</entry>
</feed>
"""
JSON_SOURCE = json.dumps({
    "version": "https://jsonfeed.org/version/1.1", "title": "Kuriren", "language": "sv",
    "items": [{
        "id": "k-1", "url": "https://kuriren.example/hamn", "title": "Hamnen öppnar igen",
        "content_html": "<p>Hamnen öppnade igen på fredagen efter två veckor.</p>",
        "image": "https://kuriren.example/hamn.jpg", "date_published": "2025-04-11T05:00:00Z",
        "authors": [{"name": "Sven Exempel"}], "tags": ["Ekonomi"],
    }],
}).encode()


@pytest.fixture
def published(feed_server, tmp_path):
    feed_server.resources["/tb.xml"] = Resource(RSS_SOURCE)
    feed_server.resources["/lq.atom"] = Resource(ATOM_SOURCE, "application/atom+xml")
    feed_server.resources["/k.json"] = Resource(JSON_SOURCE, "application/feed+json")
    cfg = write_config(
        tmp_path,
        {"tb": feed_server.url("/tb.xml"), "lq": feed_server.url("/lq.atom"), "k": feed_server.url("/k.json")},
    )
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    return tmp_path / "public"


BASE = "http://127.0.0.1:8080/"


def test_published_feeds_pass_the_validator_rules(published):
    assert feedrules.check_rss((published / "all.rss").read_bytes(), BASE + "all.rss") == []
    assert feedrules.check_atom((published / "all.atom").read_bytes(), BASE + "all.atom") == []
    assert feedrules.check_json((published / "all.json").read_bytes(), BASE + "all.json") == []
    validate_atom((published / "all.atom").read_bytes())
    validate_json_feed((published / "all.json").read_bytes())
    for name in ("all.rss", "all.atom"):
        assert not feedparser.parse((published / name).read_bytes()).bozo


def _by_title(items, title_of):
    return {title_of(i): i for i in items}


def test_language_author_categories_enclosures_images_carried_over(published):
    A, D, M = feedrules.ATOM, feedrules.DC, feedrules.MEDIA
    rss = etree.fromstring((published / "all.rss").read_bytes())
    items = _by_title(rss.iter("item"), lambda i: i.findtext("title"))
    hafen = items["Hafen wieder offen"]  # no tag in a title, not even as text
    assert hafen.findtext(f"{D}language") == "de-DE"
    assert hafen.findtext(f"{D}creator") == "Anna Beispiel"
    assert [c.text for c in hafen.findall("category")] == ["Wirtschaft", "Hamburg"]
    assert hafen.find("enclosure").attrib == {
        "url": "https://tagesblatt.example/audio/hafen.mp3", "length": "123456", "type": "audio/mpeg",
    }
    assert [t.get("url") for t in hafen.iter(f"{M}thumbnail")] == ["https://tagesblatt.example/img/hafen.jpg"]
    link = hafen.findtext("link")  # made absolute, against the document's own URL as XML base says
    assert feedrules.absolute(link) and link.endswith("/2025/04/hafen")
    assert items["Le port rouvre ses portes"].findtext(f"{D}language") == "fr"
    assert items["Markets steady as the port reopens"].findtext(f"{D}language") == "en"
    assert items["Hamnen öppnar igen"].findtext(f"{D}language") == "sv"
    assert rss.find("channel").findtext("language") is None  # the items disagree

    atom = etree.fromstring((published / "all.atom").read_bytes())
    entries = _by_title(atom.iter(f"{A}entry"), lambda e: e.findtext(f"{A}title"))
    port = entries["Le port rouvre ses portes"]
    assert port.get(feedrules.XML_LANG) == "fr"
    assert entries["Markets steady as the port reopens"].get(feedrules.XML_LANG) == "en"
    assert entries["Hafen wieder offen"].get(feedrules.XML_LANG) == "de-DE"
    assert port.findtext(f"{A}author/{A}name") == "Marie Exemple"
    assert [c.get("term") for c in port.findall(f"{A}category")] == ["Economie"]
    assert [(ln.get("href"), ln.get("type"), ln.get("length")) for ln in port.findall(f"{A}link")
            if ln.get("rel") == "enclosure"] == [("https://lq.example/port.ogg", "audio/ogg", "999")]
    hamn = entries["Hamnen öppnar igen"]
    assert [t.get("url") for t in hamn.iter(f"{M}thumbnail")] == ["https://kuriren.example/hamn.jpg"]
    assert not list(port.iter(f"{M}thumbnail"))

    doc = json.loads((published / "all.json").read_bytes())
    jitems = {i["title"]: i for i in doc["items"]}
    assert jitems["Le port rouvre ses portes"]["language"] == "fr"
    assert jitems["Hamnen öppnar igen"]["image"] == "https://kuriren.example/hamn.jpg"
    assert jitems["Hafen wieder offen"]["image"] == "https://tagesblatt.example/img/hafen.jpg"
    assert jitems["Hamnen öppnar igen"]["authors"] == [{"name": "Sven Exempel"}]
    assert jitems["Hamnen öppnar igen"]["tags"] == ["Ekonomi"]


# -- the rules catch what they are for (so that a pass means something) ---------------------------

GOOD_RSS = (
    '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>'
    "<link>https://x.example/</link><description>d</description>"
    '<atom:link href="https://x.example/all.rss" rel="self" type="application/rss+xml"/>'
    "<lastBuildDate>Fri, 11 Apr 2025 09:30:00 +0000</lastBuildDate>{items}</channel></rss>"
)
ITEM = (
    '<item><title>{title}</title><link>{link}</link><guid isPermaLink="false">{guid}</guid>'
    "<pubDate>{date}</pubDate></item>"
)


def _rss(**kw) -> bytes:
    fields = {"title": "a", "link": "https://x.example/a", "guid": "g1", "date": "Fri, 11 Apr 2025 09:30:00 +0000"}
    items = kw.pop("items", None)
    if items is None:
        items = ITEM.format(**{**fields, **kw})
    return GOOD_RSS.format(items=items).encode()


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        (_rss(), None),
        (_rss(date="Fri, 11 Apr 25 09:30:00"), "RFC 822"),
        (_rss(link="/a"), "not absolute"),
        (_rss(title="a &lt;b&gt;bold&lt;/b&gt;"), "HTML in <title>"),
        (_rss(items=ITEM.format(title="a", link="https://x.example/a", guid="g", date="Fri, 11 Apr 2025 09:30:00 GMT")
              * 2), "duplicate <guid>"),
        (_rss().replace(b"<description>d</description>", b"<description>d</description>" * 2), "appears 2 times"),
        (_rss().replace(b'rel="self"', b'rel="alternate"'), "rel=self"),
        (_rss().replace(b"</channel>", b"<language>english please</language></channel>"), "language tag"),
    ],
)
def test_rss_rules_catch_violations(broken, complaint):
    errors = feedrules.check_rss(broken)
    if complaint is None:
        assert errors == []
    else:
        assert any(complaint in e for e in errors), errors


GOOD_ATOM = (
    '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:uuid:0b6f3e0e-4f4c-4a53-8f7e-6a1f7f1c2b3d</id>'
    "<title>t</title><updated>2025-04-11T09:30:00Z</updated><author><name>n</name></author>"
    '<link href="https://x.example/all.atom" rel="self" type="application/atom+xml"/>'
    "<entry><id>{id}</id><title>{title}</title><updated>{updated}</updated>"
    '<link href="{href}"/><content type="html">c</content></entry></feed>'
)


def _atom(**kw) -> bytes:
    fields = {"id": "urn:uuid:11111111-2222-3333-4444-555555555555", "title": "a",
              "updated": "2025-04-11T09:30:00Z", "href": "https://x.example/a"}
    return GOOD_ATOM.format(**{**fields, **kw}).encode()


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        (_atom(), None),
        (_atom(updated="2025-04-11 09:30"), "RFC 3339"),
        (_atom(href="a.html"), "not absolute"),
        (_atom(id="story 1"), "neither a urn:uuid"),
        (_atom(title="&lt;i&gt;x&lt;/i&gt;"), "HTML in a text <title>"),
        (_atom().replace(b'<link href="https://x.example/a"/>',
                         b'<link href="https://x.example/a"/><link href="https://x.example/b"/>'), "two alternate"),
        (_atom().replace(b"<author><name>n</name></author>", b""), "no author"),
        (_atom().replace(b"<entry>", b'<entry xml:lang="not a tag">'), "language tag"),
    ],
)
def test_atom_rules_catch_violations(broken, complaint):
    errors = feedrules.check_atom(broken)
    if complaint is None:
        assert errors == []
    else:
        assert any(complaint in e for e in errors), errors


PIXEL_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Blog</title><link>https://blog.example/</link><description>d</description>
<item><title>Harbour reopens after two weeks</title><link>https://blog.example/harbour</link><guid>b-1</guid>
<description>&lt;p&gt;The harbour reopened.&lt;/p&gt;
&lt;img src="https://blog.example/harbour.jpg" alt="The harbour"&gt;
&lt;img src="https://pixel.wp.com/b.gif?blog=1&amp;amp;post=2" alt=""&gt;
&lt;img src="https://blog.example/count.gif" width="1" height="1"&gt;</description></item>
</channel></rss>
"""


@pytest.mark.parametrize("strip", [True, False])
def test_tracking_pixels_dropped_when_configured(feed_server, tmp_path, strip):
    feed_server.resources["/blog.xml"] = Resource(PIXEL_FEED)
    extra = "" if strip else "[output]\nstrip_tracking_pixels = false\n"
    cfg = write_config(tmp_path, {"blog": feed_server.url("/blog.xml")})
    if extra:  # the [output] table already exists: set the key inside it
        cfg.write_text(cfg.read_text().replace("[output]\n", extra, 1))
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    item = json.loads((tmp_path / "public" / "all.json").read_bytes())["items"][0]
    assert "https://blog.example/harbour.jpg" in item["content_html"]  # a real image always stays
    for beacon in ("pixel.wp.com", "count.gif"):
        assert (beacon in item["content_html"]) is not strip
