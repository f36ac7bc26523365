"""The daemon and manual refreshes against one store at the same time: no "database is locked", no
source fetched twice at once (the local server logs when each request starts and ends), no story
created twice; and stories already stored are never lost when a source fails, empties or shrinks."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from tests.conftest import Resource, db_rows, start_daemon, syndicator, write_config
from tests.feedmaker import It, atom, long_body, rss2

SOURCES = 5
T0 = datetime(2025, 4, 11, 9, 0, tzinfo=UTC)


GENERATIONS = 8  # the publishers stop adding items after this many (the test's work stays bounded)


def _feed(s: int, generation: int) -> bytes:
    """A report of the desk's own and its copy of a wire story, for every generation so far."""
    kept = range(generation + 1)
    items = [
        It(f"Desk {s} report {g}", f"https://d{s}.example/{g}", f"d{s}-{g}",
           body=long_body(f"desk {s} report {g}"), published=T0 + timedelta(hours=g, minutes=s))
        for g in kept
    ]
    # The same wire story on every desk: one story, however the processes interleave.
    items += [
        It(f"Wire {g}: copy of desk {s}", f"https://d{s}.example/wire/{g}", f"d{s}-wire-{g}",
           body=long_body(f"wire story {g}"), published=T0 + timedelta(hours=g))
        for g in kept
    ]
    return rss2(items, title=f"Desk {s}")


@pytest.mark.slow
def test_daemon_and_manual_refreshes_share_one_store(feed_server, tmp_path: Path):
    for s in range(SOURCES):
        feed_server.resources[f"/d{s}.xml"] = Resource(_feed(s, 0), delay=0.4)
    cfg = write_config(
        tmp_path, {f"d{s}": feed_server.url(f"/d{s}.xml") for s in range(SOURCES)},
        extra='[scheduler]\ntick = "1s"\n[fetch]\nmin_interval = "1s"\n[merge]\nsemantic = false\n',
    )
    text = cfg.read_text()
    for s in range(SOURCES):
        url = feed_server.url(f"/d{s}.xml")
        text = text.replace(f'url = "{url}"', f'url = "{url}"\ninterval = "1s"')
    cfg.write_text(text)
    # The store exists before both start, as it would on a machine where the daemon already runs.
    assert syndicator("--config", str(cfg), "sources", "list").returncode == 0

    stop = threading.Event()
    generations = [0]

    def publishers_write() -> None:
        while not stop.wait(0.7) and generations[0] < GENERATIONS:
            generations[0] += 1
            for s in range(SOURCES):
                feed_server.resources[f"/d{s}.xml"] = Resource(_feed(s, generations[0]), delay=0.4)

    writer = threading.Thread(target=publishers_write, daemon=True)
    daemon, _port = start_daemon(cfg)
    writer.start()
    manual: list[subprocess.CompletedProcess] = []
    try:
        for _round in range(4):
            # Two manual refreshes at once, beside the daemon's own.
            procs = [
                subprocess.Popen([sys.executable, "-m", "syndicator", "--config", str(cfg), "refresh"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)
            ]
            for p in procs:
                out, err = p.communicate(timeout=120)
                manual.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    finally:
        stop.set()
        writer.join()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        finally:
            daemon.kill()
        daemon_err = daemon.log()
    final = syndicator("--config", str(cfg), "refresh")  # everything the publishers wrote, once more
    assert final.returncode == 0, final.stderr

    for run in [*manual, final]:
        assert run.returncode == 0, run.stderr
        assert "locked" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert "locked" not in daemon_err and "Traceback" not in daemon_err, daemon_err
    assert "refreshed" in daemon_err  # the daemon did fetch while the manual refreshes ran

    # No source fetched twice at once: per path, each request starts after the previous one ended.
    for s in range(SOURCES):
        reqs = sorted(feed_server.requests_for(f"/d{s}.xml"), key=lambda r: r.started)
        # At least three fetches, so that two could have overlapped twice. Not more: how many of the 8 manual
        # refreshes find a source leased by another process depends on timing (a CI run saw 4 for one source).
        assert len(reqs) >= 3, len(reqs)
        for before, after in itertools.pairwise(reqs):
            assert after.started >= before.ended, (s, before, after)
    deferred = sum(run.stdout.count("being fetched by another process") for run in manual)

    stories = json.loads(syndicator("--config", str(cfg), "stories", "--json", "--limit", "0").stdout)
    ids = [s["id"] for s in stories]
    assert len(ids) == len(set(ids))
    articles = [a["id"] for s in stories for a in s["articles"]]
    assert len(articles) == len(set(articles))
    last = generations[0]
    desks = [s for s in stories if s["title"].startswith("Desk")]
    assert len(desks) == SOURCES * (last + 1), (len(desks), last)  # each report once
    wires = [s for s in stories if s["title"].startswith("Wire")]
    assert len(wires) == last + 1, sorted(s["title"] for s in wires)  # one story per wire item
    assert all(len(w["articles"]) == SOURCES for w in wires)
    print(f"{len(manual)} manual refreshes beside the daemon; {deferred} sources left to the other process")


def _stored_titles(cfg: Path) -> set[str]:
    return {t for (t,) in db_rows(cfg, "SELECT title FROM stories")}


def _titles(public: Path) -> set[str]:
    return {e.title for e in feedparser.parse((public / "all.atom").read_bytes()).entries}


def test_stored_stories_survive_errors_an_empty_feed_and_fewer_items(feed_server, tmp_path: Path):
    items = [
        It(f"Lasting story {k}", f"https://l.example/{k}", f"l-{k}", body=long_body(f"lasting {k}"),
           published=T0 + timedelta(hours=k))
        for k in range(5)
    ]
    feed_server.resources["/l.xml"] = Resource(rss2(items))
    feed_server.resources["/other.xml"] = Resource(atom([It("Another desk", "https://o.example/1", "o-1")]))
    cfg = write_config(tmp_path, {"lasting": feed_server.url("/l.xml"), "other": feed_server.url("/other.xml")})
    public = tmp_path / "public"
    want = {f"Lasting story {k}" for k in range(5)}

    first = syndicator("--config", str(cfg), "refresh")
    assert first.returncode == 0, first.stderr
    assert want <= _titles(public)

    faults = [
        ("HTTP 500", Resource(b"Internal Server Error", "text/plain", status=500), 1),
        ("an empty body", Resource(b"", "application/rss+xml"), 1),
        ("a feed with no items", Resource(rss2([])), 0),
        ("an HTML error page", Resource(b"<html><body>Down for maintenance</body></html>", "text/html"), 1),
        ("fewer items", Resource(rss2(items[3:])), 0),
        ("items with changed text", Resource(rss2([It(i.title, i.link, i.guid, body="") for i in items[:1]])), 0),
    ]
    for what, resource, status in faults:
        feed_server.resources["/l.xml"] = resource
        out = syndicator("--config", str(cfg), "refresh")
        assert out.returncode == status, (what, out.stdout, out.stderr)
        assert want <= _stored_titles(cfg), what
        assert want <= _titles(public), what  # still published
        assert "Another desk" in _titles(public), what
    stories = json.loads(syndicator("--config", str(cfg), "stories", "--json", "--limit", "0").stdout)
    assert want <= {s["title"] for s in stories}
