"""``index.html``, the page a person reads: built through the real pipeline from two sources, then
checked as HTML (stories, their other headlines, the activity chart's numbers, escaping, nothing
loaded from elsewhere, byte-identical republishing) and as rendered by headless Chromium."""

from __future__ import annotations

import struct
import subprocess
import zlib
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import pytest
from sqlalchemy import bindparam, text

from syndicator.config import load_config
from syndicator.publish.items import Item, Related, Variant
from syndicator.publish.pages import FeedSummary, render_index
from syndicator.publish.stats import DailyActivity, DayCount, daily_activity
from syndicator.store import Store
from syndicator.store.schema import UTCDateTime
from tests.conftest import Resource, require_tool, store_url, syndicator, write_config
from tests.feedmaker import It, atom, long_body, rss2
from tests.readers import serving

T0 = datetime(2025, 4, 11, 9, 0, tzinfo=UTC)
BODY = long_body("The treaty")
EVIL = "<script>alert(1)</script> Harbour reopens"
ONE = [
    It("Treaty signed", "https://one.example/1", "1", BODY, T0),
    It("Harbour reopens", "https://one.example/2", "2", long_body("Harbour"), T0 - timedelta(hours=1)),
    It("Council approves the new budget", "https://one.example/3", "3", long_body("Budget"), T0 - timedelta(hours=2)),
]
TWO = [
    # The same body as "Treaty signed": merged into its story, shown as another headline.
    It("Leaders sign the treaty", "https://two.example/2", "2", BODY.replace("'", "’"), T0 + timedelta(hours=1)),
    It("Local team wins the final", "https://two.example/4", "4", long_body("Final"), T0 - timedelta(hours=3)),
]
NEWEST_FIRST = ["Treaty signed", EVIL, "Council approves the new budget", "Local team wins the final"]
# When each article was fetched (set in the store after the refresh: the pipeline uses the clock).
FETCHED = {
    "https://one.example/1": "2025-04-11 10:00:00.000000",
    "https://one.example/2": "2025-04-11 11:30:00.000000",
    "https://two.example/2": "2025-04-11 23:59:59.000000",  # the merge, late in the newest day
    "https://one.example/3": "2025-04-09 00:00:00.000000",
    "https://two.example/4": "2025-03-20 08:00:00.000000",  # older than the 14 days shown
}
FIRST_DAY, LAST_DAY = date(2025, 3, 29), date(2025, 4, 11)
EXPECTED = {date(2025, 4, 11): (3, 2, 1), date(2025, 4, 9): (1, 1, 0)}  # (articles, stories, merges)
SERIES_COLOURS = {"articles": (0x00, 0x72, 0xB2), "stories": (0x00, 0x9E, 0x73), "merges": (0xE6, 0x9F, 0x00)}
PAGE_BACKGROUND = (0xFB, 0xFA, 0xF7)  # only there if the stylesheet passed the page's own CSP


@pytest.fixture
def site(feed_server, tmp_path) -> Path:
    feed_server.resources["/one.xml"] = Resource(rss2(ONE))
    feed_server.resources["/two.xml"] = Resource(atom(TWO), "application/atom+xml")
    cfg = write_config(tmp_path, {"one": feed_server.url("/one.xml"), "two": feed_server.url("/two.xml")})
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    set_fetched = text("UPDATE articles SET fetched_at = :when WHERE url = :url").bindparams(
        bindparam("when", type_=UTCDateTime())
    )
    with Store(load_config(cfg).database_url(), migrate=False) as store, store.session() as db:
        for url, when in FETCHED.items():
            aware = datetime.fromisoformat(when).replace(tzinfo=UTC)
            assert db.execute(set_fetched, {"when": aware, "url": url}).rowcount == 1
        # Parsing already strips tags from titles; a stored title holding one tests the page's own escaping.
        assert db.execute(
            text("UPDATE articles SET title = :t WHERE url = :u"), {"t": EVIL, "u": "https://one.example/2"}
        ).rowcount
        db.execute(text(
            "UPDATE stories SET created_at = (SELECT MIN(a.fetched_at) FROM articles a WHERE a.story_id = stories.id)"
        ))
        # A refresh that stores nothing new skips publishing; edits made behind its back are not news to it,
        # so mark the last publish as outdated, as any ingest or other publish does.
        assert db.execute(
            text("UPDATE feed_state SET content_hash = '' WHERE name = '.last-publish'")
        ).rowcount == 1
    out = syndicator("--config", str(cfg), "refresh")  # nothing new (304s); republishes the page
    assert out.returncode == 0, out.stderr
    return cfg


def _page(cfg: Path) -> bytes:
    return (cfg.parent / "public" / "index.html").read_bytes()


