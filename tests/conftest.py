"""Shared test helpers: a real HTTP feed server on 127.0.0.1, configurations on disk,
the command line run as a real process, and real clients that must exist in CI."""

from __future__ import annotations

import email.utils
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.localserver import LocalServer, QuietHandler

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# SYNDICATOR_TEST_DB=postgresql runs the whole suite against the PostgreSQL server on this machine
# (scripts/test.sh does, after the SQLite run): every store is then a fresh database of its own.
TEST_DB = os.environ.get("SYNDICATOR_TEST_DB", "sqlite")
ON_POSTGRES = TEST_DB == "postgresql"
PG_SERVER = os.environ.get("SYNDICATOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
_PG_RUN = f"syndicator_test_{os.getpid()}"
_pg_databases: list[str] = []
_store_urls: dict[tuple[Path, str], str] = {}
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="checks SQLite's own file or pragmas")


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_SERVER + "/postgres", autocommit=True) as conn:
        conn.execute(sql)


def fresh_pg_url() -> str:
    """A new, empty PostgreSQL database, dropped at the end of the run."""
    name = f"{_PG_RUN}_{len(_pg_databases)}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    _pg_databases.append(name)
    return PG_SERVER.replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name


def store_url(folder: Path, name: str = "store.db") -> str:
    """The store URL for a test: an SQLite file in ``folder``, or one fresh PostgreSQL database per folder."""
    if not ON_POSTGRES:
        return f"sqlite:///{Path(folder).resolve() / name}"
    key = (Path(folder).resolve(), name)
    if key not in _store_urls:
        _store_urls[key] = fresh_pg_url()
    return _store_urls[key]


def db_rows(config: Path, sql: str, **params: object) -> list[tuple]:
    """Rows of one SQL query on the store a configuration names, SQLite file or PostgreSQL database."""
    from sqlalchemy import text

    from syndicator.config import load_config
    from syndicator.store.db import create_store_engine

    engine = create_store_engine(load_config(config).database_url())
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases():
    yield
    for name in _pg_databases:
        try:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception as exc:  # a leftover database must not fail the run
            print(f"could not drop test database {name}: {exc}", file=sys.stderr)


def require_tool(name: str) -> str:
    """The path of a real client; missing: a failure in CI, a skip elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    last_modified: str = field(default_factory=lambda: email.utils.formatdate(time.time() - 60, usegmt=True))
    delay: float = 0.0  # seconds the server takes before answering (overlapping fetches become visible)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int
    started: float = 0.0  # time.monotonic() when the request arrived
    ended: float = 0.0  # ... and when its answer was sent


class FeedServer(LocalServer):
    """Serves ``resources`` by path, honouring If-None-Match and If-Modified-Since."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                started = time.monotonic()
                res = server.resources.get(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                if res is None:
                    self._send(404, b"not found", {"Content-Type": "text/plain"})
                    server.requests.append(Request(self.path, headers, 404, started, time.monotonic()))
                    return
                status = res.status
                if status == 200 and (
                    headers.get("if-none-match") == res.etag
                    or (not headers.get("if-none-match") and headers.get("if-modified-since") == res.last_modified)
                ):
                    status = 304
                request = Request(self.path, headers, status, started)
                server.requests.append(request)
                if res.delay:
                    time.sleep(res.delay)
                out = {"ETag": res.etag, "Last-Modified": res.last_modified, **res.headers}
                if status == 304:
                    self._send(304, b"", out)
                else:
                    self._send(status, res.body, {"Content-Type": res.content_type, **out})
                request.ended = time.monotonic()

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

        super().__init__(Handler)

    def requests_for(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def feed_server():
    with FeedServer() as server:
        yield server


def write_config(folder: Path, sources: dict[str, str], extra: str = "", feeds: str | None = None) -> Path:
    """A configuration in ``folder`` whose store and output also live there."""
    lines = [
        "[storage]",
        f'url = "{store_url(folder) if ON_POSTGRES else "sqlite:///store.db"}"',
        "[output]",
        'dir = "public"',
        'base_url = "http://127.0.0.1:8080/"',
        textwrap.dedent(extra),
    ]
    for name, url in sources.items():
        lines += ["[[sources]]", f'name = "{name}"', f'url = "{url}"']
    if feeds is None:
        feeds = '[[feeds]]\nname = "all"\ntitle = "All stories"\nsources = ["*"]\n'
    lines.append(feeds)
    path = folder / "syndicator.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def syndicator(*args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None):
    """Run the real command line in its own process."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("SYNDICATOR_CONFIG", None) if env is None or "SYNDICATOR_CONFIG" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "syndicator", *args],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0):
    """Poll ``predicate`` until it returns something true; that value, or an AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Daemon(subprocess.Popen):
    """A ``syndicator run`` process whose stderr goes to a file, read with ``log()``.

    Not a pipe: a pipe nobody reads fills up at 64 KiB, and a daemon blocked writing a log line in the middle
    of a transaction holds its locks (the hang tests/test_workers.py once had)."""

    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_daemon(config: Path) -> tuple[Daemon, int]:
    """``syndicator run`` in its own process on a free port, once it listens."""
    port = free_port()
    log_path = config.parent / f"daemon-{port}.log"
    with log_path.open("w") as log:
        proc = Daemon(
            [sys.executable, "-m", "syndicator", "--config", str(config), "run", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=log, text=True,
        )
    proc.log_path = log_path
    try:
        wait_for_port(port)
    except AssertionError:
        proc.kill()
        raise
    return proc, port
