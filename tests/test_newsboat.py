"""A real feed reader, newsboat, subscribes to the feeds we serve and sees every story
exactly once, with its title and link."""

from __future__ import annotations

import json

from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, atom, long_body, rss2
from tests.readers import Newsboat, serving


def test_newsboat_sees_every_story_once(feed_server, tmp_path):
    body = long_body("The summit")
    feed_server.resources["/a.xml"] = Resource(rss2([
        It("Summit opens in Brussels", "https://a.example/summit", "a1", body),
        It("Rain expected all week", "https://a.example/rain", "a2", long_body("The forecast")),
        It("Local team wins & celebrates <again>", "https://a.example/team", "a3", ""),
    ]))
    feed_server.resources["/b.xml"] = Resource(atom([
        It("Brussels summit begins", "https://b.example/summit-begins", "b1", body),  # same body: one story
        It("Markets rally", "https://b.example/markets", "b2", long_body("The rally")),
    ]), "application/atom+xml")
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml")})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    stories = json.loads(syndicator("--config", str(cfg), "stories", "--json", "--limit", "0").stdout)
    assert len(stories) == 4
    expected = {(s["title"], s["url"]) for s in stories}

    with serving(cfg) as base:
        for fmt in ("rss", "atom"):
            # One reader per format: newsboat keys its cache by guid, and our RSS and
            # Atom items rightly share their ids.
            url = f"{base}all.{fmt}"
            reader = Newsboat(tmp_path / f"newsboat-{fmt}", [url])
            reader.reload()
            items = reader.items(url)
            assert len(items) == len(stories), url
            assert {(i["title"], i["url"]) for i in items} == expected
            assert {i["guid"] for i in items} == {s["id"] for s in stories}
