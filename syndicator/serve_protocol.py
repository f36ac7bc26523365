"""Serve stage, the wire: uvicorn's httptools protocol with a cap on request heads and a fast path.

A feed reader's poll is a GET of a published file, answered 304 most of the time. Through uvicorn's ASGI
cycle each one costs a request object, a task and four awaits, and with h11 (pure Python) the parsing too:
0.11-0.13x nginx's 304s per second (docs/benchmarks.md, section 5). Here the request is parsed by httptools
(llhttp, C), and a GET or HEAD that ``fast`` can answer from the in-memory file cache is written to the
transport from the parser's callback, with no task; everything else (404, 405, /healthz, /metrics, oversized
requests, a request while another is still being answered, access logging) takes uvicorn's ASGI path.

httptools has no cap on a request's head (h11 has 64 KiB): a client could send one endless header and have
it buffered. ``data_received`` counts the bytes received since the last complete head and refuses a head
larger than ``MAX_HEAD`` with 431 (tests/test_safety.py, a 200 KB header).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

# status, response headers as they go on the wire, body
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
# method, request target (as sent), request headers -> an answer, or None for the ASGI path
FastPath = Callable[[bytes, bytes, list[tuple[bytes, bytes]]], "Answer | None"]

MAX_HEAD = 64 * 1024  # h11's cap on a request line plus headers, which uvicorn used before


class _Answered:
    """Stands for the cycle of a request answered on the fast path: uvicorn's callbacks only ask
    whether the response is complete, and wake its event when the connection is lost."""

    response_complete = True
    keep_alive = True

    class message_event:
        @staticmethod
        def set() -> None:
            pass


_ANSWERED = _Answered()


class _HeadTooLarge(Exception):
    pass


def protocol_class(fast: FastPath | None, max_head: int = MAX_HEAD) -> type[HttpToolsProtocol]:
    """A uvicorn ``http`` protocol class that answers what ``fast`` can without the ASGI app."""

    class FeedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_seen = 0  # bytes received since the last complete head
            self._head_bytes = 0
            self._in_body = False  # between a head and the end of its message (a body is not a head)
            # uvicorn's access log is written by the ASGI cycle: with it on, every request takes that path.
            self._fast = None if self.access_log else fast

        def data_received(self, data: bytes) -> None:
            self._unset_keepalive_if_required()
            if not self._in_body:
                self._head_seen += len(data)  # reset when a head is complete (on_headers_complete)
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            except httptools.HttpParserError as exc:
                if isinstance(exc.__context__, _HeadTooLarge):
                    self._refuse(431, "request head too large")
                else:
                    self.logger.warning("Invalid HTTP request received.")
                    self.send_400_response("Invalid HTTP request received.")
                return
            if self._head_seen > max_head:  # a head still incomplete after that much: one endless header
                self._refuse(431, "request head too large")

        def _refuse(self, status: int, text: str) -> None:
            body = text.encode() + b"\n"
            self.transport.write(b"".join((
                STATUS_LINE[status],
                b"content-type: text/plain; charset=utf-8\r\ncontent-length: ",
                str(len(body)).encode(),
                b"\r\nconnection: close\r\n\r\n",
                body,
            )))
            self.transport.close()

        def on_message_begin(self) -> None:
            self._head_bytes = 0  # this head's request line and headers, as the parser hands them over
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._head_bytes += len(url)
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            # Counted per head, not per chunk: 2,000 small pipelined requests in one send are fine
            # (tests/test_serve_protocol.py).
            self._head_bytes += len(name) + len(value) + 4
            if self._head_bytes > max_head:
                raise _HeadTooLarge
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._head_seen = 0
            self._in_body = True
            answer = self._fast_answer()
            if answer is None:
                super().on_headers_complete()
                return
            status, headers, body = answer
            keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
            out = [STATUS_LINE[status]]
            for name, value in (*self.server_state.default_headers, *headers):
                out += (name, b": ", value, b"\r\n")
            if not keep_alive:
                out.append(b"connection: close\r\n")
            out += (b"\r\n", body)
            self.transport.write(b"".join(out))
            self.cycle = _ANSWERED  # type: ignore[assignment]
            if keep_alive:
                self.on_response_complete()  # counts it, arms the keep-alive timer, starts a queued request
            else:
                self.server_state.total_requests += 1
                self.transport.close()

        def on_message_complete(self) -> None:
            self._in_body = False
            super().on_message_complete()

        def _fast_answer(self) -> Answer | None:
            if (
                self._fast is None
                or self.pipeline
                or (self.cycle is not None and not self.cycle.response_complete)
                or self.flow.write_paused  # a client not reading its answers: let uvicorn wait for it
                or self.parser.should_upgrade()
            ):
                return None
            method = self.parser.get_method()
            if method != b"GET" and method != b"HEAD":
                return None
            for name, value in self.headers:
                # A body, however announced, is the ASGI path's to refuse (413).
                if name == b"transfer-encoding" or (name == b"content-length" and value not in (b"", b"0")):
                    return None
            return self._fast(method, self.url, self.headers)

    return FeedProtocol
