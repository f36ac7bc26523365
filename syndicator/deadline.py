"""A total deadline on every socket operation of a fetch, headers included.

httpx's timeouts bound each read, not a whole exchange: a server that sends its status line
and headers one byte a second never lets a read time out, and h11 would wait for 64 kB of
headers, hours (tests/test_hostile.py serves exactly that). Each fetch runs in a thread of its
own, so the thread's deadline shortens every connect, read and write of the connection it uses
until none is left, and the fetch fails with httpx's ReadTimeout like any other timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpcore
import httpx

log = logging.getLogger(__name__)
_local = threading.local()


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Socket operations of this thread must end before ``at`` (time.monotonic())."""
    _local.at = at
    try:
        yield
    finally:
        _local.at = None


def _left(timeout: float | None) -> float | None:
    at = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the fetch's total timeout ran out")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _Stream(self._inner.connect_tcp(host, port, _left(timeout), local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _Stream(self._inner.connect_unix_socket(path, _left(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(client: httpx.Client) -> bool:
    """Give the client's own transport the deadline-aware network backend.

    httpx does not expose the backend, so this reaches into its connection pool; should a
    future httpx move it, fetches keep httpx's per-read timeouts and this says so once.
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        log.warning("httpx internals changed: fetches have per-read timeouts only")
        return False
    if not isinstance(backend, _Backend):
        pool._network_backend = _Backend(backend)
    return True
