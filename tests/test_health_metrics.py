"""``/healthz`` (200 "ok" only when the store answers and the last publish is recent, else 503 with
the reason) and ``/metrics`` (Prometheus text: this process's fetch and publish counts, the store's
gauges), in the served app and in the real daemon."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from syndicator.config import load_config
from syndicator.publish import LAST_PUBLISH
from syndicator.serve import configured_app, create_app, server_config
from syndicator.store import FeedStateRow, Store
from tests.conftest import Resource, free_port, sqlite_only, start_daemon, syndicator, wait_for_port, write_config
from tests.feedmaker import It, long_body, rss2


@contextlib.contextmanager
def serving(app):
    port = free_port()
    server = uvicorn.Server(server_config(app, port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def configured(cfg: Path):
    app, reader = configured_app(load_config(cfg))
    try:
        with serving(app) as c:
            yield c
    finally:
        reader.close()


def _set_last_publish(cfg: Path, when: datetime) -> None:
    with Store(load_config(cfg).database_url()) as store, store.session() as s:
        s.get(FeedStateRow, LAST_PUBLISH).updated = when


@pytest.fixture
def refreshed(feed_server, tmp_path):
    feed_server.resources["/a.xml"] = Resource(rss2([It("Alpha", "https://a.example/1", "a1", long_body("a"))]))
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml")})
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr
    return cfg


def test_healthz_ok_after_a_publish_and_503_once_it_is_stale(refreshed):
    with configured(refreshed) as c:
        r = c.get("/healthz")
        assert (r.status_code, r.text) == (200, "ok\n")
        assert r.headers["content-type"].startswith("text/plain") and r.headers["cache-control"] == "no-store"
        assert c.head("/healthz").status_code == 200

        _set_last_publish(refreshed, datetime.now(UTC) - timedelta(hours=3, minutes=5))
        r = c.get("/healthz")
        assert r.status_code == 503
        assert "last publish 3h05m ago" in r.text and "stale_after = 3h" in r.text
        assert c.head("/healthz").status_code == 503

        _set_last_publish(refreshed, datetime.now(UTC) - timedelta(hours=2))
        assert c.get("/healthz").status_code == 200


def test_a_publish_that_changes_nothing_still_counts(refreshed, feed_server):
    _set_last_publish(refreshed, datetime.now(UTC) - timedelta(days=1))
    public = refreshed.parent / "public"
    before = {p.name: p.stat().st_mtime_ns for p in public.iterdir()}
    out = syndicator("--config", str(refreshed), "refresh")
    assert out.returncode == 0 and "0 fetched, 1 unchanged" in out.stdout
    assert {p.name: p.stat().st_mtime_ns for p in public.iterdir()} == before  # no file rewritten
    with configured(refreshed) as c:
        assert c.get("/healthz").text == "ok\n"


def test_stale_after_is_configurable(feed_server, tmp_path):
    feed_server.resources["/a.xml"] = Resource(rss2([It("Alpha", "https://a.example/1", "a1", long_body("a"))]))
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml")}, extra='stale_after = "10m"\n')
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    _set_last_publish(cfg, datetime.now(UTC) - timedelta(minutes=11))
    with configured(cfg) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and "11m ago" in r.text and "stale_after = 10m" in r.text


def test_healthz_503_before_any_publish(tmp_path):
    cfg = write_config(tmp_path, {})
    Store(load_config(cfg).database_url()).close()  # the schema, no publish
    with configured(cfg) as c:
        r = c.get("/healthz")
        assert (r.status_code, r.text) == (503, "nothing published yet\n")


@sqlite_only
def test_healthz_503_when_the_store_does_not_answer(tmp_path):
    cfg = write_config(tmp_path, {})
    with configured(cfg) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and r.text.startswith("store does not answer: OperationalError")
        metrics = c.get("/metrics")
        assert metrics.status_code == 200 and "syndicator_store_up 0.0" in metrics.text
    assert not (tmp_path / "store.db").exists()  # a health check never creates an empty store

    (tmp_path / "store.db").write_bytes(b"not a database at all" * 100)
    with configured(cfg) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and "store does not answer" in r.text


@sqlite_only
def test_healthz_does_not_wait_for_a_writer(refreshed):
    """The daemon's refresh holds SQLite's write lock while it stores; health checks still answer."""
    db = sqlite3.connect(refreshed.parent / "store.db", isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        with configured(refreshed) as c:
            start = time.monotonic()
            assert c.get("/healthz").status_code == 200
            assert "syndicator_articles 1.0" in c.get("/metrics").text
            assert time.monotonic() - start < 5
    finally:
        db.execute("ROLLBACK")
        db.close()


def test_create_app_without_a_health_check(tmp_path):
    with serving(create_app(tmp_path, 60)) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and "not configured" in r.text
        r = c.get("/metrics")  # this process's counters only, no store gauges
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=")
        names = {f.name for f in text_string_to_metric_families(r.text)}
        assert {"syndicator_fetches", "syndicator_fetch_duration_seconds"} <= names
        assert "syndicator_articles" not in names
        assert "serve alone shows zeros" in r.text  # the help text says where they count


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_daemon_serves_health_and_metrics(feed_server, tmp_path):
    body = long_body("the shared story")
    feed_server.resources["/a.xml"] = Resource(rss2([
        It("Shared story", "https://news.example/story", "a1", body),
        It("Only in a", "https://a.example/2", "a2", long_body("something else entirely")),
    ]))
    # The same article under another headline and a tracking parameter: merged into a's story.
    feed_server.resources["/b.xml"] = Resource(
        rss2([It("Shared story, new headline", "https://news.example/story?utm_source=rss", "b1", body)])
    )
    feed_server.resources["/broken.xml"] = Resource(b"oops", "text/plain", status=500)
    cfg = write_config(
        tmp_path,
        {"a": feed_server.url("/a.xml"), "b": feed_server.url("/b.xml"), "broken": feed_server.url("/broken.xml")},
        extra='[scheduler]\ntick = "1s"\n[fetch]\nmin_interval = "1s"\n',
    )
    cfg.write_text(cfg.read_text().replace(f'url = "{feed_server.url("/a.xml")}"',
                                           f'url = "{feed_server.url("/a.xml")}"\ninterval = "2s"'))
    proc, port = start_daemon(cfg)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            samples = _samples(httpx.get(f"{base}/metrics").text)
            if samples.get(("syndicator_fetches_total", (("outcome", "not_modified"),)), 0) >= 1:
                break  # a's second fetch (due every 2s) came back 304
            assert time.monotonic() < deadline, samples
            time.sleep(0.5)
        r = httpx.get(f"{base}/healthz")
        assert (r.status_code, r.text) == (200, "ok\n")

        assert samples[("syndicator_fetches_total", (("outcome", "ok"),))] == 2  # a, b
        assert samples[("syndicator_fetches_total", (("outcome", "error"),))] >= 1  # broken
        fetches = sum(v for (name, _), v in samples.items() if name == "syndicator_fetches_total")
        assert samples[("syndicator_fetch_duration_seconds_count", ())] == fetches
        assert samples[("syndicator_publish_duration_seconds_count", ())] >= 1
        assert samples[("syndicator_store_up", ())] == 1
        assert samples[("syndicator_articles", ())] == 3
        assert samples[("syndicator_stories", ())] == 2
        assert samples[("syndicator_merged_articles", ())] == 1
        assert samples[("syndicator_sources_in_error", ())] == 1
        assert abs(samples[("syndicator_last_publish_timestamp_seconds", ())] - time.time()) < 60
        assert httpx.get(f"{base}/all.atom").status_code == 200  # the feeds are still served beside them
    finally:
        proc.terminate()
        try:
            assert proc.wait(timeout=20) == 0, proc.log()
        finally:
            proc.kill()
