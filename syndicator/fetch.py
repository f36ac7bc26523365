"""Fetch stage: download sources politely and report exactly what happened.

Every fetch ends in a ``FetchResult``, never an exception, so one broken
source cannot stop the others. Conditional GET (ETag, Last-Modified) keeps an
unchanged source down to one small 304 answer; file sources use their
modification time and size the same way.
"""

from __future__ import annotations

import email.utils
import ipaddress
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from syndicator import __version__
from syndicator.addresses import Refused, public_addresses
from syndicator.config import FetchConfig
from syndicator.deadline import bounded_transport, request_deadline
from syndicator.decode import DecodeError, accept_encoding, decoded
from syndicator.hostpools import HostPools
from syndicator.httpclient import httpx
from syndicator.urls import host_of

PROJECT_URL = "https://github.com/syndicator-project/syndicator"
_PERMANENT = {301, 308}
_TEMPORARY = {302, 303, 307}
READY_AHEAD = 32  # fetched results waiting for fetch_iter's caller, at most, beyond the requests running
KEPT_HOSTS = 64  # hosts whose idle connections are kept between requests (hostpools.py)
# How long an idle kept-alive connection is kept (httpx: 5 s). A refresh's fetching pauses while the store
# catches up with what is fetched ahead (READY_AHEAD), often for longer than 5 s on a cold refresh: a 1,000 x 50
# cold refresh opened 956 connections for 1,000 requests to 20 hosts (docs/benchmarks.md, section 16). A server
# that closes an idle connection first costs nothing: the pool sees the closed socket and opens a new one.
KEEPALIVE_EXPIRY = 60.0


@dataclass(frozen=True)
class FetchRequest:
    source: str
    url: str
    etag: str = ""
    last_modified: str = ""
    # A source from outside (imported OPML): every hop must be http(s) to a public address.
    guard: bool = False
    headers: tuple[tuple[str, str], ...] = ()  # extra request headers (an API key, say)
    auth: tuple[str, str] | None = None  # HTTP basic auth (user, password)
    proxy: str = ""  # an http(s) or socks proxy URL for this source
    user_agent: str = ""  # empty: [fetch] user_agent
    page: bool = False  # an article's web page (full text), not a feed: asks for HTML


@dataclass(frozen=True)
class HostBackoff:
    """A host that answered 429 or 503: nothing more is asked of it before ``until``."""

    host: str
    until: datetime
    reason: str


@dataclass(frozen=True)
class FetchResult:
    source: str
    outcome: str  # "ok", "not_modified", "error" or "deferred" (its host asked us to wait; not fetched)
    url: str  # the URL finally read (after redirects)
    body: bytes = b""
    content_type: str = ""
    http_status: int | None = None
    etag: str = ""
    last_modified: str = ""
    # Set when every hop to the final URL was a permanent redirect (301/308).
    permanent_redirect: str = ""
    retry_after: datetime | None = None
    gone: bool = False  # 410: the publisher says the feed is gone for good
    error: str = ""
    cache_headers: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in ("ok", "not_modified")


def default_user_agent() -> str:
    return f"Syndicator/{__version__} (+{PROJECT_URL})"


