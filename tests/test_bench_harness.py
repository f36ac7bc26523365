"""The benchmark harness itself (bench/scale_feeds.py): a deterministic generator, a conditional-GET server."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

import feedparser
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import scale_feeds  # noqa: E402


@pytest.fixture(autouse=True)
def small_data():
    before = (scale_feeds.DATA, scale_feeds.UCI_FILE, scale_feeds.ECB_FILE)
    scale_feeds.use_data(Path(__file__).parent / "fixtures" / "bench", "uci_news_head40.csv",
                         "ecbplus_documents3.jsonl")
    yield
    scale_feeds.use_data(*before)


def test_generator_is_deterministic_sized_and_mixes_formats():
    first = scale_feeds.render(1, 8, 10, 2, 1)
    assert first == scale_feeds.render(1, 8, 10, 2, 1)
    assert first != scale_feeds.render(2, 8, 10, 2, 1)  # the seed matters
    rss = feedparser.parse(first)
    assert rss.version == "rss20" and len(rss.entries) == 10
    assert 1500 < len(first) / 10 < 3500  # about 2 KB an item
    atom = feedparser.parse(scale_feeds.render(1, 8, 10, 3, 1))
    assert atom.version == "atom10" and len(atom.entries) == 10
    gen2 = feedparser.parse(scale_feeds.render(1, 8, 10, 2, 2))
    old = {e.id for e in rss.entries}
    new = [e for e in gen2.entries if e.id not in old]
    assert len(new) == 1 and len(gen2.entries) == 10  # 10% new, as many old ones dropped
    assert new[0].id == gen2.entries[0].id  # on top


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), b""


def test_server_answers_304_to_validators_and_counts_requests():
    farm = scale_feeds.Farm(4, 5)
    port = scale_feeds.free_port()
    servers = scale_feeds.serve(farm, port, hosts=2)
    try:
        url = scale_feeds.feed_url(1, 2, port)
        assert "127.0.0.2" in url  # sources are spread over the loopback addresses
        status, headers, body = _get(url)
        assert status == 200 and body == farm.docs[1][1].body
        assert _get(url, {"If-None-Match": headers["ETag"]})[0] == 304
        assert _get(url, {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
        assert _get(url, {"If-None-Match": '"other"'})[0] == 200
        state = farm.state()
        assert state["requests"] == 4 and state["fetched_sources"] == 1
        assert state["status"]["304"] == 2
        farm.gen = 2  # the second generation: the old validators no longer match
        assert _get(url, {"If-None-Match": headers["ETag"]})[0] == 200
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def test_corroboration_rules_keep_triangles_and_drop_lone_bridges():
    # bench/corroboration_offline.py: the weak pair (0, 1) sits in a triangle with 2; the weak pair (3, 4)
    # bridges two strong pairs alone; (5, 6) and (5, 7) are two weak pairs between the same strong components.
    import corroboration_offline as co

    strong = {(0, 2), (2, 3), (4, 8), (6, 7)}
    weak = {(0, 1), (1, 2), (3, 4), (5, 6), (5, 7)}
    assert set(co.corroborated(9, strong, weak, "single")) == weak
    assert set(co.corroborated(9, strong, weak, "tri")) == {(0, 1), (1, 2), (5, 6), (5, 7)}
    assert set(co.corroborated(9, strong, weak, "tri2")) == set()
    assert set(co.corroborated(9, strong, weak, "tri-s")) == {(0, 1), (1, 2), (5, 6), (5, 7)}
    # (0, 1) and (1, 2) are two weak pairs between 1 and the strong component {0, 2, 3} as well
    assert set(co.corroborated(9, strong, weak, "comp2")) == {(0, 1), (1, 2), (5, 6), (5, 7)}
    assert set(co.corroborated(9, strong, weak, "comp3")) == set()
    assert co.components(9, sorted(strong) + co.corroborated(9, strong, weak, "tri"))[1] == 0
