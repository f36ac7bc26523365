"""Merges are reversible: ``unmerge`` splits an article out for good, ``merge`` joins by hand."""

from __future__ import annotations

import json

from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, long_body, rss2


def _stories(cfg):
    return json.loads(syndicator("--config", str(cfg), "stories", "--json", "--limit", "0").stdout)


def test_unmerge_stays_out_and_merge_by_hand(feed_server, tmp_path):
    body = long_body("The verdict")
    a = It("Court gives its verdict", "https://a.example/news/verdict", "a1", body)
    b = It("Verdict delivered in landmark case", "https://b.example/news/verdict-case", "b1", body)
    c = It("Judges rule in landmark case", "https://c.example/news/ruling", "c1", body)
    feed_server.resources["/a.xml"] = Resource(rss2([a]))
    feed_server.resources["/b.xml"] = Resource(rss2([b]))
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml"),
                                  "c": feed_server.url("/c.xml")})
    feed_server.resources["/c.xml"] = Resource(rss2([]))
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    (story,) = _stories(cfg)
    assert len(story["articles"]) == 2
    chosen = next(x for x in story["articles"] if x["guid"] == "a1")
    other = next(x for x in story["articles"] if x["guid"] == "b1")

    # Split the story's chosen article out: the story keeps its id, the other article leads it.
    out = syndicator("--config", str(cfg), "unmerge", chosen["id"])
    assert out.returncode == 0, out.stderr
    stories = _stories(cfg)
    assert len(stories) == 2
    kept = next(s for s in stories if s["id"] == story["id"])
    assert [x["id"] for x in kept["articles"]] == [other["id"]] and kept["url"] == b.link

    # A later article matching both stories cannot join them again.
    feed_server.resources["/c.xml"] = Resource(rss2([c]))
    feed_server.resources["/a.xml"] = Resource(rss2([a]) + b" ")  # fetched anew: still no change
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    stories = _stories(cfg)
    assert len(stories) == 2
    assert sorted(len(s["articles"]) for s in stories) == [1, 2]

    # Unmerging an article that is alone is refused; merging by hand joins them.
    alone = next(s for s in stories if len(s["articles"]) == 1)
    refused = syndicator("--config", str(cfg), "unmerge", alone["articles"][0]["id"])
    assert refused.returncode == 2 and "already a story of its own" in refused.stderr
    out = syndicator("--config", str(cfg), "merge", alone["articles"][0]["id"], story["id"])
    assert out.returncode == 0, out.stderr
    (merged,) = _stories(cfg)
    assert merged["id"] == story["id"] and len(merged["articles"]) == 3
    explain = json.loads(syndicator("--config", str(cfg), "stories", "--explain", alone["id"]).stdout)
    assert explain["id"] == story["id"] and alone["id"] in explain["aliases"]
    assert {a["merge"]["rule"] for a in explain["articles"]} >= {"manual"}
    bad = syndicator("--config", str(cfg), "merge", "urn:uuid:nope", story["id"])
    assert bad.returncode == 2 and "no article" in bad.stderr