def _expected_days() -> list[tuple[date, tuple[int, int, int]]]:
    n = (LAST_DAY - FIRST_DAY).days + 1
    return [(FIRST_DAY + timedelta(days=k), EXPECTED.get(FIRST_DAY + timedelta(days=k), (0, 0, 0))) for k in range(n)]


def test_daily_activity_counts_by_utc_day_from_the_data(site):
    with Store(load_config(site).database_url(), migrate=False) as store, store.session() as s:
        activity = daily_activity(s)
    assert activity == DailyActivity(tuple(DayCount(d, *counts) for d, counts in _expected_days()))
    assert (activity.articles, activity.stories, activity.merges) == (4, 3, 1)


def test_daily_activity_of_an_empty_store(tmp_path):
    with Store(store_url(tmp_path, "empty.db")) as store, store.session() as s:
        assert daily_activity(s) == DailyActivity(())


def test_index_page_html(site):
    data = _page(site)
    doc = lxml.html.fromstring(data)

    # The latest stories, newest first, each once, linking to its own article.
    stories = doc.xpath('//ol[@class="stories"]/li[@class="story"]')
    assert [s.xpath("string(.//h3)") for s in stories] == NEWEST_FIRST
    assert stories[0].xpath(".//h3/a/@href") == ["https://one.example/1"]
    assert stories[0].xpath(".//time/@datetime") == ["2025-04-11T09:00:00Z"]

    # The merged story names its other headline, with the source and link.
    more = stories[0].xpath('.//div[@class="more"]')
    assert len(more) == 1 and more[0].xpath("string(p)") == "Also published as"
    assert [(a.text_content(), a.get("href")) for a in more[0].xpath(".//li/a")] == [
        ("Leaders sign the treaty", "https://two.example/2"),
    ]
    assert "(two)" in more[0].xpath("string(.//li)")
    assert all(not s.xpath('.//div[@class="more"]') for s in stories[1:])

    # A title holding a script element is text on the page, not a script.
    assert not doc.xpath("//script") and b"<script" not in data.lower()
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; Harbour reopens" in data

    # The feeds: subscribe links in every format, autodiscovery for each.
    feed = doc.xpath('//ul[@class="feeds"]/li')
    assert len(feed) == 1 and feed[0].xpath("string(h3)") == "All stories"
    assert feed[0].xpath(".//a/@href") == ["all.rss", "all.atom", "all.json", "feeds.opml"]
    alternates = {(link.get("type"), link.get("href")) for link in doc.xpath('//link[@rel="alternate"]')}
    assert alternates == {
        ("application/rss+xml", "http://127.0.0.1:8080/all.rss"),
        ("application/atom+xml", "http://127.0.0.1:8080/all.atom"),
        ("application/feed+json", "http://127.0.0.1:8080/all.json"),
    }

    # The chart: inline SVG, accessible, its numbers those of the store.
    (svg,) = doc.xpath("//figure/div[@class='chart']/svg")
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "chart-title chart-desc"
    assert svg.xpath("string(title)") == "Articles in, stories out and merges per day"
    desc = svg.xpath("string(desc)")
    assert "Mar 29 to Apr 11 2025" in desc and "4 articles in, 3 stories out, 1 merge" in desc
    assert [t.text_content() for t in svg.xpath('.//g[@class="legend"]/text')] == [
        "Articles in (4)", "Stories out (3)", "Merges (1)",
    ]
    assert {t.text_content() for t in svg.xpath(".//text[@class='axis-label']")} == {"Count per day", "Day (UTC)"}
    x_labels = [t.text_content() for t in svg.xpath('.//g[@class="x-axis"]/text')]
    assert x_labels == ["29", "Mar", "30", "31", "1", "Apr", *(str(d) for d in range(2, 12))]
    bars = {(r.get("class"), r.xpath("string(title)")) for r in svg.xpath('.//g[@class="bars"]/rect')}
    assert bars == {
        ("articles", "Apr 11: 3 articles in"), ("stories", "Apr 11: 2 new stories"),
        ("merges", "Apr 11: 1 merged into a story"),
        ("articles", "Apr 9: 1 articles in"), ("stories", "Apr 9: 1 new stories"),
    }
    heights = {r.xpath("string(title)"): float(r.get("height")) for r in svg.xpath('.//g[@class="bars"]/rect')}
    assert heights["Apr 11: 3 articles in"] == pytest.approx(3 * heights["Apr 9: 1 articles in"])
    rows = [
        (r.xpath("string(th/time/@datetime)"), tuple(int(td.text) for td in r.xpath("td")))
        for r in doc.xpath('//table[@class="activity"]/tbody/tr')
    ]
    assert rows == [(d.isoformat(), counts) for d, counts in _expected_days()]

    # Nothing is loaded from elsewhere: no src at all, no stylesheet link, no url() in the style;
    # the only absolute links are the stories' own and the feeds'.
    assert not doc.xpath("//*[@src]") and not doc.xpath('//link[@rel="stylesheet"]')
    style = doc.xpath("string(//style)")
    assert "url(" not in style and "@import" not in style
    allowed = {i.link for i in ONE + TWO} | {href for _, href in alternates}
    for href in doc.xpath("//@href"):
        parts = urlsplit(href)
        assert (not parts.scheme and not parts.netloc) or href in allowed, href
    policy = doc.xpath('string(//meta[@http-equiv="Content-Security-Policy"]/@content)')
    assert "default-src 'none'" in policy and "script" not in policy

    # Publishing the same store again changes nothing, not even the file's time.
    path = site.parent / "public" / "index.html"
    before = path.stat().st_mtime_ns
    assert syndicator("--config", str(site), "refresh").returncode == 0
    assert path.read_bytes() == data and path.stat().st_mtime_ns == before


