"""A local HTTP server on 127.0.0.1 that records how it is treated: requests in flight per host
name (the Host header), their headers, and answers that are slow, compressed, chunked or dribbled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.localserver import LocalServer, QuietHandler


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    chunked: bool = False  # no Content-Length: the size is known only by reading
    dribble: float = 0.0  # seconds between single bytes of the body


@dataclass
class Seen:
    path: str
    host: str
    headers: dict[str, str]
    started: float


class PoliteServer(LocalServer):
    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict[str, str]], Reply]] = {}
        self.seen: list[Seen] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.max_overall = 0
        self._lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                host = headers.get("host", "").rsplit(":", 1)[0]
                server._enter(Seen(self.path, host, headers, time.monotonic()))
                self._host, self._left = host, False
                try:
                    route = server.routes.get(self.path)
                    reply = route(headers) if route else Reply(404, b"not found")
                    time.sleep(reply.delay)
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (size cap, timeout): what the tests provoke
                finally:
                    self._leave()

            def _leave(self) -> None:
                # Before the last bytes go out, not after: once the client has the whole answer it may
                # start its next request (on a new connection, to another host's pool) before this
                # thread runs again, and the server would see one request too many in flight.
                if not self._left:
                    self._left = True
                    server._leave(self._host)

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if reply.chunked or reply.dribble:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.dribble:
                    for i in range(len(reply.body)):
                        self.wfile.write(reply.body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(reply.dribble)
                elif reply.chunked:
                    for i in range(0, len(reply.body), 65536):
                        self.wfile.write(reply.body[i : i + 65536])
                else:
                    self._leave()
                    self.wfile.write(reply.body)

        super().__init__(Handler)

    def _enter(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)
            self.in_flight[seen.host] = self.in_flight.get(seen.host, 0) + 1
            self.max_in_flight[seen.host] = max(self.max_in_flight.get(seen.host, 0), self.in_flight[seen.host])
            self.max_overall = max(self.max_overall, sum(self.in_flight.values()))

    def _leave(self, host: str) -> None:
        with self._lock:
            self.in_flight[host] -= 1

    def paths(self, host: str | None = None) -> list[str]:
        return [s.path for s in self.seen if host is None or s.host == host]


