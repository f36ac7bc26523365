"""Order does not matter: the same articles ingested in any order, in any batches, give the
same partition of articles into stories (stories are connected components of the match graph)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicator.model import Entry
from syndicator.sanitize import html_to_text
from syndicator.store import Store
from syndicator.store.schema import ArticleRow, SourceRow
from tests.conftest import store_url
from tests.feedmaker import long_body

T0 = datetime(2025, 4, 11, 9, 0, tzinfo=UTC)
SOURCES = ("a", "b", "c")


def _pool() -> list[tuple[str, Entry]]:
    """Articles with every kind of relation: body variants (whole and cut short), URL
    duplicates, a chain that joins two groups through a bridge, and unrelated stories."""
    treaty = html_to_text(long_body("The treaty"))
    storm = html_to_text(long_body("The storm"))
    out: list[tuple[str, Entry]] = []

    def add(src, guid, title, text, url, minutes=0):
        out.append((src, Entry(guid=guid, url=url, title=title, text=text, summary=text,
                               published=T0 + timedelta(minutes=minutes))))

    add("a", "t1", "Leaders sign the treaty", treaty, "https://a.example/news/treaty-signed")
    add("b", "t2", "Treaty signed after long talks", treaty, "https://b.example/world/treaty", 20)
    add("c", "t3", "A treaty at last", " ".join(treaty.split()[:30]) + " …", "https://c.example/t/3", 45)
    add("b", "t4", "Treaty: the details", "", "http://www.a.example/news/treaty-signed/", 60)  # same URL as t1
    add("a", "s1", "Storm hits the coast", storm, "https://a.example/news/storm-hits")
    add("c", "s2", "Coastal storm leaves damage", storm, "https://c.example/s/2", 30)
    for k in range(6):
        text = html_to_text(long_body(f"Unrelated item {k}"))
        add(SOURCES[k % 3], f"u{k}", f"Unrelated headline number {k}", text, f"https://{k}.example/story/u{k}", k)
    return out


POOL = _pool()


def _partition(order: list[int], cuts: list[int]) -> frozenset[frozenset[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(store_url(Path(tmp), "s.db"))
        store.sync_sources([(s, f"https://{s}.example/") for s in SOURCES])
        batches: list[list[int]] = []
        start = 0
        for cut in [*sorted(set(cuts)), len(order)]:
            if cut > start:
                batches.append(order[start:cut])
                start = cut
        for batch in batches:
            by_source: dict[str, list[Entry]] = {}
            for i in batch:
                src, entry = POOL[i]
                by_source.setdefault(src, []).append(entry)
            for src, entries in by_source.items():
                store.ingest(src, entries, T0 + timedelta(hours=2), 72 * 3600)
        with store.session() as s:
            rows = s.execute(
                ArticleRow.__table__.select()
                .with_only_columns(ArticleRow.story_id, ArticleRow.guid)
            ).all()
            assert s.query(SourceRow).count() == 3
        store.close()
    groups: dict[str, set[str]] = {}
    for story, guid in rows:
        groups.setdefault(story, set()).add(guid)
    return frozenset(frozenset(g) for g in groups.values())


REFERENCE = None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    order=st.permutations(list(range(len(POOL)))),
    cuts=st.lists(st.integers(min_value=1, max_value=len(POOL) - 1), max_size=4),
)
def test_grouping_does_not_depend_on_order_or_batches(order, cuts):
    global REFERENCE
    if REFERENCE is None:
        REFERENCE = _partition(list(range(len(POOL))), [])
        # The pool's intended grouping, so that the property is not vacuously true.
        assert frozenset({"t1", "t2", "t3", "t4"}) in REFERENCE
        assert frozenset({"s1", "s2"}) in REFERENCE
        assert len(REFERENCE) == 2 + 6
    assert _partition(order, cuts) == REFERENCE