def test_everything_from_sources_is_escaped():
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
    item = Item(
        id="urn:uuid:1", title=hostile, link="javascript:alert(3)", published=T0, updated=T0, body_html="",
        summary_html="", author="", categories=(), enclosures=(), image="", language="", source=hostile,
        variants=(Variant(hostile, "https://v.example/?a=1&b=\"><script>", hostile),
                  Variant("plain", "data:text/html,<script>alert(4)</script>", "x")),
        related=(Related("urn:uuid:2", hostile, " JAVASCRIPT:alert(5)"),),
        article_ids=("a",),
    )
    feed = FeedSummary("all", hostile, hostile, (item,))
    data = render_index(hostile, "http://127.0.0.1:8080/", [feed], activity=DailyActivity(()))
    doc = lxml.html.fromstring(data)
    assert not doc.xpath("//script | //img | //*[@onerror]")
    assert b"<script" not in data.lower() and b"javascript:" not in data.lower() and b"data:" not in data
    (story,) = doc.xpath('//li[@class="story"]')
    assert story.xpath("string(.//h3)") == hostile and not story.xpath(".//h3/a")  # no link to a script
    links = [(a.text_content(), a.get("href")) for a in story.xpath('.//div[@class="more"]//a')]
    assert links == [(hostile, "https://v.example/?a=1&b=\"><script>")]
    assert story.xpath('string(.//div[@class="more"][2])') == "Related" + hostile
    assert doc.xpath("string(//h1)") == hostile and doc.xpath("string(//title)") == hostile
    assert 'class="empty"' in data.decode()  # no activity yet: said in words, no chart


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    binary = require_tool("chromium")
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-color-profile=srgb",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_index_page_in_chromium(site, tmp_path):
    require_tool("chromium")
    shot = tmp_path / "index.png"
    with serving(site) as base:
        dom = _chromium("--dump-dom", base, profile=tmp_path / "profile")
        assert dom.returncode == 0, dom.stderr[-2000:]
        taken = _chromium(f"--screenshot={shot}", "--window-size=1024,1900", base, profile=tmp_path / "profile")
        assert taken.returncode == 0, taken.stderr[-2000:]

    doc = lxml.html.fromstring(dom.stdout)
    assert doc.xpath("string(//title)") == "Syndicator"
    assert [s.xpath("string(.//h3)") for s in doc.xpath('//li[@class="story"]')] == NEWEST_FIRST
    assert not doc.xpath("//script")  # the escaped title stayed text in the browser's DOM too
    assert "Leaders sign the treaty" in doc.xpath('string(//li[@class="story"][1]//div[@class="more"])')
    (svg,) = doc.xpath("//*[local-name()='svg']")
    assert svg.xpath("*[local-name()='title']") and svg.xpath("*[local-name()='desc']")
    assert len(svg.xpath(".//*[local-name()='rect']")) == 5 + 3  # bars and legend swatches
    assert len(svg.xpath(".//*[local-name()='text']")) >= 14 + 3 + 2

    # What shows: the stylesheet applied (allowed by the page's CSP) and bars in each series' colour.
    width, height, pixels = _read_png(shot.read_bytes())
    assert (width, height) == (1024, 1900)
    colours = _colours(pixels)
    assert colours[PAGE_BACKGROUND] > width * height // 4
    for name, rgb in SERIES_COLOURS.items():
        assert colours.get(rgb, 0) > 40, (name, rgb)


def _read_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and unfiltered 8-bit RGB or RGBA rows (with their filter byte dropped)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour_type in (2, 6) and interlace == 0
            bpp = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a, b = (line[i - bpp] if i >= bpp else 0), prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out += line
        prev = line
    if bpp == 4:
        del out[3::4]  # alpha
    return width, height, bytes(out)


def _colours(rgb: bytes) -> Counter[tuple[int, int, int]]:
    return Counter(zip(rgb[0::3], rgb[1::3], rgb[2::3], strict=True))
