"""The one local HTTP server every test server builds on: 127.0.0.1, a free port, a thread of its own.

The servers differ only in how they answer (tests/conftest.py FeedServer, tests/corpus.py CorpusServer,
tests/politeserver.py PoliteServer, the WebSub hub, the hostile server); starting, stopping, quiet logs
and a client that goes away are the same for all of them, so they live here once.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no access log, and no traceback when the client hangs up.

    A client that goes away mid-answer is what several tests provoke (a size cap, a timeout, a worker
    killed with SIGKILL in tests/test_workers.py); socketserver printed a traceback for each one, pages of
    ``ConnectionResetError`` in the CI log that hid the real failure.
    """

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # listen()'s backlog, read when the socket is bound: 500 sources and 4 workers connect at once
    # (tests/test_workers.py), more than the default 5 queued connections.
    request_queue_size = 128


class LocalServer:
    """Serves ``handler`` on 127.0.0.1 at a free port until ``stop``; ``with`` starts and stops it."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"