class Fetcher:
    """One HTTP client (kept-alive connections) shared by concurrent fetches.

    Concurrency is capped overall (``concurrency``) and per host name
    (``per_host``) so many hosts are fetched in parallel while no single
    publisher gets more than its share. The caps hold across every
    ``fetch_iter`` running at once on this Fetcher (feeds and, for full-text
    sources, article pages). A host that answers 429 or 503 is left alone
    until its Retry-After (``[fetch] min_interval`` when it gives none): the
    other requests to it are answered "deferred" without being sent, while
    other hosts go on.
    """

    def __init__(self, config: FetchConfig, host_backoffs: Iterable[HostBackoff] = ()) -> None:
        self.config = config
        timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        limits = httpx.Limits(
            max_connections=config.concurrency, max_keepalive_connections=config.concurrency,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        self._limits = limits
        self._client_options = dict(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": config.user_agent or default_user_agent(), "Accept-Encoding": accept_encoding()},
        )
        # Sockets bounded by each request's total deadline, headers included (deadline.py). A pool per host
        # keeps each host's connections alive however many other hosts are polled (hostpools.py); its cap on
        # connections is the overall one, so a redirect to a busy host waits on no pool.
        host_limits = httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.per_host,
                                   keepalive_expiry=KEEPALIVE_EXPIRY)
        self._pools = HostPools(host_limits, self._client_options, keep=KEPT_HOSTS)
        self._proxied: dict[str, httpx.Client] = {}  # one client per proxy: httpx binds a proxy to a client
        self._host_locks: dict[str, threading.BoundedSemaphore] = {}
        self._overall = threading.BoundedSemaphore(config.concurrency)
        self._lock = threading.Lock()
        self._backoffs: dict[str, HostBackoff] = {b.host: b for b in host_backoffs}
        self.new_backoffs: dict[str, HostBackoff] = {}  # set during this Fetcher's life, for the store

    def host_backoff(self, host: str, now: datetime | None = None) -> HostBackoff | None:
        """The backoff in force for ``host``, if any."""
        with self._lock:
            b = self._backoffs.get(host)
        return b if b is not None and b.until > (now or datetime.now(UTC)) else None

    def _back_off(self, host: str, result: FetchResult) -> None:
        now = datetime.now(UTC)
        cap = now + timedelta(seconds=self.config.max_server_wait)
        until = min(result.retry_after or now + timedelta(seconds=self.config.min_interval), cap)
        b = HostBackoff(host, until, f"{result.error} (on {result.url})")
        with self._lock:
            old = self._backoffs.get(host)
            if old is None or old.until < until:
                self._backoffs[host] = self.new_backoffs[host] = b

    def close(self) -> None:
        self._pools.close()
        for client in self._proxied.values():
            client.close()

    @contextmanager
    def _client_for(self, proxy: str, url: str) -> Iterator[httpx.Client]:
        if not proxy:
            with self._pools.lease(url) as client:
                yield client
            return
        yield self._proxy_client(proxy)

    def _proxy_client(self, proxy: str) -> httpx.Client:
        with self._lock:
            client = self._proxied.get(proxy)
            if client is None:
                transport = bounded_transport(self._limits, proxy=proxy)
                client = self._proxied[proxy] = httpx.Client(transport=transport, **self._client_options)
            return client

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch_iter(self, requests: Iterable[FetchRequest]) -> Iterator[FetchResult]:
        """Fetch concurrently, yielding each result as soon as it is ready.

        The caller parses and stores one source while the others download. At most ``READY_AHEAD`` results
        wait for the caller beyond the requests running: a cold refresh stores more slowly than it fetches,
        and with every request submitted at once the bodies of all sources waited in memory (1,000 sources
        of 115 KB: 416 MB peak RSS against 278 MB for 200 of them, bench/scale_run.py, docs/benchmarks.md
        section 12).
        """
        reqs = interleave_by_host(list(requests))
        if not reqs:
            return
        workers = max(1, min(self.config.concurrency, len(reqs)))
        queued = iter(reqs)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
            running = {pool.submit(self.fetch, r) for r in itertools.islice(queued, workers + READY_AHEAD)}
            try:
                while running:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        nxt = next(queued, None)  # one in for one out: the window stays full
                        if nxt is not None:
                            running.add(pool.submit(self.fetch, nxt))
                        yield fut.result()
            finally:
                for fut in running:
                    fut.cancel()

    def fetch(self, req: FetchRequest) -> FetchResult:
        start = time.monotonic()
        try:
            scheme = urlsplit(req.url).scheme
            if scheme == "file":
                result = self._fetch_file(req)
            elif scheme in ("http", "https"):
                host = host_of(req.url)
                # Host slot first, then an overall one: a request waiting for its busy host holds no
                # overall slot another host could use.
                with self._host_slot(host), self._overall:
                    # Checked once the slot is ours: a request queued behind the one that got the 429
                    # must not be sent.
                    backoff = self.host_backoff(host)
                    if backoff is not None:
                        result = _deferred(req, backoff)
                    else:
                        start = time.monotonic()  # the total timeout counts from the request, not the queue
                        with request_deadline(self.config.timeout):
                            result = self._fetch_http(req, start)
                        if result.http_status in (429, 503):
                            self._back_off(host_of(result.url) or host, result)
            else:
                result = _error(req, f"unsupported URL scheme {scheme!r}")
        except Exception as exc:  # a fetch must never take the refresh down with it
            result = _error(req, f"unexpected error: {type(exc).__name__}: {exc}")
        return _with_elapsed(result, time.monotonic() - start)

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._host_locks.get(host)
            if sem is None:
                sem = self._host_locks[host] = threading.BoundedSemaphore(self.config.per_host)
            return sem

    def _fetch_file(self, req: FetchRequest) -> FetchResult:
        path = Path(unquote(urlsplit(req.url).path))
        try:
            st = path.stat()
        except OSError as exc:
            return _error(req, f"cannot read {path}: {exc.strerror or exc}")
        validator = f"file:{st.st_mtime_ns}:{st.st_size}"
        if req.etag == validator:
            return FetchResult(req.source, "not_modified", req.url, etag=validator)
        if st.st_size > self.config.max_bytes:
            return _error(req, f"file is {st.st_size} bytes, over the {self.config.max_bytes}-byte cap")
        try:
            body = path.read_bytes()
        except OSError as exc:
            return _error(req, f"cannot read {path}: {exc.strerror or exc}")
        if body.startswith(b"\x1f\x8b"):
            # A gzipped feed file (node-feedparser's compressed.xml): decoded like a gzip HTTP body,
            # under the same cap on the decoded size.
            try:
                body = self._capped(decoded([body], "gzip"))
            except (_TooLarge, DecodeError) as exc:
                return _error(req, f"{path}: {exc}")
        return FetchResult(req.source, "ok", req.url, body=body, etag=validator)

    def _capped(self, pieces: Iterable[bytes]) -> bytes:
        chunks, size = [], 0
        for piece in pieces:
            size += len(piece)
            if size > self.config.max_bytes:
                raise _TooLarge(f"decoded size is over the {self.config.max_bytes}-byte cap")
            chunks.append(piece)
        return b"".join(chunks)

    def _fetch_http(self, req: FetchRequest, start: float) -> FetchResult:
        deadline = start + self.config.timeout
        headers = {"Accept": _ACCEPT_PAGE if req.page else _ACCEPT}
        if req.user_agent:
            headers["User-Agent"] = req.user_agent
        if req.etag:
            headers["If-None-Match"] = req.etag
        if req.last_modified:
            headers["If-Modified-Since"] = req.last_modified
        url, permanent, seen = req.url, True, {req.url}
        for hop in range(self.config.max_redirects + 1):
            # Extra headers (API keys) and credentials are for the configured host, not wherever it redirects.
            same_host = urlsplit(url).netloc == urlsplit(req.url).netloc
            send_url, extensions = url, {}
            hop_headers = {**headers, **dict(req.headers)} if same_host else headers
            if req.guard:
                try:
                    addresses = public_addresses(url)
                except Refused as exc:
                    what = "redirect refused" if hop else "refused"
                    return _error(req, f"{what}: {exc} (an imported source may only reach public addresses)")
                if not req.proxy:  # through a proxy, the proxy connects: the check above is what we can do
                    send_url, extensions, hop_headers = _pinned(url, addresses[0], hop_headers)
            auth = req.auth if same_host else None
            try:
                with self._client_for(req.proxy, send_url) as client, client.stream(
                    "GET", send_url, headers=hop_headers, extensions=extensions, auth=auth
                ) as resp:
                    status = resp.status_code
                    if status in _PERMANENT | _TEMPORARY and "location" in resp.headers:
                        target = urljoin(url, resp.headers["location"])
                        if target in seen:
                            return _error(req, f"redirect loop at {target}", status=status)
                        seen.add(target)
                        permanent = permanent and status in _PERMANENT
                        url = target
                        _drain(resp)
                        continue
                    return self._read_response(req, resp, url, permanent, deadline)
            except httpx.TimeoutException as exc:
                return _error(req, f"timed out ({type(exc).__name__}) fetching {url}")
            except httpx.HTTPError as exc:
                return _error(req, describe_error(exc, url))
            except (_TooLarge, DecodeError) as exc:
                return _error(req, str(exc))
        return _error(req, f"more than {self.config.max_redirects} redirects")

    def _read_response(
        self, req: FetchRequest, resp: httpx.Response, url: str, permanent: bool, deadline: float
    ) -> FetchResult:
        status = resp.status_code
        moved = url if permanent and url != req.url else ""
        etag = resp.headers.get("etag", "")
        last_modified = resp.headers.get("last-modified", "")
        cache = {k: resp.headers[k] for k in ("cache-control", "expires") if k in resp.headers}
        # Retry-After is honoured on any answer (RFC 9110 10.2.3 allows it on 3xx too), not only 429/503.
        retry = parse_retry_after(resp.headers.get("retry-after", ""))
        if status == 304 or status >= 400:
            _drain(resp)
        if status == 304:
            return FetchResult(
                req.source, "not_modified", url, http_status=304,
                etag=etag or req.etag, last_modified=last_modified or req.last_modified,
                permanent_redirect=moved, cache_headers=cache, retry_after=retry,
            )
        if status >= 400:
            reason = resp.reason_phrase or "error"
            message = f"HTTP {status} {reason}"
            if status == 410:
                message += ": the publisher says this feed is gone; source disabled"
            return FetchResult(
                req.source, "error", url, http_status=status, error=message,
                retry_after=retry, gone=status == 410, cache_headers=cache,
            )
        if status != 200:
            return _error(req, f"unexpected HTTP status {status}", status=status)
        cap = self.config.max_bytes
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _TooLarge(f"response of {declared} bytes is over the {cap}-byte cap")
        chunks, size = [], 0
        # Decoded here in bounded steps (decode.py), not by httpx: counting decoded bytes as they come
        # bounds a compression bomb too, however many times its body was encoded.
        for chunk in decoded(resp.iter_raw(), resp.headers.get("content-encoding", "")):
            size += len(chunk)
            if size > cap:
                raise _TooLarge(f"response is over the {cap}-byte cap (download aborted)")
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout(f"download exceeded {self.config.timeout:g}s")
            chunks.append(chunk)
        return FetchResult(
            req.source, "ok", url, body=b"".join(chunks),
            content_type=resp.headers.get("content-type", ""), http_status=status,
            etag=etag, last_modified=last_modified, permanent_redirect=moved, cache_headers=cache,
            retry_after=retry,
        )


