"""Build source feeds for tests in each format we read, from one list of items."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class It:
    title: str
    link: str
    guid: str
    body: str = ""
    published: datetime = datetime(2025, 4, 11, 9, 30, tzinfo=UTC)
    author: str = ""
    category: str = ""


def rss2(items: list[It], title: str = "Test RSS 2.0") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://rss2.example/</link><description>d</description>",
    ]
    for i in items:
        parts.append(
            f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
            f'<guid isPermaLink="false">{escape(i.guid)}</guid>'
            f"<pubDate>{format_datetime(i.published)}</pubDate>"
            + (f"<description>{escape(i.body)}</description>" if i.body else "")
            + (f"<author>{escape(i.author)}</author>" if i.author else "")
            + (f"<category>{escape(i.category)}</category>" if i.category else "")
            + "</item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


def rss1(items: list[It], title: str = "Test RSS 1.0") -> bytes:
    lis = "".join(f'<rdf:li rdf:resource="{escape(i.link)}"/>' for i in items)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">',
        f'<channel rdf:about="https://rss1.example/"><title>{escape(title)}</title>'
        f"<link>https://rss1.example/</link><description>d</description>"
        f"<items><rdf:Seq>{lis}</rdf:Seq></items></channel>",
    ]
    for i in items:
        parts.append(
            f'<item rdf:about="{escape(i.link)}"><title>{escape(i.title)}</title><link>{escape(i.link)}</link>'
            f"<dc:date>{i.published.isoformat()}</dc:date>"
            + (f"<description>{escape(i.body)}</description>" if i.body else "")
            + "</item>"
        )
    parts.append("</rdf:RDF>")
    return "\n".join(parts).encode()


def atom(items: list[It], title: str = "Test Atom") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>{escape(title)}</title><id>urn:test:atom</id><updated>2025-04-11T00:00:00Z</updated>",
        "<author><name>Atom author</name></author>",
    ]
    for i in items:
        parts.append(
            f'<entry><title>{escape(i.title)}</title><id>{escape(i.guid)}</id><link href="{escape(i.link)}"/>'
            f"<published>{i.published.isoformat()}</published><updated>{i.published.isoformat()}</updated>"
            + (f'<summary type="html">{escape(i.body)}</summary>' if i.body else "")
            + "</entry>"
        )
    parts.append("</feed>")
    return "\n".join(parts).encode()


def jsonfeed(items: list[It], title: str = "Test JSON Feed") -> bytes:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": "https://json.example/",
        "items": [
            {
                "id": i.guid,
                "url": i.link,
                "title": i.title,
                "content_html": i.body or "<p></p>",
                "date_published": i.published.isoformat(),
            }
            for i in items
        ],
    }
    return json.dumps(doc).encode()




def long_body(topic: str) -> str:
    """A body long enough (30+ words) to count as substantial, and different for every topic.

    Seeded by the topic, so the same topic always gives the same body and
    different topics give bodies that share almost no wording.
    """
    import random

    rng = random.Random(topic)
    # Made-up words of three syllables (about a million of them): real vocabulary drawn at random
    # made every two topics share a dozen rare words, which is what related stories look like.
    words = [
        "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(45)
    ]
    sentences = [" ".join(words[i : i + 9]).capitalize() + "." for i in range(0, 45, 9)]
    return f"<p>{topic} made news. " + " ".join(sentences) + "</p>"
