"""Logging: one line per event with its source and story, JSON lines on request, levels from the file and
the command line, and never a secret from the environment."""

from __future__ import annotations

import json

from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, long_body, rss2

SECRET = "tok-9f8e7d6c5b4a"


def _setup(feed_server, tmp_path, log: str):
    body = long_body("harbour bridge")
    feed_server.resources["/a.xml"] = Resource(rss2([It("Bridge reopens", "https://news.example/bridge", "a1", body)]))
    feed_server.resources["/b.xml"] = Resource(
        rss2([It("Harbour bridge reopens after repairs", "https://news.example/bridge?utm_source=rss", "b1", body)])
    )
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml"),
                                  "broken": feed_server.url("/missing.xml") + "?key=${TOKEN}"}, extra=log)
    return cfg


def test_json_lines_name_source_and_story_for_every_event(feed_server, tmp_path):
    cfg = _setup(feed_server, tmp_path, '[log]\nlevel = "info"\nformat = "json"\n')
    out = syndicator("--config", str(cfg), "refresh", env={"TOKEN": SECRET})
    assert out.returncode == 1
    lines = [line for line in out.stderr.splitlines() if line.startswith("{")]
    events = [json.loads(line) for line in lines]  # every logged line is one JSON object
    assert len(events) >= 5, [e["message"] for e in events]
    by_event: dict[str, list[dict]] = {}
    for e in events:
        assert {"time", "level", "logger", "message"} <= set(e)
        by_event.setdefault(e.get("event", ""), []).append(e)
    assert {e["source"] for e in by_event["fetch"]} == {"a", "b"}
    assert all(e["outcome"] == "ok" and e["status"] == 200 for e in by_event["fetch"])
    story = by_event["story"][0]
    merge = by_event["merge"][0]
    assert story["story"] == merge["story"] and {story["source"], merge["source"]} == {"a", "b"}
    assert merge["rule"] and merge["article"]
    assert [e["feed"] for e in by_event["publish"]] == ["all"]
    error = by_event["error"][0]
    assert error["source"] == "broken" and error["status"] == 404 and error["level"] == "warning"
    assert SECRET not in out.stderr + out.stdout
    assert "key=***" in error["url"]
    # The merge is in the store too: one story of two articles.
    stories = json.loads(syndicator("--config", str(cfg), "stories", "--json", env={"TOKEN": SECRET}).stdout)
    assert len(stories) == 1 and stories[0]["id"] == story["story"]


def test_levels_and_text_lines(feed_server, tmp_path):
    cfg = _setup(feed_server, tmp_path, '[log]\nlevel = "error"\n')
    quiet = syndicator("--config", str(cfg), "refresh", env={"TOKEN": SECRET})
    assert "INFO" not in quiet.stderr and "WARNING" not in quiet.stderr  # [log] level = "error"
    verbose = syndicator("--config", str(cfg), "--verbose", "refresh", env={"TOKEN": SECRET})
    info = [line for line in verbose.stderr.splitlines() if " INFO " in line]
    assert any("[event=fetch source=a outcome=not_modified status=304" in line for line in info)
    assert any("event=publish feed=all" in line for line in info) or "rewritten" not in verbose.stderr
    warn = [line for line in verbose.stderr.splitlines() if " WARNING " in line and "source broken failed" in line]
    assert len(warn) == 1 and "event=error source=broken" in warn[0] and SECRET not in verbose.stderr
    cfg.write_text(cfg.read_text().replace('level = "error"', 'level = "info"'))
    q = syndicator("--config", str(cfg), "--quiet", "refresh", env={"TOKEN": SECRET})
    assert " INFO " not in q.stderr and " WARNING " not in q.stderr  # --quiet wins over the file
    assert "source broken failed" in q.stderr  # the command's own report still says what failed


def test_a_traceback_never_shows_a_secret(capsys, monkeypatch):
    import logging

    from syndicator import logs

    logs.setup(logging.INFO, "text", [SECRET])
    try:
        raise RuntimeError(f"connect failed for https://x.example/?key={SECRET}")
    except RuntimeError:
        logging.getLogger("syndicator.test").exception("boom %s", SECRET)
    err = capsys.readouterr().err
    assert "boom ***" in err and "key=***" in err and SECRET not in err
    logs.setup(logging.WARNING)
