"""Publishing reads what it shows: the same output as the straightforward way, from less work.

Each shortcut is checked against the plain computation it replaces (no timing here: the speed is measured
by bench/merge_scale.py and recorded in docs/benchmarks.md):

- a feed's stories, found from the newest stories first, are those the sources' articles give;
- the index page's per-day counts, counted by the database, are those of every row read into Python;
- an item's hash, built by hand, is the ``dataclasses.asdict`` one every stored ``item_hash`` was made with;
- a publish whose inputs did not change renders nothing, and anything that changes them renders again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

import syndicator.publish as publish
from syndicator.config import config_from_dict
from syndicator.model import Entry
from syndicator.publish import filters, items, publish_all
from syndicator.publish.items import Item, Related, Variant, build_items, feed_story_ids
from syndicator.publish.stats import daily_activity
from syndicator.store import Store
from syndicator.store.schema import ArticleRow, FeedStateRow, SourceRow, StoryRow
from tests.feedmaker import long_body

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SOURCES = ("a", "b", "c")


def _config(tmp_path: Path, feeds: list[dict], title: str = "Stories"):
    raw = {
        "storage": {"url": f"sqlite:///{tmp_path / 'store.db'}"},
        "output": {"dir": str(tmp_path / "public"), "base_url": "http://127.0.0.1:8080/", "title": title},
        "sources": [{"name": n, "url": f"https://{n}.example/"} for n in SOURCES],
        "feeds": feeds,
    }
    return config_from_dict(raw, tmp_path / "syndicator.toml")


def _entries(source: str, n: int, newest: datetime, step: timedelta, topic: str = "") -> list[Entry]:
    return [
        Entry(guid=f"{source}{k}", url=f"https://{source}.example/{k}",
              title=f"{topic or source} headline number {k}", text=long_body(f"{topic or source}{k}"), summary="",
              published=newest - k * step)
        for k in range(n)
    ]


@pytest.fixture
def store(tmp_path):
    """Source a publishes often, b rarely and long ago, c copies two of a's bodies (merged: variants)
    and has three stories published at the same moment as one of a's."""
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.sync_sources([(n, f"https://{n}.example/") for n in SOURCES])
        store.ingest("a", _entries("a", 40, NOW, timedelta(hours=1)), NOW, 72 * 3600)
        store.ingest("b", _entries("b", 4, NOW - timedelta(days=3), timedelta(hours=7)), NOW, 72 * 3600)
        copies = [replace(e, guid=f"c{k}", url=f"https://c.example/{k}", title=f"Copy {k}")
                  for k, e in enumerate(_entries("a", 2, NOW, timedelta(hours=1)))]
        store.ingest("c", copies, NOW + timedelta(minutes=5), 72 * 3600)
        # Stories of their own published at the same moment as one of a's: their order is their ids'.
        ties = [replace(e, published=NOW - timedelta(hours=2)) for e in _entries("c", 3, NOW, timedelta(0), "tie")]
        store.ingest("c", ties, NOW + timedelta(minutes=6), 72 * 3600)
        yield store


def _reference_story_ids(s, names: tuple[str, ...], feed, now: datetime) -> list[str]:
    """Every story with an article from ``names``, newest first (then by id), passing the feed's filters."""
    with_source = set(s.scalars(
        select(ArticleRow.story_id).join(SourceRow, SourceRow.id == ArticleRow.source_id)
        .where(SourceRow.name.in_(names))
    ))
    stories = sorted((r for r in s.scalars(select(StoryRow)) if r.id in with_source),
                     key=lambda r: (-r.published.timestamp(), r.id))
    if filters.has_filters(feed):
        texts = items._story_texts(s, [r.id for r in stories])
        stories = [r for r in stories if filters.accepts(feed, texts[r.id], now)]
    return [r.id for r in stories][: feed.limit]


@pytest.mark.parametrize(("scan", "factor"), [(1, 1), (7, 1), (2000, 20)])
def test_feed_stories_are_the_same_however_they_are_found(store, tmp_path, monkeypatch, scan, factor):
    # The first two: the newest stories hold too few of some feeds' stories, so their sources' articles are
    # asked; the last: the store holds fewer stories than are looked at.
    monkeypatch.setattr(items, "RECENT_SCAN", scan)
    monkeypatch.setattr(items, "SCAN_FACTOR", factor)
    feeds = [
        {"name": "all", "sources": ["*"], "limit": 10},
        {"name": "rare", "sources": ["b"], "limit": 3},
        {"name": "copies", "sources": ["c"], "limit": 5},
        {"name": "more-than-there-are", "sources": ["b", "c"], "limit": 50},
        {"name": "filtered", "sources": ["*"], "limit": 4, "include": ["number (1|3)\\b"]},
        {"name": "filtered-rare", "sources": ["b"], "limit": 2, "exclude": ["number 0\\b"]},
    ]
    config = _config(tmp_path, feeds)
    with store.session() as s:
        for feed in config.feeds:
            names = SOURCES if "*" in feed.sources else feed.sources
            expected = _reference_story_ids(s, names, feed, NOW)
            assert expected, feed.name
            assert feed_story_ids(s, config, feed, NOW) == expected, feed.name


