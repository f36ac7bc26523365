"""Serve stage: the published files over HTTP (Starlette on uvicorn).

Files are held in memory with a strong ETag computed from their bytes and a
precompressed gzip body, reloaded when a publish replaces them (checked by a
cheap ``stat`` per request). Conditional requests get 304, so a feed reader
polling an unchanged feed costs a few hundred bytes.

``/healthz`` answers 200 "ok" when the store answers and the last publish is
recent (``[output] stale_after``), else 503 with the reason; ``/metrics`` is
the Prometheus text format (``syndicator.metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import os
import re
import signal
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from syndicator import metrics

if TYPE_CHECKING:
    import uvicorn

    from syndicator.config import Config
    from syndicator.serve_protocol import Answer, FastPath
    from syndicator.store import Store

CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CHECK_TIMEOUT = 10.0  # seconds /healthz and /metrics wait for the store before answering without it
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# Requests are small GETs: a feed reader sends a dozen headers and no body. Anything far beyond is refused
# before routing (uvicorn itself caps one request's header block at h11's 64 KiB).
MAX_HEADERS = 64
MAX_TARGET = 2048  # bytes of path and query
# Feeds are data, never a page to run: a browser opening one directly gets no script and no plug-in.
FEED_CSP = "default-src 'none'; sandbox"

HealthCheck = Callable[[], "str | None"]  # None when healthy, else the reason


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
        self._prefix = str(folder) + os.sep
        self._files: dict[str, CachedFile] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> CachedFile | None:
        cached = self._files.get(name)
        if cached is not None:
            # A name in the cache was checked when it came in: one stat, on a plain string (pathlib's
            # objects were a tenth of a 304's cost on the fast path, docs/benchmarks.md section 11).
            try:
                st = os.stat(self._prefix + name)
            except OSError:
                self._files.pop(name, None)
                return None
            if (st.st_ino, st.st_mtime_ns, st.st_size) == cached.stamp:
                return cached
        elif not _SAFE_NAME.match(name) or Path(name).suffix not in CONTENT_TYPES:
            return None  # also what keeps "..", dot files and folders out
        path = self.folder / name
        try:
            st = path.stat()
        except OSError:
            self._files.pop(name, None)
            return None
        if not stat.S_ISREG(st.st_mode):
            self._files.pop(name, None)
            return None  # a folder is never listed, whatever its name
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
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


def create_app(
    folder: Path,
    max_age: int = 300,
    *,
    health: HealthCheck | None = None,
    exposition: Callable[[], bytes] | None = None,
) -> FeedApp:
    """The feeds in ``folder``, plus ``/healthz`` (``health``; without one it answers 503, "not
    configured") and ``/metrics`` (``exposition``; by default this process's counters only)."""
    cache = FileCache(folder)
    metrics.install()  # refreshes run in this process count in /metrics
    if exposition is None:
        exposition = lambda: metrics.exposition(None)  # noqa: E731

    async def healthz(request: Request) -> Response:
        if health is None:
            reason: str | None = "health check not configured (no store given to the server)"
        else:
            try:
                reason = await asyncio.wait_for(run_in_threadpool(health), CHECK_TIMEOUT)
            except TimeoutError:
                reason = f"store does not answer within {CHECK_TIMEOUT:g}s"
            except Exception as exc:
                reason = f"health check failed: {type(exc).__name__}: {exc}"
        status, body = (503, reason + "\n") if reason else (200, "ok\n")
        if request.method == "HEAD":
            return Response(status_code=status, headers=NO_STORE, media_type="text/plain")
        return PlainTextResponse(body, status_code=status, headers=NO_STORE)

    async def metrics_page(request: Request) -> Response:
        try:
            body = await asyncio.wait_for(run_in_threadpool(exposition), CHECK_TIMEOUT)
        except TimeoutError:
            return PlainTextResponse("store does not answer\n", status_code=503, headers=NO_STORE)
        if request.method == "HEAD":
            return Response(status_code=200, headers=NO_STORE, media_type=metrics.CONTENT_TYPE)
        return Response(body, headers=NO_STORE, media_type=metrics.CONTENT_TYPE)

    # Response headers of each served file (and gzip variant), made once per version of the file.
    memo: dict[tuple[str, bool], tuple[CachedFile, list[tuple[bytes, bytes]]]] = {}

    def answer(
        name: str, f: CachedFile, method: str, inm: str | None, ims: str | None, accept_encoding: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, raw headers and body for a GET or HEAD of a served file."""
        gz = "gzip" in accept_encoding.lower()
        etag = f.etag[:-1] + '-gz"' if gz else f.etag
        known = memo.get((name, gz))
        if known is None or known[0] is not f:
            fields = {
                "ETag": etag,
                "Last-Modified": format_datetime(f.last_modified, usegmt=True),
                "Cache-Control": f"public, max-age={max_age}",
                "Vary": "Accept-Encoding",
                **security_headers(name),
            }
            known = memo[(name, gz)] = (f, [(k.lower().encode("latin-1"), v.encode("latin-1"))
                                             for k, v in fields.items()])
        headers = known[1]
        if _not_modified(inm, ims, f, etag):
            return 304, list(headers), b""
        body = f.gzipped if gz else f.body
        extra = [(b"content-encoding", b"gzip")] if gz else []
        extra += [(b"content-length", str(len(body)).encode()), (b"content-type", f.content_type.encode())]
        return 200, headers + extra, b"" if method == "HEAD" else body

    async def serve_file(request: Request) -> Response:
        name = request.path_params.get("name") or "index.html"
        f = cache.get(name)
        if f is None:
            return PlainTextResponse("Not found\n", status_code=404)
        status, headers, body = answer(
            name, f, request.method, request.headers.get("if-none-match"),
            request.headers.get("if-modified-since"), request.headers.get("accept-encoding", ""),
        )
        return _RawResponse(status, headers, body)

    def security_headers(name: str) -> dict[str, str]:
        from syndicator.publish.pages import INDEX_CSP

        csp = INDEX_CSP if name.endswith(".html") else FEED_CSP
        return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

    app = Starlette(
        routes=[
            Route("/", serve_file, methods=["GET", "HEAD"]),
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/metrics", metrics_page, methods=["GET", "HEAD"]),
            Route("/{name:str}", serve_file, methods=["GET", "HEAD"]),
        ]
    )
    app.router.redirect_slashes = False  # "/all.rss/" is not a feed: 404, not a redirect

    def fast(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> Answer | None:
        """``files_first``'s answer straight from the parser (``syndicator.serve_protocol``): the same
        status, headers and body, or None for what must go through the app (anything not a plain
        published file name, a percent-encoded or oversized target, too many headers)."""
        if len(headers) > MAX_HEADERS or len(target) > MAX_TARGET or target[:1] != b"/":
            return None
        path = target.partition(b"?")[0]
        if b"%" in path:
            return None
        name = "index.html" if path == b"/" else path[1:].decode("latin-1")
        f = cache.get(name)
        if f is None:
            return None
        return answer(name, f, method.decode("ascii"), *_conditions(headers))

    async def files_first(scope, receive, send):
        """A GET or HEAD of a served file is answered here, without Starlette's routing, request and
        response objects (most of the cost of a 304: 0.10x nginx's requests per second through them);
        everything else (404, 405, /healthz, /metrics) goes to the app."""
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path = scope["path"]
            name = "index.html" if path == "/" else path[1:]
            f = cache.get(name)  # None for anything not a plain published file name, "/" included
            if f is not None:
                status, headers, body = answer(name, f, scope["method"], *_conditions(scope["headers"]))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return FeedApp(_limit_requests(files_first), fast)


def _conditions(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None, str]:
    """If-None-Match, If-Modified-Since and Accept-Encoding of raw request headers (lower-case names):
    the first of each, as Starlette's ``headers.get``."""
    inm = ims = None
    accept_encoding = ""
    for key, value in headers:
        if key == b"if-none-match" and inm is None:
            inm = value.decode("latin-1")
        elif key == b"if-modified-since" and ims is None:
            ims = value.decode("latin-1")
        elif key == b"accept-encoding" and not accept_encoding:
            accept_encoding = value.decode("latin-1")
    return inm, ims, accept_encoding


class FeedApp:
    """The ASGI app, and the same answers for published files as a plain function for the wire
    protocol's fast path (``server_config``)."""

    def __init__(self, app: ASGIApp, fast: FastPath) -> None:
        self.app = app
        self.fast = fast

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


class _RawResponse(Response):
    """A response whose headers are given as they go on the wire (made once per file by ``answer``)."""

    def __init__(self, status: int, raw_headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


def _limit_requests(app: ASGIApp) -> ASGIApp:
    """Refuse oversized requests before they reach routing: too many headers (431), a body (413), a
    target longer than ``MAX_TARGET`` (414)."""

    async def limited(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        headers = scope.get("headers") or []
        status = None
        if len(headers) > MAX_HEADERS:
            status, text = 431, f"more than {MAX_HEADERS} request headers"
        elif len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_TARGET:
            status, text = 414, "request target too long"
        else:
            for key, value in headers:
                if (key == b"content-length" and value.strip() not in (b"", b"0")) or key == b"transfer-encoding":
                    status, text = 413, "a request body is not accepted here"
                    break
        if status is None:
            return await app(scope, receive, send)
        response = PlainTextResponse(text + "\n", status_code=status, headers={**NO_STORE, "Connection": "close"})
        await response(scope, receive, send)

    return limited


def _not_modified(inm: str | None, ims: str | None, f: CachedFile, etag: str) -> bool:
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag in tags or f.etag in tags
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return f.last_modified <= since
    return False


def configured_app(config: Config, store: Store | None = None) -> tuple[ASGIApp, metrics.StoreReader]:
    """The app for ``config``'s output folder, with ``/healthz`` and ``/metrics`` reading its store.

    Close the returned reader when done serving.
    """
    reader = metrics.StoreReader(config.database_url(), store.engine if store is not None else None)
    stale_after = config.output.stale_after
    app = create_app(
        config.output_dir,
        config.output.max_age,
        health=lambda: metrics.health(reader, stale_after),
        exposition=lambda: metrics.exposition(reader),
    )
    return app, reader


def server_config(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 8080, access_log: bool = False, *, fast_path: bool = True
) -> uvicorn.Config:
    """uvicorn's configuration for ``app``: the protocol of ``syndicator.serve_protocol`` (httptools,
    a cap on request heads, ``FeedApp.fast`` answered without the ASGI cycle unless ``fast_path`` is
    false) when httptools is installed (a dependency; a missing one falls back to h11), our log handler,
    no Server header."""
    import uvicorn

    try:
        from syndicator.serve_protocol import protocol_class
    except ImportError:  # httptools missing: h11, whose own cap on request heads is 64 KiB
        http: Any = "h11"
    else:
        http = protocol_class(getattr(app, "fast", None) if fast_path else None)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        log_level="info" if access_log else "warning",
        log_config=None,  # our handler (syndicator.logs): one format, JSON lines too
        access_log=access_log,
        server_header=False,
        limit_concurrency=1000,
        timeout_graceful_shutdown=5,
    )


def run_server(
    folder: Path,
    host: str,
    port: int,
    max_age: int = 300,
    on_stop: Callable[[], None] | None = None,
    access_log: bool = False,
    *,
    config: Config | None = None,
    store: Store | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then return (exit status 0), calling ``on_stop`` first.

    With ``config`` (its output folder is ``folder``), ``/healthz`` and ``/metrics`` read its store
    (``store``'s engine when given, for a database other than SQLite); without, ``/healthz`` answers 503.

    uvicorn re-raises the signal it caught once it has shut down, which would
    kill the process before the daemon's own clean-up runs; we handle the
    signals ourselves and let uvicorn only serve.
    """
    import uvicorn

    reader = None
    if config is not None:
        app, reader = configured_app(config, store)
    else:
        app = create_app(folder, max_age)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            yield

    server = Server(server_config(app, host, port, access_log))

    def stop(signum: int, _frame: object) -> None:
        if on_stop is not None:
            on_stop()
        if server.should_exit:
            server.force_exit = True  # a second signal: stop waiting for open connections
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.run()
    finally:
        if reader is not None:
            reader.close()
