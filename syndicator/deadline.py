"""A total deadline for one HTTP request, headers included.

httpx has connect, read, write and pool timeouts, each per socket operation:
a server that sends its status line and headers one byte every few seconds
never trips any of them, and the body loop in fetch.py (which checks the
clock between chunks) is never reached. So every socket operation's timeout
is cut down to what is left of the request's deadline, set per thread by
``request_deadline()`` around the request; past it the operation raises httpcore's
timeout, which httpx reports as its own ``ReadTimeout``/``WriteTimeout``.

The wrapper sits between httpx's connection pool and httpcore's socket
backend (``ConnectionPool._network_backend``, the one hook httpcore offers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore

from syndicator.httpclient import httpx

_local = threading.local()


@contextmanager
def request_deadline(seconds: float) -> Iterator[None]:
    """Within this block, this thread's socket operations end ``seconds`` from now at the latest."""
    previous = getattr(_local, "at", None)
    _local.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.at = previous


def _cap(timeout: float | None, exc: type[Exception]) -> float | None:
    at = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise exc("the request's total time is up")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None):
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _cap(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bounded_transport(limits: httpx.Limits, proxy: str | None = None, verify: Any = True) -> httpx.HTTPTransport:
    """httpx's own transport (through ``proxy`` when given), its sockets bounded by the current thread's deadline.

    ``verify``: as httpx takes it; hostpools.py passes one SSL context shared by every host's pool."""
    t = httpx.HTTPTransport(limits=limits, proxy=proxy or None, verify=verify)
    pool = t._pool
    pool._network_backend = _Backend(pool._network_backend)
    return t