def test_daily_counts_are_those_of_every_row(store):
    # Fetch times on and around day boundaries; merge reasons of every kind the counts distinguish.
    midnight = datetime.combine(NOW.date(), time(), UTC)
    fetched = [midnight, midnight - timedelta(microseconds=1), midnight - timedelta(days=13),
               midnight - timedelta(days=14), NOW - timedelta(days=30)]
    rules = [{"rule": "new"}, {"rule": "unmerged"}, {}, {"rule": ""}, {"rule": "body", "with": "x"}]
    with store.session() as s:
        rows = list(s.scalars(select(ArticleRow).order_by(ArticleRow.id)))
        for n, row in enumerate(rows):
            row.fetched_at = fetched[n % len(fetched)]
            row.merge_reason = rules[(n // len(fetched)) % len(rules)]
        for n, story in enumerate(s.scalars(select(StoryRow).order_by(StoryRow.id))):
            story.created_at = fetched[(n + 2) % len(fetched)]
    with store.session() as s:
        activity = daily_activity(s)
        rows = list(s.execute(select(ArticleRow.fetched_at, ArticleRow.merge_reason)))
        created = list(s.scalars(select(StoryRow.created_at)))
    last = max(f for f, _ in rows).date()
    days = [last - timedelta(days=k) for k in range(13, -1, -1)]
    assert [d.day for d in activity.days] == days
    expected = [
        (sum(f.date() == day for f, _ in rows), sum(c.date() == day for c in created),
         sum(f.date() == day and r.get("rule") not in (None, "", "new", "unmerged") for f, r in rows))
        for day in days
    ]
    assert [(d.articles, d.stories, d.merges) for d in activity.days] == expected
    assert activity.merges > 0 and activity.articles > activity.merges  # the cases above are all there
    assert activity.days[-1].day == date(2026, 6, 1)


def _asdict_hash(item: Item) -> str:
    """How every stored item_hash was made before the hash was built by hand."""
    data = asdict(item)
    data.pop("updated")
    data["published"] = item.published.isoformat()
    blob = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def test_item_hash_is_the_one_stored_hashes_were_made_with(store):
    with store.session() as s:
        ids = list(s.scalars(select(StoryRow.id)))
        built = build_items(s, ids, "first", "article", 5)
    assert any(i.variants for i in built)
    odd = replace(
        built[0], title="Ünïcode “quotes” — and <tags>", categories=("x", "é"),
        enclosures=({"url": "https://a.example/a.mp3", "length": 12, "type": "audio/mpeg"},),
        variants=(Variant("Other", "", "b"),), related=(Related("urn:uuid:1", "Rel", "https://r.example/"),),
    )
    for item in [*built, odd]:
        assert item.content_hash() == _asdict_hash(item)


def _publish(store: Store, config, monkeypatch) -> tuple[list[str], list[str]]:
    """Publish once; the formats rendered (in call order) and the files written."""
    rendered: list[str] = []
    real_xml, real_json = publish.reuse.render_xml_reusing, publish.reuse.render_json_reusing

    def xml(kind, **kw):
        rendered.append(kind)
        return real_xml(kind, **kw)

    def jsonfeed(**kw):
        rendered.append("json")
        return real_json(**kw)

    monkeypatch.setattr(publish.reuse, "render_xml_reusing", xml)
    monkeypatch.setattr(publish.reuse, "render_json_reusing", jsonfeed)
    return rendered, publish_all(store, config, NOW).written


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_unchanged_feed_is_not_rendered_and_any_change_renders_it(store, tmp_path, monkeypatch):
    config = _config(tmp_path, [{"name": "all", "sources": ["*"], "limit": 20}])
    out = config.output_dir
    rendered, written = _publish(store, config, monkeypatch)
    assert rendered == ["rss", "atom", "json"] and {"all.rss", "all.atom", "all.json"} <= set(written)
    first = _files(out)

    rendered, written = _publish(store, config, monkeypatch)
    assert (rendered, written) == ([], [])
    assert _files(out) == first

    # A file gone: rendered again, the same bytes.
    (out / "all.atom").unlink()
    rendered, written = _publish(store, config, monkeypatch)
    assert rendered == ["rss", "atom", "json"] and written == ["all.atom"]
    assert _files(out) == first

    # The same inputs into an empty folder: the same files as the skipped publish kept.
    elsewhere = replace(config, output=replace(config.output, dir=str(tmp_path / "elsewhere")))
    _publish(store, elsewhere, monkeypatch)
    assert _files(elsewhere.output_dir) == first

    # A setting that shows in the feed.
    retitled = _config(tmp_path, [{"name": "all", "title": "Everything", "sources": ["*"], "limit": 20}])
    rendered, written = _publish(store, retitled, monkeypatch)
    assert rendered == ["rss", "atom", "json"] and "all.atom" in written
    assert b"Everything" in (out / "all.atom").read_bytes()

    # A new story.
    late = Entry(guid="late", url="https://b.example/late", title="late headline number 0", text=long_body("late"),
                 summary="", published=NOW + timedelta(hours=1))
    store.ingest("b", [late], NOW, 72 * 3600)
    rendered, written = _publish(store, retitled, monkeypatch)
    assert rendered == ["rss", "atom", "json"] and "all.atom" in written
    assert b"late headline number 0" in (out / "all.atom").read_bytes()

    # A story's content changed in place (its item, not the list of stories, differs).
    with store.session() as s:
        story = s.scalars(select(StoryRow).order_by(StoryRow.published.desc())).first()
        s.execute(update(ArticleRow).where(ArticleRow.id == story.chosen_article_id).values(title="Retitled story"))
    rendered, _ = _publish(store, retitled, monkeypatch)
    assert rendered == ["rss", "atom", "json"]
    assert b"Retitled story" in (out / "all.atom").read_bytes()

    # Another version's renderers, or a publish that died before recording what it wrote.
    monkeypatch.setattr(publish, "_CODE_DIGEST", ["another version"])
    assert _publish(store, retitled, monkeypatch)[0] == ["rss", "atom", "json"]
    assert _publish(store, retitled, monkeypatch)[0] == []
    with store.session() as s:
        s.execute(update(FeedStateRow).where(FeedStateRow.name == "all").values(rendered=""))
    assert _publish(store, retitled, monkeypatch)[0] == ["rss", "atom", "json"]