def _pinned(url: str, address: str, headers: dict[str, str]) -> tuple[str, dict, dict[str, str]]:
    """The request to send to the very address just checked, not to a name resolved again.

    Resolving twice would let a name answer a public address to the check and a
    private one to the connection (DNS rebinding). The Host header and TLS
    server name (certificate check included) stay the original host's.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return url, {}, headers
    except ValueError:
        pass
    literal = f"[{address}]" if ":" in address else address
    netloc = literal + (f":{parts.port}" if parts.port else "")
    host_header = host + (f":{parts.port}" if parts.port else "")
    pinned = parts._replace(netloc=netloc).geturl()
    return pinned, {"sni_hostname": host}, {**headers, "Host": host_header}


_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, application/json;q=0.8, text/xml;q=0.8, */*;q=0.5"
)


_ACCEPT_PAGE = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


def interleave_by_host(requests: list[FetchRequest]) -> list[FetchRequest]:
    """Requests in round-robin order of their hosts, each host's in its own order.

    The pool's workers take requests in this order: with a hundred sources on
    one host listed first, every worker would otherwise queue on that host's
    two slots while the other hosts wait for a free worker.
    """
    queues: dict[str, list[FetchRequest]] = {}
    for r in requests:
        queues.setdefault(host_of(r.url) if urlsplit(r.url).scheme != "file" else "", []).append(r)
    out: list[FetchRequest] = []
    depth = 0
    while len(out) < len(requests):
        out.extend(q[depth] for q in queues.values() if depth < len(q))
        depth += 1
    return out


class _TooLarge(Exception):
    pass


_DRAIN_CAP = 64 * 1024


def _drain(resp: httpx.Response) -> None:
    """Read the small body of an answer we do not use (304, redirect, error) so that the connection goes
    back to the pool: httpcore closes a connection whose response was not read to its end, so every
    unread 304 cost a new connection (1,001 of them for 1,000 conditional requests in bench/). A large
    body is not worth reading: past the cap the connection is closed as before."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _DRAIN_CAP:
        return
    size = 0
    try:
        for chunk in resp.iter_raw():
            size += len(chunk)
            if size > _DRAIN_CAP:
                return
    except httpx.HTTPError:  # the answer itself was complete: a body that fails only costs the connection
        return


