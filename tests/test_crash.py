"""``kill -9`` of a real ``syndicator refresh`` at 30 moments (seeded): in the middle of a store
transaction (written, not committed), between writing a feed's new file and renaming it over the old
one, and at random times. After each: the store passes SQLite's integrity and foreign-key checks,
every published file is whole and valid, and the next refresh completes and stores everything."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from lxml import etree, html

from tests.conftest import ON_POSTGRES, db_rows, syndicator, write_config
from tests.feedmaker import It, long_body, rss2
from tests.test_pipeline import validate_atom, validate_json_feed

SOURCES = 5
KILLS = 30
T0 = datetime(2025, 4, 11, 9, 0, tzinfo=UTC)


def _write_sources(folder: Path, generation: int) -> int:
    """Each generation, every source publishes two reports of its own and its copy of a wire story; its
    file keeps the last two generations. Returns how many items all generations so far hold."""
    for s in range(SOURCES):
        items = []
        for g in range(max(0, generation - 1), generation + 1):
            when = T0 + timedelta(hours=6 * g)  # spread out, so the merge window holds a few generations
            items += [
                It(f"Source {s} report {g}.{k}", f"https://s{s}.example/{g}/{k}", f"s{s}-{g}-{k}",
                   body=long_body(f"source {s} item {g} {k}"), published=when + timedelta(minutes=k + s))
                for k in range(2)
            ]
            items.append(
                It(f"Wire story {g} as told by {s}", f"https://s{s}.example/wire/{g}", f"s{s}-wire-{g}",
                   body=long_body(f"wire {g}"), published=when + timedelta(minutes=s))
            )
        (folder / f"s{s}.xml").write_bytes(rss2(items, title=f"Source {s}"))
    return SOURCES * 3 * (generation + 1)


def _check_store(cfg: Path) -> None:
    if not ON_POSTGRES:  # SQLite's own checks of its file; PostgreSQL enforces foreign keys as it writes
        assert db_rows(cfg, "PRAGMA integrity_check") == [("ok",)]
        assert db_rows(cfg, "PRAGMA foreign_key_check") == []
    # Every article belongs to a story that exists (no half-made merge).
    orphans = db_rows(
        cfg, "SELECT count(*) FROM articles a LEFT JOIN stories s ON s.id = a.story_id WHERE s.id IS NULL"
    )
    assert orphans == [(0,)]


def _check_published(public: Path) -> None:
    names = sorted(p.name for p in public.iterdir() if not p.name.startswith("."))
    assert names == ["all.atom", "all.json", "all.rss", "feeds.opml", "index.html"], names
    rss = (public / "all.rss").read_bytes()
    etree.fromstring(rss)
    parsed = feedparser.parse(rss)
    assert not parsed.bozo and parsed.entries
    validate_atom((public / "all.atom").read_bytes())
    validate_json_feed((public / "all.json").read_bytes())
    etree.fromstring((public / "feeds.opml").read_bytes())
    page = (public / "index.html").read_text(encoding="utf-8")
    assert page.rstrip().endswith("</html>")
    html.fromstring(page)


def _count(cfg: Path, table: str) -> int:
    return db_rows(cfg, f"SELECT count(*) FROM {table}")[0][0]


def _kill_at_point(cfg: Path, point: str, nth: int) -> str:
    """Start a refresh that pauses at ``point``; kill -9 it while paused at the nth time (or its last)."""
    env = {**os.environ, "SYNDICATOR_TEST_PAUSE_AT": point, "SYNDICATOR_TEST_PAUSE_SECONDS": "0.1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicator", "--config", str(cfg), "refresh"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    buffer = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break  # the refresh ended before the nth pause
                buffer += chunk
                hits = buffer.count(f"syndicator-test-pause {point}\n".encode())
                if hits >= nth:
                    proc.send_signal(signal.SIGKILL)
                    return f"{point} #{nth}"
            elif proc.poll() is not None:
                break
        proc.send_signal(signal.SIGKILL)
        return f"{point} (ended after {buffer.count(b'syndicator-test-pause')} pauses)"
    finally:
        proc.wait()
        proc.stderr.close()


def _kill_after(cfg: Path, seconds: float) -> str:
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicator", "--config", str(cfg), "refresh"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=seconds)
        return f"after {seconds:.2f}s (had ended)"
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return f"after {seconds:.2f}s"


@pytest.mark.slow
def test_kill_9_at_any_moment_leaves_a_consistent_store_and_whole_feeds(tmp_path: Path):
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    # The feed holds every story: with the default limit, retention ([storage] keep_days) would prune the
    # oldest (dated 2025) and the count of stored articles would no longer say whether a kill lost any.
    cfg = write_config(
        tmp_path, {f"s{s}": str(feeds / f"s{s}.xml") for s in range(SOURCES)}, extra="[merge]\nsemantic = false\n",
        feeds='[[feeds]]\nname = "all"\ntitle = "All stories"\nsources = ["*"]\nlimit = 1000\n',
    )
    public = tmp_path / "public"
    _write_sources(feeds, 0)
    started = time.monotonic()
    first = syndicator("--config", str(cfg), "refresh")
    duration = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    _check_published(public)

    rng = random.Random(20261125)
    moments = []
    for k in range(KILLS):
        total = _write_sources(feeds, k + 1)  # new items: always something to commit and publish
        mode = k % 3
        if mode == 0:
            moments.append(_kill_at_point(cfg, "ingest-commit", rng.randint(1, SOURCES)))
        elif mode == 1:
            moments.append(_kill_at_point(cfg, "publish-rename", rng.randint(1, 5)))
        else:
            moments.append(_kill_after(cfg, rng.uniform(0.05, duration * 1.2)))
        where = f"kill {k + 1} {moments[-1]}"
        _check_store(cfg)
        _check_published(public)  # the previous files, or the new ones: whole either way

        again = syndicator("--config", str(cfg), "refresh")
        assert again.returncode == 0, (where, again.stderr)
        assert "Traceback" not in again.stderr, (where, again.stderr)
        _check_store(cfg)
        _check_published(public)
        assert _count(cfg, "articles") == total, where  # nothing lost, nothing twice

    assert sum("#" in m for m in moments) >= 15, moments  # the paused kills landed where they were meant to
    stories = json.loads(syndicator("--config", str(cfg), "stories", "--json", "--limit", "0").stdout)
    assert len({s["id"] for s in stories}) == len(stories)
    wires = [s for s in stories if s["title"].startswith("Wire story")]
    # Each generation's wire story is one story with a copy from every source, however the kills fell.
    assert len(wires) == KILLS + 1 and all(len(s["articles"]) == SOURCES for s in wires), [
        (s["title"], len(s["articles"])) for s in wires
    ]
