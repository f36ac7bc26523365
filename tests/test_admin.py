"""Administering from the command line: check, pausing/resuming/resetting sources, the store's schema
upgrades with backups, consistent backups while the daemon runs, and secrets never printed."""

from __future__ import annotations

import sqlite3
import time

import feedparser
import httpx
from alembic import command
from alembic.config import Config as AlembicConfig

from syndicator.store import Store
from syndicator.store.db import MIGRATIONS, SCHEMA_HEAD
from tests.conftest import Resource, sqlite_only, start_daemon, syndicator, write_config
from tests.feedmaker import It, rss2

SECRET = "s3cr3t-t0ken-value"


def _line(listing: str, name: str) -> str:
    return next(line for line in listing.splitlines() if line.startswith(name))


@sqlite_only  # the test rewrites or copies the SQLite store the configuration names
def test_check_prints_what_it_would_do_and_hides_secrets(tmp_path):
    cfg = write_config(tmp_path, {"wire": "https://wire.example/feed.xml", "local": "feeds/local.xml"},
                       extra='[merge]\nheadline = "latest"\n[fetch]\nuser_agent = "Bot ${TOKEN}"\n')
    cfg.write_text(cfg.read_text().replace(
        'url = "https://wire.example/feed.xml"',
        'url = "https://wire.example/feed.xml?key=${TOKEN}"\nheaders = { X-Api-Key = "${TOKEN}" }\n'
        'username = "me"\npassword = "${TOKEN}"',
    ))
    out = syndicator("--config", str(cfg), "check", env={"TOKEN": SECRET})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert SECRET not in text + out.stderr
    assert "wire: https://wire.example/feed.xml?key=***" in text and "headers: X-Api-Key" in text
    assert "basic auth" in text
    assert "local: file://" in text
    assert "all: 'All stories', newest 100 of every source -> all.rss, all.atom, all.json" in text
    assert "[merge] headline = 'latest'" in text and "[fetch] user_agent = 'Bot ***'" in text
    assert "[merge] window" not in text  # defaults are not listed
    assert "store " in text and "not created yet" in text
    assert not (tmp_path / "store.db").exists()  # check never creates the store

    # A missing variable, a broken file, an unknown schema: exit 2 with the reason.
    missing = syndicator("--config", str(cfg), "check", env={})
    assert missing.returncode == 2 and "environment variable TOKEN is not set" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[fetch]\ntimeout = "${TOKEN}"\n')
    broken = syndicator("--config", str(bad), "check", env={"TOKEN": SECRET})
    assert broken.returncode == 2 and "[fetch].timeout" in broken.stderr and SECRET not in broken.stderr
    Store(f"sqlite:///{tmp_path / 'store.db'}").close()
    with sqlite3.connect(tmp_path / "store.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    future = syndicator("--config", str(cfg), "check", env={"TOKEN": SECRET})
    assert future.returncode == 2 and "9999 is unknown to this version" in future.stderr


def test_pause_resume_and_reset(feed_server, tmp_path):
    feed_server.resources["/a.xml"] = Resource(rss2([It("Story from a", "https://a.example/1", "a1")]))
    feed_server.resources["/b.xml"] = Resource(rss2([It("Story from b", "https://b.example/1", "b1")]))
    # Two host names for the one server: a 503 on a's host must not defer b (host backoff).
    b_url = f"http://localhost:{feed_server.port}/b.xml"
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml"), "b": b_url})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    out = syndicator("--config", str(cfg), "sources", "pause", "a")
    assert out.returncode == 0 and "paused" in out.stdout
    assert "paused" in _line(syndicator("--config", str(cfg), "sources", "list").stdout, "a ")
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert len(feed_server.requests_for("/a.xml")) == 1 and len(feed_server.requests_for("/b.xml")) == 2
    titles = {e.title for e in feedparser.parse((tmp_path / "public" / "all.atom").read_bytes()).entries}
    assert titles == {"Story from a", "Story from b"}  # a paused source's stories stay in the feeds
    assert syndicator("--config", str(cfg), "sources", "resume", "a").returncode == 0
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert len(feed_server.requests_for("/a.xml")) == 2
    assert syndicator("--config", str(cfg), "sources", "pause", "nope").returncode == 2

    # A source that failed (backoff) and one the publisher said is gone (disabled): reset forgets both.
    feed_server.resources["/a.xml"] = Resource(b"down", status=503, headers={"Retry-After": "7200"})
    feed_server.resources["/b.xml"] = Resource(b"gone", status=410)
    assert syndicator("--config", str(cfg), "refresh").returncode == 1
    listing = syndicator("--config", str(cfg), "sources", "list").stdout
    assert "disabled" in _line(listing, "b ") and "     1" in _line(listing, "a ")
    feed_server.resources["/a.xml"] = Resource(rss2([It("Story from a", "https://a.example/1", "a1")]))
    feed_server.resources["/b.xml"] = Resource(rss2([It("Story from b", "https://b.example/1", "b1")]))
    before = len(feed_server.requests_for("/a.xml"))
    assert syndicator("--config", str(cfg), "refresh").returncode == 0  # a: Retry-After honoured; b: disabled
    assert len(feed_server.requests_for("/a.xml")) == before
    for name in ("a", "b"):
        assert syndicator("--config", str(cfg), "sources", "reset", name).returncode == 0
    listing = syndicator("--config", str(cfg), "sources", "list").stdout
    for name in ("a ", "b "):
        assert "disabled" not in _line(listing, name) and "     0" in _line(listing, name)
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert len(feed_server.requests_for("/a.xml")) == before + 1


def _previous() -> str:
    """The revision before this version's newest (the lead re-chains migrations when branches merge)."""
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_revision(SCHEMA_HEAD).down_revision


def _downgrade(db_path, revision: str) -> None:
    store = Store(f"sqlite:///{db_path}")
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    store.close()


@sqlite_only  # the test rewrites or copies the SQLite store the configuration names
def test_store_upgrades_itself_with_a_backup_and_by_hand(feed_server, tmp_path):
    feed_server.resources["/a.xml"] = Resource(rss2([It("Kept story", "https://a.example/1", "a1")]))
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml")})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    db = tmp_path / "store.db"
    prev = _previous()
    _downgrade(db, prev)
    assert syndicator("--config", str(cfg), "db", "current").stdout.startswith(f"{prev} (this version's is")
    out = syndicator("--config", str(cfg), "stories", "--json")  # any command: upgrades on start
    assert out.returncode == 0 and "Kept story" in out.stdout
    assert "previous file is kept as" in out.stderr
    backup = tmp_path / f"store.db.bak-{prev}"
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (prev,)
        assert conn.execute("SELECT count(*) FROM stories").fetchone() == (1,)
    assert syndicator("--config", str(cfg), "db", "current").stdout.startswith(f"{SCHEMA_HEAD} (up to date)")
    # By hand, with the backup turned off.
    _downgrade(db, prev)
    cfg.write_text(cfg.read_text().replace('url = "sqlite:///store.db"', 'url = "sqlite:///store.db"\n'
                                           "backup_on_upgrade = false"))
    out = syndicator("--config", str(cfg), "db", "upgrade")
    assert out.returncode == 0 and f"{prev} -> {SCHEMA_HEAD}" in out.stdout and "backup" not in out.stdout
    again = syndicator("--config", str(cfg), "db", "upgrade")
    assert "already up to date" in again.stdout


@sqlite_only  # the test rewrites or copies the SQLite store the configuration names
def test_backup_while_the_daemon_runs(feed_server, tmp_path):
    items = [It(f"Story number {n} about topic {n}", f"https://a.example/{n}", f"a{n}") for n in range(30)]
    feed_server.resources["/a.xml"] = Resource(rss2(items))
    cfg = write_config(tmp_path, {"a": feed_server.url("/a.xml")}, extra='[scheduler]\ntick = "1s"\n')
    url = feed_server.url("/a.xml")
    cfg.write_text(cfg.read_text().replace(f'url = "{url}"', f'url = "{url}"\ninterval = "1s"'))
    proc, port = start_daemon(cfg)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = httpx.get(f"http://127.0.0.1:{port}/all.json")
            if r.status_code == 200 and len(r.json()["items"]) == 30:
                break
            time.sleep(0.2)
        copies = []
        for n in range(3):  # while the daemon keeps fetching and writing every second
            target = tmp_path / f"copy{n}.db"
            out = syndicator("--config", str(cfg), "db", "backup", str(target))
            assert out.returncode == 0, out.stderr
            copies.append(target)
        assert syndicator("--config", str(cfg), "db", "backup", str(copies[0])).returncode == 2  # never overwrites
    finally:
        proc.terminate()
        proc.wait(20)
    for copy in copies:
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("SELECT count(*) FROM stories").fetchone() == (30,)
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_HEAD,)


@sqlite_only  # the test rewrites or copies the SQLite store the configuration names
def test_postgresql_backup_gives_pg_dump_advice_without_the_password(tmp_path):
    cfg = write_config(tmp_path, {})
    cfg.write_text(cfg.read_text().replace('"sqlite:///store.db"', '"postgresql://feeds:${PGPASS}@127.0.0.1/news"'))
    out = syndicator("--config", str(cfg), "db", "backup", str(tmp_path / "x.dump"), env={"PGPASS": SECRET})
    assert out.returncode == 2
    assert "pg_dump --format=custom" in out.stderr and "postgresql://feeds:***@127.0.0.1/news" in out.stderr
    assert SECRET not in out.stderr + out.stdout
