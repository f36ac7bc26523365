"""SIGHUP makes the running daemon read its configuration again: sources added and removed, feeds
changed, no restart; a broken file is refused with the reason logged and the old configuration kept."""

from __future__ import annotations

import signal
import time

import feedparser
import httpx

from tests.conftest import Resource, start_daemon, wait_until, write_config
from tests.feedmaker import It, rss2


def test_sighup_reloads_the_configuration_and_refuses_a_broken_one(feed_server, tmp_path):
    feed_server.resources["/a.xml"] = Resource(rss2([It("Story from a", "https://a.example/1", "a1")]))
    feed_server.resources["/b.xml"] = Resource(rss2([It("Story from b", "https://b.example/1", "b1")]))
    a, b = feed_server.url("/a.xml"), feed_server.url("/b.xml")
    cfg = write_config(tmp_path, {"a": a}, extra='[scheduler]\ntick = "1s"\n')
    proc, port = start_daemon(cfg)
    base = f"http://127.0.0.1:{port}"

    def titles(feed: str = "all") -> set[str]:
        r = httpx.get(f"{base}/{feed}.atom")
        return {e.title for e in feedparser.parse(r.content).entries} if r.status_code == 200 else set()

    try:
        wait_until(lambda: titles() == {"Story from a"})
        # Add source b and a feed of b alone.
        write_config(tmp_path, {"a": a, "b": b}, extra='[scheduler]\ntick = "1s"\n',
                     feeds='[[feeds]]\nname = "all"\nsources = ["*"]\n[[feeds]]\nname = "bee"\nsources = ["b"]\n')
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: titles() == {"Story from a", "Story from b"})
        wait_until(lambda: titles("bee") == {"Story from b"})
        # A broken file: refused, the running configuration (both sources, both feeds) stays.
        good = cfg.read_text()
        cfg.write_text(good + '[[sources]]\nname = "c"\nurl = "gopher://nope/"\n')
        proc.send_signal(signal.SIGHUP)
        time.sleep(2)
        assert proc.poll() is None
        assert titles() == {"Story from a", "Story from b"} and titles("bee") == {"Story from b"}
        # Remove source a: its story leaves the feeds.
        write_config(tmp_path, {"b": b}, extra='[scheduler]\ntick = "1s"\n')
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: titles() == {"Story from b"})
        assert len(feed_server.requests_for("/b.xml")) == 1  # no restart: b was fetched once, not again
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
    log = proc.log()
    assert "configuration reload refused, keeping the running one" in log
    assert "[[sources]][2].url" in log and "gopher://nope/" in log
    assert "configuration reloaded: 2 source(s) (added: b; removed: none), 2 feed(s)" in log
    assert "configuration reloaded: 1 source(s) (added: none; removed: a)" in log