def describe_error(exc: Exception, url: str) -> str:
    """A network failure in words a person can act on: DNS, TLS, refused connection, or as httpx says."""
    host = urlsplit(url).hostname or url
    chain, cause = [], exc
    while cause is not None and len(chain) < 6:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(c) for c in chain)
    if any(isinstance(c, socket.gaierror) for c in chain) or "Name or service not known" in text:
        return f"DNS lookup failed for {host}: {exc}"
    if any(isinstance(c, ssl.SSLError) for c in chain) or "[SSL" in text:
        return f"TLS handshake with {host} failed: {exc}"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {host}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _error(req: FetchRequest, message: str, *, status: int | None = None) -> FetchResult:
    return FetchResult(req.source, "error", req.url, http_status=status, error=message)


def _deferred(req: FetchRequest, backoff: HostBackoff) -> FetchResult:
    when = backoff.until.isoformat(timespec="seconds")
    return FetchResult(
        req.source, "deferred", req.url, retry_after=backoff.until,
        error=f"host {backoff.host} asked to wait until {when}: {backoff.reason}",
    )


def _with_elapsed(result: FetchResult, elapsed: float) -> FetchResult:
    return replace(result, elapsed=elapsed)


def parse_retry_after(value: str, now: datetime | None = None) -> datetime | None:
    """Retry-After as seconds or an HTTP date, to an absolute UTC time."""
    value = (value or "").strip()
    if not value:
        return None
    now = now or datetime.now(UTC)
    if value.isdigit():
        # Clamped: "Retry-After: 99999999999999" would overflow a datetime (the caller caps it anyway).
        return now + timedelta(seconds=min(int(value), 366 * 86400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
