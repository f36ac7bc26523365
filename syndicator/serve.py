"""Serve stage: the published files over HTTP (Starlette on uvicorn).

Files are held in memory with a strong ETag computed from their bytes and a
precompressed gzip body, reloaded when a publish replaces them (checked by a
cheap ``stat`` per request). Conditional requests get 304, so a feed reader
polling an unchanged feed costs a few hundred bytes.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class CachedFile:
    stamp: tuple[int, int, int]  # inode, mtime_ns, size: a publish renames a new file in
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: datetime
    content_type: str


class FileCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, CachedFile] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> CachedFile | None:
        if not _SAFE_NAME.match(name) or Path(name).suffix not in CONTENT_TYPES:
            return None  # also what keeps "..", dot files and folders out
        path = self.folder / name
        try:
            st = path.stat()
        except OSError:
            self._files.pop(name, None)
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._files.get(name)
        if cached is not None and cached.stamp == stamp:
            return cached
        try:
            body = path.read_bytes()
        except OSError:
            return None
        cached = CachedFile(
            stamp=stamp,
            body=body,
            gzipped=gzip.compress(body, mtime=0),
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC).replace(microsecond=0),
            content_type=CONTENT_TYPES[path.suffix],
        )
        with self._lock:
            self._files[name] = cached
        return cached


def create_app(folder: Path, max_age: int = 300) -> Starlette:
    cache = FileCache(folder)

    async def serve_file(request: Request) -> Response:
        name = request.path_params.get("name") or "index.html"
        f = cache.get(name)
        if f is None:
            return PlainTextResponse("Not found\n", status_code=404)
        gz = "gzip" in request.headers.get("accept-encoding", "").lower()
        etag = f.etag[:-1] + '-gz"' if gz else f.etag
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(f.last_modified, usegmt=True),
            "Cache-Control": f"public, max-age={max_age}",
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if _not_modified(request, f, etag):
            return Response(status_code=304, headers=headers)
        body = f.gzipped if gz else f.body
        if gz:
            headers["Content-Encoding"] = "gzip"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(status_code=200, headers=headers, media_type=f.content_type)
        return Response(body, headers=headers, media_type=f.content_type)

    app = Starlette(
        routes=[
            Route("/", serve_file, methods=["GET", "HEAD"]),
            Route("/{name:str}", serve_file, methods=["GET", "HEAD"]),
        ]
    )
    app.router.redirect_slashes = False  # "/all.rss/" is not a feed: 404, not a redirect
    return app


def _not_modified(request: Request, f: CachedFile, etag: str) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags or f.etag in tags
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return f.last_modified <= since
    return False


def run_server(
    folder: Path,
    host: str,
    port: int,
    max_age: int = 300,
    on_stop: Callable[[], None] | None = None,
    access_log: bool = False,
) -> None:
    """Serve until SIGINT or SIGTERM, then return (exit status 0), calling ``on_stop`` first.

    uvicorn re-raises the signal it caught once it has shut down, which would
    kill the process before the daemon's own clean-up runs; we handle the
    signals ourselves and let uvicorn only serve.
    """
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            yield

    server = Server(
        uvicorn.Config(
            create_app(folder, max_age),
            host=host,
            port=port,
            log_level="info" if access_log else "warning",
            access_log=access_log,
            server_header=False,
            limit_concurrency=1000,
            timeout_graceful_shutdown=5,
        )
    )

    def stop(signum: int, _frame: object) -> None:
        if on_stop is not None:
            on_stop()
        if server.should_exit:
            server.force_exit = True  # a second signal: stop waiting for open connections
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.run()
