"""Real feed readers, run headless against the feeds we serve."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port, require_tool, wait_for_port


class Newsboat:
    """newsboat with its own urls, config and cache files (its cache is SQLite, table rss_item)."""

    def __init__(self, folder: Path, urls: list[str]) -> None:
        self.binary = require_tool("newsboat")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "urls").write_text("\n".join(urls) + "\n")
        (folder / "config").write_text("reload-threads 2\ndownload-timeout 10\n")
        self.cache = folder / "cache.db"

    def reload(self) -> None:
        env = {**os.environ, "HOME": str(self.folder), "XDG_CONFIG_HOME": str(self.folder),
               "XDG_DATA_HOME": str(self.folder)}
        out = subprocess.run(
            [self.binary, "-u", str(self.folder / "urls"), "-c", str(self.cache),
             "-C", str(self.folder / "config"), "-x", "reload", "-l", "4", "-d", str(self.folder / "log.txt")],
            capture_output=True, text=True, timeout=60, env=env,
        )
        assert out.returncode == 0, out.stdout + out.stderr

    def items(self, feed_url: str | None = None) -> list[dict]:
        with sqlite3.connect(self.cache) as db:
            db.row_factory = sqlite3.Row
            sql = "SELECT guid, title, url, feedurl, unread, deleted FROM rss_item"
            rows = db.execute(sql + (" WHERE feedurl = ?" if feed_url else ""), (feed_url,) if feed_url else ())
            return [dict(r) for r in rows]

    def mark_all_read(self) -> None:
        with sqlite3.connect(self.cache) as db:
            db.execute("UPDATE rss_item SET unread = 0")


@contextmanager
def serving(config_path: Path, access_log: Path | None = None):
    """``syndicator serve`` in its own process on a free port; yields the base URL.

    With ``access_log``, the server logs every request there (``--verbose``).
    """
    import sys

    port = free_port()
    verbose = ["--verbose"] if access_log else []
    sink = access_log.open("w") if access_log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicator", "--config", str(config_path), *verbose, "serve", "--port", str(port)],
        stdout=sink,  # uvicorn writes its access log to stdout
        stderr=sink,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
