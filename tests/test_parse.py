"""Parsing into normalised entries: every format, broken input, odd values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from syndicator.errors import ParseError
from syndicator.parse import parse_document


def test_rss_relative_links_entities_and_dates():
    doc = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://site.example/</link>
    <description>d</description><ttl>45</ttl><language>fr</language>
    <item><title>Caf&amp;eacute; &lt;b&gt;opens&lt;/b&gt;</title><link>/news/1?utm_source=x&amp;id=3</link>
    <description>&lt;p onclick="x()"&gt;Hi &lt;script&gt;bad()&lt;/script&gt;
    &lt;a href="/more"&gt;more&lt;/a&gt;&lt;/p&gt;</description>
    <pubDate>Fri, 11 Apr 2025 11:30:00 +0200</pubDate><category>World</category><category>World</category>
    <enclosure url="/a.mp3" type="audio/mpeg" length="123"/></item>
    <item><title>No guid, no link</title><description>Just text</description></item>
    </channel></rss>"""
    feed = parse_document(doc, "https://site.example/feed.xml", "application/rss+xml")
    assert feed.ttl_minutes == 45 and feed.language == "fr" and not feed.warning
    first, second = feed.entries
    assert first.url == "https://site.example/news/1?id=3"
    assert first.guid == first.url  # RSS without <guid>: the link identifies it
    assert first.title == "Caf&eacute; opens" or first.title == "Café opens"
    assert "script" not in first.summary and "onclick" not in first.summary
    assert 'href="https://site.example/more"' in first.summary
    assert first.text.startswith("Hi")
    assert first.published == datetime(2025, 4, 11, 9, 30, tzinfo=UTC)
    assert first.categories == ("World",)
    assert first.enclosures[0].url == "https://site.example/a.mp3" and first.enclosures[0].length == 123
    assert second.guid.startswith("sha1:") and second.url == ""


def test_atom_content_and_author():
    doc = b"""<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en"><title>A</title><id>x</id>
    <updated>2025-04-11T00:00:00Z</updated>
    <entry><id>tag:x,1</id><title type="html">One &amp;amp; two</title><link href="https://a.example/1"/>
    <updated>2025-04-11T08:00:00Z</updated><author><name>Ann</name></author>
    <summary>Short</summary><content type="html">&lt;p&gt;Long body&lt;/p&gt;</content></entry></feed>"""
    (entry,) = parse_document(doc, "https://a.example/atom").entries
    assert entry.title == "One & two"
    assert entry.content == "<p>Long body</p>" and entry.summary == "Short"
    assert entry.author == "Ann" and entry.published == datetime(2025, 4, 11, 8, tzinfo=UTC)


@pytest.mark.parametrize("version", ["1", "1.1"])
def test_json_feed(version):
    doc = {
        "version": f"https://jsonfeed.org/version/{version}",
        "title": "J",
        "home_page_url": "https://j.example/",
        "author": {"name": "Old style"},
        "items": [
            {"id": 42, "url": "/p/1", "title": "Numbered", "content_text": "Plain\n\nparas",
             "date_published": "2025-04-11T10:00:00+02:00", "tags": ["x"],
             "attachments": [{"url": "https://j.example/a.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 9}]},
            {"id": "no-title", "content_html": "<p>Untitled but has words to show</p>"},
            "not an item",
        ],
    }
    feed = parse_document(json.dumps(doc).encode(), "https://j.example/feed.json", "application/feed+json")
    first, second = feed.entries
    assert first.guid == "42" and first.url == "https://j.example/p/1"
    assert first.content == "<p>Plain</p><p>paras</p>"
    assert first.published == datetime(2025, 4, 11, 8, tzinfo=UTC)
    assert first.author == "Old style" and first.enclosures[0].length == 9
    assert second.title == "Untitled but has words to show"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<html><body><p>hello</p></body></html>", "not a feed"),
        (b"{not json", "invalid JSON"),
        (b'{"version": "other"}', "jsonfeed.org"),
        (b"\x00\x01\x02binary", "not a feed"),
    ],
)
def test_not_a_feed(body, reason):
    with pytest.raises(ParseError, match=reason):
        parse_document(body, "https://x.example/")


def test_bozo_feed_keeps_its_entries_with_a_warning():
    doc = b"""<rss version="2.0"><channel><title>T</title>
    <item><title>Fine & dandy</title><link>https://b.example/1</link></item>
    <item><title>Second</title><link>https://b.example/2</link></item>
    <item><title>Second dup</title><link>https://b.example/2</link></item>"""
    feed = parse_document(doc, "https://b.example/feed")
    assert feed.warning
    assert [e.title for e in feed.entries] == ["Fine & dandy", "Second"]  # repeated guid: first wins
