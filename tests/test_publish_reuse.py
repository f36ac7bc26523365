"""Reused entry renders (publish/reuse.py): the same bytes as a whole render, and only what changed is
rendered again.

- a feed spliced from kept entries is byte for byte the whole render, in every format, whatever the order,
  the subset, the items' images, enclosures, variants and related links;
- republishing after one new story renders that story's entry only; a changed item IS rendered again
  (its hash is in the key), and so is one whose date moved; the feed's date moves only when its items do.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from syndicator.config import config_from_dict
from syndicator.model import Entry
from syndicator.publish import publish_all, reuse
from syndicator.publish.items import Related, Variant, build_items
from syndicator.publish.jsonfeed import render_json
from syndicator.publish.xmlfeeds import render_xml
from syndicator.store import Store
from syndicator.store.schema import ArticleRow, StoryRow
from tests.feedmaker import long_body

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FEED = dict(feed_id="urn:uuid:feed", title="Stories", description="", self_url="http://x.example/all.atom",
            home_url="http://x.example/", author="Syndicator", language="", hub_url="https://hub.example/")


def _entries(source: str, n: int) -> list[Entry]:
    return [Entry(guid=f"{source}{k}", url=f"https://{source}.example/{k}", title=f"{source} headline {k}",
                  text=long_body(f"{source}{k}"), summary="", published=NOW - k * timedelta(hours=1))
            for k in range(n)]


def _config(tmp_path: Path, folder: str = "public"):
    return config_from_dict({
        "storage": {"url": f"sqlite:///{tmp_path / 'store.db'}"},
        "output": {"dir": str(tmp_path / folder), "base_url": "http://127.0.0.1:8080/"},
        "sources": [{"name": n, "url": f"https://{n}.example/"} for n in ("a", "b")],
        "feeds": [{"name": "all", "sources": ["*"], "limit": 12}],
    }, tmp_path / "syndicator.toml")


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.sync_sources([("a", "https://a.example/"), ("b", "https://b.example/")])
        store.ingest("a", _entries("a", 10), NOW, 72 * 3600)
        copies = [replace(e, guid=f"b{k}", url=f"https://b.example/{k}", title=f"Copy {k}")
                  for k, e in enumerate(_entries("a", 3))]
        store.ingest("b", copies, NOW + timedelta(minutes=5), 72 * 3600)
        reuse.clear()
        yield store


def _items(store):
    with store.session() as s:
        ids = list(s.scalars(select(StoryRow.id).order_by(StoryRow.published.desc(), StoryRow.id)))
        built = build_items(s, ids, "first", "article", 3)
    odd = [
        replace(built[0], id="urn:uuid:odd-1", title="Ünïcode “quotes” — and <tags> & ]]>",
                image="https://img.example/1.jpg", categories=("x", "é"),
                enclosures=({"url": "https://a.example/a.mp3", "length": 12, "type": "audio/mpeg"},
                            {"url": "https://a.example/b.ogg"}),
                variants=(Variant("Other", "", "b"),),
                related=(Related("urn:uuid:1", "Rel <1>", "https://r.example/"), Related("urn:uuid:2", "No URL", ""))),
        replace(built[1], id="urn:uuid:odd-2", language="fr", author="Anne", body_html="",
                summary_html="<p>short</p>", link=""),
    ]
    items = [*built, *odd]
    return items, {i.id: i.content_hash() for i in items}


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
def test_spliced_feed_is_the_whole_render(store, fmt):
    items, hashes = _items(store)
    assert any(i.variants for i in items) and any(i.related for i in items)

    def whole(some):
        if fmt == "json":
            return render_json(items=some, **{k: v for k, v in FEED.items() if k != "feed_id" and k != "updated"})
        return render_xml(fmt, items=some, updated=NOW, **FEED)

    def spliced(some):
        if fmt == "json":
            return reuse.render_json_reusing(items=some, hashes=hashes,
                                             **{k: v for k, v in FEED.items() if k != "feed_id"})
        return reuse.render_xml_reusing(fmt, items=some, hashes=hashes, updated=NOW, **FEED)

    plain = [i for i in items if not i.image]  # no Media RSS namespace on this feed
    cases = [items, items[:3], list(reversed(items)), items[2:] + items[:2], plain, plain[1:], [items[-2]], []]
    for some in cases:
        assert spliced(some) == whole(some), [i.id for i in some]
    assert reuse.stats["fallbacks"] == 0
    misses = reuse.stats["misses"]
    assert misses == len(items)  # each entry rendered once, then always reused
    for some in cases:
        assert spliced(some) == whole(some)
    assert reuse.stats["misses"] == misses and reuse.stats["hits"] > 0


def _publish(store, config, now: datetime = NOW) -> dict[str, bytes]:
    publish_all(store, config, now)
    return {p.name: p.read_bytes() for p in sorted(config.output_dir.iterdir())}


def _from_scratch(store, tmp_path, name: str, now: datetime) -> dict[str, bytes]:
    """What a fresh process publishes (no entry kept) over the store as it is, into another folder."""
    kept = dict(reuse._kept)
    reuse._kept.clear()
    try:
        return _publish(store, _config(tmp_path, name), now)
    finally:
        reuse._kept.update(kept)


def _updated(atom: bytes) -> str:
    return re.search(rb"<updated>([^<]+)</updated>", atom).group(1).decode()


def test_republish_renders_only_what_changed(store, tmp_path):
    config = _config(tmp_path)
    first = _publish(store, config)
    n = store.count_stories()
    assert n == 10 and reuse.stats["misses"] == 3 * n  # the 3 copies are variants of a's stories
    feed_date = _updated(first["all.atom"])

    # One new story: one entry rendered per format; the feed's date moves; the bytes are a fresh render's.
    late = Entry(guid="late", url="https://a.example/late", title="late headline", text=long_body("late"),
                 summary="", published=NOW + timedelta(hours=1))
    store.ingest("a", [late], NOW + timedelta(hours=1), 72 * 3600)
    before = dict(reuse.stats)
    files = _publish(store, config, NOW + timedelta(hours=1))
    assert reuse.stats["misses"] - before["misses"] == 3
    assert reuse.stats["hits"] - before["hits"] == 3 * n
    assert b"late headline" in files["all.atom"]
    assert _updated(files["all.atom"]) != feed_date
    assert files == _from_scratch(store, tmp_path, "scratch1", NOW + timedelta(hours=1))

    # An item changed in place (a new headline on its chosen article): that entry IS rendered again.
    with store.session() as s:
        story = s.scalars(select(StoryRow).where(StoryRow.title == "a headline 4")).one()
        s.execute(update(ArticleRow).where(ArticleRow.id == story.chosen_article_id).values(title="Retitled"))
    before = dict(reuse.stats)
    feed_date = _updated(files["all.atom"])
    files = _publish(store, config, NOW + timedelta(hours=2))
    assert reuse.stats["misses"] - before["misses"] == 3
    assert b"Retitled" in files["all.atom"] and b"Retitled" in files["all.rss"] and b"Retitled" in files["all.json"]
    assert _updated(files["all.atom"]) != feed_date
    assert files == _from_scratch(store, tmp_path, "scratch2", NOW + timedelta(hours=2))

    # Nothing changed: nothing rendered (the render key), the files as they were.
    before = dict(reuse.stats)
    assert _publish(store, config, NOW + timedelta(hours=3)) == files
    assert reuse.stats == before


def test_a_moved_date_is_a_miss(store):
    items, hashes = _items(store)
    reuse.render_xml_reusing("atom", items=items, hashes=hashes, updated=NOW, **FEED)
    moved = [replace(items[0], updated=items[0].updated + timedelta(minutes=1)), *items[1:]]
    before = reuse.stats["misses"]
    data = reuse.render_xml_reusing("atom", items=moved, hashes=hashes, updated=NOW, **FEED)
    assert reuse.stats["misses"] == before + 1
    assert data == render_xml("atom", items=moved, updated=NOW, **FEED)
