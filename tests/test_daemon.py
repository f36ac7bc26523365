"""The daemon: scheduled refreshes driven by next-due times in the store, the feeds
served over HTTP, and a clean stop on SIGTERM or SIGINT within seconds."""

from __future__ import annotations

import signal
import time

import feedparser
import httpx
import pytest

from tests.conftest import Resource, start_daemon, syndicator, wait_until, write_config
from tests.feedmaker import It, rss2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_refreshes_due_sources_serves_and_stops_cleanly(feed_server, tmp_path, sig):
    items = [It("First story", "https://d.example/1", "1")]
    feed_server.resources["/d.xml"] = Resource(rss2(items))
    feed_server.resources["/slow.xml"] = Resource(rss2([It("Hourly", "https://s.example/1", "s1")]))
    cfg = write_config(
        tmp_path,
        {"often": feed_server.url("/d.xml"), "hourly": feed_server.url("/slow.xml")},
        extra='[scheduler]\ntick = "1s"\n[fetch]\nmin_interval = "1s"\n',
    )
    text = cfg.read_text().replace(
        f'url = "{feed_server.url("/d.xml")}"', f'url = "{feed_server.url("/d.xml")}"\ninterval = "2s"'
    )
    cfg.write_text(text)
    proc, port = start_daemon(cfg)
    try:
        url = f"http://127.0.0.1:{port}/all.atom"

        def titles():
            r = httpx.get(url)
            return {e.title for e in feedparser.parse(r.content).entries} if r.status_code == 200 else set()

        wait_until(lambda: titles() == {"First story", "Hourly"})
        # A new item appears at the source: the next due refresh picks it up and republishes.
        feed_server.resources["/d.xml"] = Resource(rss2([*items, It("Second story", "https://d.example/2", "2")]))
        wait_until(lambda: "Second story" in titles())
        assert len(feed_server.requests_for("/d.xml")) >= 2
        assert len(feed_server.requests_for("/slow.xml")) == 1  # not due again for an hour

        start = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0, proc.log()
        assert time.monotonic() - start < 15
    finally:
        proc.kill()
    listing = syndicator("--config", str(cfg), "sources", "list")
    hourly = next(line for line in listing.stdout.splitlines() if line.startswith("hourly"))
    assert "in 5" in hourly or "in 6" in hourly  # next due in about an hour (±10%)
