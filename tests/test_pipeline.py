"""End to end through the real command line: a local HTTP server serves RSS 1.0, RSS 2.0,
Atom and JSON Feed sources; ``syndicator refresh`` ingests them and publishes feeds that
feedparser, the Atom RELAX NG schema and the JSON Feed JSON Schema accept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import jsonschema
import pytest
from lxml import etree

from tests.conftest import Resource, store_url, syndicator, write_config
from tests.feedmaker import It, atom, jsonfeed, long_body, rss1, rss2

VALIDATORS = Path(__file__).parent / "validators"
T0 = datetime(2025, 4, 11, 9, 0, tzinfo=UTC)


def _items(prefix: str, n: int = 3) -> list[It]:
    return [
        It(
            title=f"{prefix} headline {k}",
            link=f"https://{prefix}.example/story/{k}",
            guid=f"{prefix}-{k}",
            body=long_body(f"{prefix} story number {k}"),
            published=T0 - timedelta(hours=k),
            author=f"{prefix} writer",
            category="World",
        )
        for k in range(n)
    ]


@pytest.fixture
def four_sources(feed_server, tmp_path):
    feeds = {
        "/rss1.rdf": (rss1(_items("rdf")), "application/rdf+xml"),
        "/rss2.xml": (rss2(_items("rss")), "application/rss+xml"),
        "/atom.xml": (atom(_items("atom")), "application/atom+xml"),
        "/feed.json": (jsonfeed(_items("json")), "application/feed+json"),
    }
    for path, (body, ctype) in feeds.items():
        feed_server.resources[path] = Resource(body, ctype)
    cfg = write_config(
        tmp_path,
        {
            "rdf": feed_server.url("/rss1.rdf"),
            "rss": feed_server.url("/rss2.xml"),
            "atom": feed_server.url("/atom.xml"),
            "json": feed_server.url("/feed.json"),
        },
    )
    return cfg


def _stories(cfg: Path) -> list[dict]:
    out = syndicator("--config", str(cfg), "stories", "--json", "--limit", "0")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def validate_atom(data: bytes) -> None:
    schema = etree.RelaxNG(etree.parse(str(VALIDATORS / "atom.rng")))
    doc = etree.fromstring(data)
    assert schema.validate(doc), schema.error_log


def validate_json_feed(data: bytes) -> None:
    schema = json.loads((VALIDATORS / "jsonfeed-schema-v1.1.json").read_text())
    jsonschema.validate(json.loads(data), schema)


def test_refresh_ingests_every_format_and_publishes_valid_feeds(four_sources, tmp_path):
    out = syndicator("--config", str(four_sources), "refresh")
    assert out.returncode == 0, out.stderr
    assert "4 fetched" in out.stdout and "12 new" in out.stdout
    public = tmp_path / "public"
    assert sorted(p.name for p in public.iterdir()) == [
        "all.atom", "all.json", "all.rss", "feeds.opml", "index.html",
    ]
    stories = _stories(four_sources)
    assert len(stories) == 12
    titles = {s["title"] for s in stories}
    assert {f"{p} headline {k}" for p in ("rdf", "rss", "atom", "json") for k in range(3)} == titles

    for name in ("all.rss", "all.atom"):
        parsed = feedparser.parse((public / name).read_bytes())
        assert not parsed.bozo, (name, parsed.get("bozo_exception"))
        assert len(parsed.entries) == 12
        assert {e.title for e in parsed.entries} == titles
    validate_atom((public / "all.atom").read_bytes())
    validate_json_feed((public / "all.json").read_bytes())

    # The story id is the item id in every format, independent of base_url.
    ids = {s["id"] for s in stories}
    assert all(i.startswith("urn:uuid:") for i in ids)
    rss_ids = {e.id for e in feedparser.parse((public / "all.rss").read_bytes()).entries}
    atom_ids = {e.id for e in feedparser.parse((public / "all.atom").read_bytes()).entries}
    json_ids = {i["id"] for i in json.loads((public / "all.json").read_bytes())["items"]}
    assert ids == rss_ids == atom_ids == json_ids
    rss_doc = etree.fromstring((public / "all.rss").read_bytes())
    guids = rss_doc.findall(".//item/guid")
    assert guids and all(g.get("isPermaLink") == "false" for g in guids)


def test_story_json_contract(four_sources):
    assert syndicator("--config", str(four_sources), "refresh").returncode == 0
    stories = _stories(four_sources)
    newest_first = [s["published"] for s in stories]
    assert newest_first == sorted(newest_first, reverse=True)
    for s in stories:
        assert set(s) == {"id", "title", "url", "published", "articles", "related"}
        assert isinstance(s["id"], str) and isinstance(s["related"], list)
        for r in s["related"]:  # links to other stories of the store, never to itself
            assert set(r) == {"id", "title", "url"} and r["id"] != s["id"]
            assert r["id"] in {o["id"] for o in stories} and r["title"]
        datetime.fromisoformat(s["published"].replace("Z", "+00:00"))
        assert len(s["articles"]) == 1
        a = s["articles"][0]
        assert set(a) == {"id", "source", "guid", "url", "title", "published"}
        assert isinstance(a["id"], str) and a["source"] in {"rdf", "rss", "atom", "json"}
        assert a["url"] == s["url"] and a["title"] == s["title"]
    limited = syndicator("--config", str(four_sources), "stories", "--json", "--limit", "5")
    assert len(json.loads(limited.stdout)) == 5
    default = json.loads(syndicator("--config", str(four_sources), "stories", "--json").stdout)
    assert len(default) == 12  # the default limit of 50 holds them all


def test_second_refresh_is_conditional_and_changes_nothing(four_sources, feed_server, tmp_path):
    assert syndicator("--config", str(four_sources), "refresh").returncode == 0
    public = tmp_path / "public"
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in public.iterdir()}
    feed_server.requests.clear()

    out = syndicator("--config", str(four_sources), "refresh")
    assert out.returncode == 0, out.stderr
    assert "0 fetched, 4 unchanged" in out.stdout
    assert len(feed_server.requests) == 4
    for r in feed_server.requests:
        assert r.status == 304
        assert r.headers.get("if-none-match") and r.headers.get("if-modified-since")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in public.iterdir()}
    assert after == before  # byte-identical, and not even rewritten


def test_unchanged_refresh_skips_publishing_until_something_changed(four_sources, feed_server, tmp_path):
    from syndicator.model import Entry
    from syndicator.store import Store

    assert syndicator("--config", str(four_sources), "refresh").returncode == 0
    public = tmp_path / "public"

    # A file gone from the output folder: the unchanged refresh writes it again.
    (public / "all.json").unlink()
    out = syndicator("--config", str(four_sources), "refresh")
    assert out.returncode == 0, out.stderr
    assert "0 fetched, 4 unchanged" in out.stdout and "1 file(s) written" in out.stdout
    assert (public / "all.json").is_file()

    # Nothing changed: nothing written.
    out = syndicator("--config", str(four_sources), "refresh")
    assert "0 file(s) written" in out.stdout

    # Another settings (a feed's title): republished with it.
    text = four_sources.read_text().replace('title = "All stories"', 'title = "Every story"')
    four_sources.write_text(text)
    out = syndicator("--config", str(four_sources), "refresh")
    assert "0 fetched, 4 unchanged" in out.stdout
    assert b"Every story" in (public / "all.atom").read_bytes()

    # An article stored by another process (or by a refresh killed before it published): published now.
    with Store(store_url(tmp_path)) as store:  # the configuration's store, SQLite file or PostgreSQL database
        entry = Entry(guid="late-1", url="https://rss.example/story/late", title="A late arrival in the store",
                      text=long_body("late arrival"), published=T0)
        assert store.ingest("rss", [entry], datetime.now(UTC), 72 * 3600).new_articles == 1
    out = syndicator("--config", str(four_sources), "refresh")
    assert "0 fetched, 4 unchanged" in out.stdout
    assert b"A late arrival in the store" in (public / "all.atom").read_bytes()
    out = syndicator("--config", str(four_sources), "refresh")
    assert "0 file(s) written" in out.stdout


def test_an_article_stored_while_a_publish_runs_is_published_by_the_next_one(four_sources, tmp_path, monkeypatch):
    """Another worker's ingest committed after a publish read the store: the next refresh must publish it,
    not take the files for up to date (the signature once set at the end of a publish hid it)."""
    from syndicator import publish
    from syndicator.config import load_config
    from syndicator.model import Entry
    from syndicator.refresh import publish_and_prune
    from syndicator.store import Store

    assert syndicator("--config", str(four_sources), "refresh").returncode == 0
    config = load_config(four_sources)
    atom_file = tmp_path / "public" / "all.atom"

    def entry(n: int) -> Entry:
        return Entry(guid=f"late-{n}", url=f"https://rss.example/story/late-{n}", title=f"Late arrival number {n}",
                     text=long_body(f"late arrival {n}"), published=T0)

    with Store(store_url(tmp_path)) as store:
        assert store.ingest("rss", [entry(1)], datetime.now(UTC), 72 * 3600).new_articles == 1
        settle = publish._settle

        def settle_then_another_worker_stores(*args, **kwargs):
            settled = settle(*args, **kwargs)  # this publish has read the store
            assert store.ingest("rss", [entry(2)], datetime.now(UTC), 72 * 3600).new_articles == 1
            return settled

        monkeypatch.setattr(publish, "_settle", settle_then_another_worker_stores)
        assert not publish_and_prune(store, config).skipped
        monkeypatch.setattr(publish, "_settle", settle)
        assert b"Late arrival number 1" in atom_file.read_bytes()
        assert b"Late arrival number 2" not in atom_file.read_bytes()

        publish_and_prune(store, config)
        assert b"Late arrival number 2" in atom_file.read_bytes()
        assert publish_and_prune(store, config).written == []  # and then nothing changed


def test_reingest_and_new_guid_same_canonical_url_add_no_story(feed_server, tmp_path):
    first = It("Wire story", "https://news.example/a/story?utm_source=rss", "guid-1", long_body("A"))
    feed_server.resources["/f.xml"] = Resource(rss2([first]))
    cfg = write_config(tmp_path, {"f": feed_server.url("/f.xml")})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert len(_stories(cfg)) == 1

    # The same feed again, served fresh (no 304): nothing new.
    feed_server.resources["/f.xml"] = Resource(rss2([first]) + b"\n")
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert len(_stories(cfg)) == 1

    # Same page under a new guid, http instead of https, www., trailing slash, fragment.
    moved = It("Wire story, retitled", "http://www.news.example/a/story/#top", "guid-2", "")
    feed_server.resources["/f.xml"] = Resource(rss2([first, moved]))
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    stories = _stories(cfg)
    assert len(stories) == 1
    assert {a["guid"] for a in stories[0]["articles"]} == {"guid-1", "guid-2"}
    assert stories[0]["url"] == "https://news.example/a/story"  # tracking parameter dropped


def test_same_substantial_body_merges_but_short_body_does_not(feed_server, tmp_path):
    body = long_body("The treaty")
    a = It("Treaty signed", "https://one.example/1", "1", body, T0)
    b = It("Leaders sign the treaty", "https://two.example/2", "2", body.replace("'", "’"), T0 + timedelta(hours=1))
    c = It("Council approves the new budget", "https://one.example/3", "3", "<p>This is powerful stuff.</p>")
    d = It("Local team wins the final", "https://two.example/4", "4", "<p>This is powerful stuff.</p>")
    feed_server.resources["/one.xml"] = Resource(rss2([a, c]))
    feed_server.resources["/two.xml"] = Resource(atom([b, d]), "application/atom+xml")
    cfg = write_config(tmp_path, {"one": feed_server.url("/one.xml"), "two": feed_server.url("/two.xml")})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    stories = _stories(cfg)
    assert len(stories) == 3
    merged = next(s for s in stories if len(s["articles"]) == 2)
    assert {x["title"] for x in merged["articles"]} == {"Treaty signed", "Leaders sign the treaty"}
    assert merged["title"] == "Treaty signed"  # the earliest article leads


def test_failing_source_is_named_and_the_rest_published(feed_server, tmp_path):
    feed_server.resources["/ok.xml"] = Resource(rss2(_items("ok", 2)))
    feed_server.resources["/broken.xml"] = Resource(b"<html><body>not a feed</body></html>", "text/html")
    cfg = write_config(
        tmp_path,
        {
            "ok": feed_server.url("/ok.xml"),
            "broken": feed_server.url("/broken.xml"),
            "missing": feed_server.url("/missing.xml"),
            "nowhere": "http://127.0.0.1:9/feed.xml",
        },
    )
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 1
    assert "source missing failed: HTTP 404" in out.stderr
    assert "source broken failed: not a feed" in out.stderr
    assert "source nowhere failed" in out.stderr
    assert "1 fetched, 0 unchanged, 3 failed" in out.stdout
    assert len(_stories(cfg)) == 2
    assert len(feedparser.parse((tmp_path / "public" / "all.atom").read_bytes()).entries) == 2
    listing = syndicator("--config", str(cfg), "sources", "list")
    assert listing.returncode == 0
    broken_line = next(line for line in listing.stdout.splitlines() if line.startswith("broken"))
    assert "error" in broken_line and "not a feed" in broken_line


def test_gone_source_is_disabled_and_fetched_only_when_named(feed_server, tmp_path):
    feed_server.resources["/gone.xml"] = Resource(b"", status=410)
    feed_server.resources["/ok.xml"] = Resource(rss2(_items("ok", 1)))
    cfg = write_config(tmp_path, {"gone": feed_server.url("/gone.xml"), "ok": feed_server.url("/ok.xml")})
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 1 and "gone" in out.stderr and "disabled" in out.stderr
    feed_server.requests.clear()
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert feed_server.requests_for("/gone.xml") == []
    assert "disabled" in syndicator("--config", str(cfg), "sources", "list").stdout
    named = syndicator("--config", str(cfg), "refresh", "--source", "gone")
    assert named.returncode == 1 and len(feed_server.requests_for("/gone.xml")) == 1


def test_retry_after_defers_the_source(feed_server, tmp_path):
    feed_server.resources["/busy.xml"] = Resource(b"", status=429, headers={"Retry-After": "3600"})
    cfg = write_config(tmp_path, {"busy": feed_server.url("/busy.xml")})
    assert syndicator("--config", str(cfg), "refresh").returncode == 1
    feed_server.requests.clear()
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0
    assert "1 deferred" in out.stdout and "deferred busy" in out.stdout
    assert feed_server.requests == []


def test_refresh_named_source_only(four_sources, feed_server):
    out = syndicator("--config", str(four_sources), "refresh", "--source", "rss", "--source", "atom")
    assert out.returncode == 0, out.stderr
    assert {r.path for r in feed_server.requests} == {"/rss2.xml", "/atom.xml"}
    bad = syndicator("--config", str(four_sources), "refresh", "--source", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_file_sources_relative_to_config(tmp_path):
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "local.xml").write_bytes(rss2(_items("local", 2)))
    cfg = write_config(tmp_path, {"local": "feeds/local.xml"})
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    assert len(_stories(cfg)) == 2
    again = syndicator("--config", str(cfg), "refresh")
    assert "0 fetched, 1 unchanged" in again.stdout


def test_feed_with_source_subset(feed_server, tmp_path):
    feed_server.resources["/a.xml"] = Resource(rss2(_items("a", 2)))
    feed_server.resources["/b.xml"] = Resource(rss2(_items("b", 3)))
    feeds = (
        '[[feeds]]\nname = "all"\ntitle = "All"\nsources = ["*"]\n'
        '[[feeds]]\nname = "only-b"\ntitle = "Only B"\nsources = ["b"]\nlimit = 2\n'
    )
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml")}, feeds=feeds)
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    only_b = feedparser.parse((tmp_path / "public" / "only-b.rss").read_bytes())
    assert [e.title for e in only_b.entries] == ["b headline 0", "b headline 1"]
    out = syndicator("--config", str(cfg), "stories", "--json", "--feed", "only-b", "--limit", "0")
    assert {s["title"] for s in json.loads(out.stdout)} == {f"b headline {k}" for k in range(3)}
    index = (tmp_path / "public" / "index.html").read_text()
    assert 'rel="alternate" type="application/atom+xml"' in index and "only-b.json" in index
    opml = etree.fromstring((tmp_path / "public" / "feeds.opml").read_bytes())
    assert {o.get("xmlUrl") for o in opml.iter("outline")} == {
        "http://127.0.0.1:8080/all.rss", "http://127.0.0.1:8080/only-b.rss",
    }


def test_feed_filters(feed_server, tmp_path):
    now = datetime.now(UTC)
    items = [
        It("Ballot results are in", "https://f.example/n/1", "1", long_body("Election"), now, category="Politics"),
        It("Ballot night live blog", "https://f.example/n/2", "2", long_body("Live"), now, category="Politics"),
        It("Rain all week", "https://f.example/n/3", "3", long_body("Weather"), now, category="Weather"),
        It("Old ballot story", "https://f.example/n/4", "4", long_body("Old"), now - timedelta(days=20),
           category="Politics"),
    ]
    feed_server.resources["/f.xml"] = Resource(rss2(items))
    feeds = (
        '[[feeds]]\nname = "all"\nsources = ["*"]\n'
        '[[feeds]]\nname = "elections"\ninclude = ["\\\\bballot"]\nexclude = ["live blog"]\nmax_age = "7d"\n'
        '[[feeds]]\nname = "weather"\ncategories = ["weather"]\n'
    )
    cfg = write_config(tmp_path, {"f": feed_server.url("/f.xml")}, feeds=feeds)
    assert syndicator("--config", str(cfg), "refresh").returncode == 0

    def titles(name):
        return [e.title for e in feedparser.parse((tmp_path / "public" / f"{name}.atom").read_bytes()).entries]

    assert len(titles("all")) == 4
    assert titles("elections") == ["Ballot results are in"]
    assert titles("weather") == ["Rain all week"]
