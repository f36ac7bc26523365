"""Fetch fairness: one host with many sources must not hold up the others.

Local servers on ten loopback addresses (127.0.0.1 … 127.0.0.10, each its own host name to the
fetcher); every answer takes ``--delay`` seconds. Host 127.0.0.1 carries ``--big`` sources, listed
first (as an OPML import of one site's sections would put them); the nine others carry ``--small``
each. Run side by side in one process: requests in configuration order, and in round-robin order of
hosts (what ``Fetcher.fetch_iter`` does). Reported: wall time for everything, time until every small
host is done, the largest number of requests one host had in flight (must stay at ``per_host``).

    python bench/politeness.py [--big 60] [--small 4] [--delay 0.1]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syndicator import fetch
from syndicator.config import FetchConfig
from syndicator.fetch import Fetcher, FetchRequest

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}


def serve(address: str, delay: float, counter: Counter) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            with counter.lock:
                counter.in_flight[address] = counter.in_flight.get(address, 0) + 1
                counter.peak[address] = max(counter.peak.get(address, 0), counter.in_flight[address])
            time.sleep(delay)
            with counter.lock:
                counter.in_flight[address] -= 1
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED)

    httpd = ThreadingHTTPServer((address, 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def run(requests: list[FetchRequest], interleave: bool, counter: Counter) -> tuple[float, float]:
    original = fetch.interleave_by_host
    if not interleave:
        fetch.interleave_by_host = list  # configuration order, as before
    counter.peak.clear()
    done: dict[str, float] = {}
    start = time.monotonic()
    try:
        with Fetcher(FetchConfig()) as fetcher:
            for result in fetcher.fetch_iter(requests):
                assert result.ok, result.error
                done[result.source] = time.monotonic() - start
    finally:
        fetch.interleave_by_host = original
    total = max(done.values())
    small = max(t for name, t in done.items() if not name.startswith("big"))
    return total, small


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", type=int, default=60)
    ap.add_argument("--small", type=int, default=4)
    ap.add_argument("--delay", type=float, default=0.1)
    args = ap.parse_args()
    counter = Counter()
    servers = [serve(f"127.0.0.{k}", args.delay, counter) for k in range(1, 11)]
    requests = [FetchRequest(f"big{i}", f"http://127.0.0.1:{servers[0].server_address[1]}/f{i}")
                for i in range(args.big)]
    for k, httpd in enumerate(servers[1:], start=2):
        requests += [FetchRequest(f"h{k}-{i}", f"http://127.0.0.{k}:{httpd.server_address[1]}/f{i}")
                     for i in range(args.small)]
    cfg = FetchConfig()
    print(f"{len(requests)} sources: {args.big} on one host listed first, {args.small} on each of 9 others; "
          f"{args.delay * 1000:.0f} ms per answer; concurrency {cfg.concurrency}, per_host {cfg.per_host}")
    print(f"{'order':<22} {'all done (s)':>12} {'small hosts done (s)':>21} {'peak per host':>14}")
    rows = {}
    for interleave in (False, True):
        total, small = run(requests, interleave, counter)
        name = "round-robin by host" if interleave else "configuration order"
        rows[interleave] = (total, small)
        print(f"{name:<22} {total:>12.2f} {small:>21.2f} {max(counter.peak.values()):>14}")
    print(f"small hosts done: configuration order / round-robin = {rows[False][1] / rows[True][1]:.1f}x; "
          f"all done: {rows[False][0] / rows[True][0]:.2f}x")
    for httpd in servers:
        httpd.shutdown()


if __name__ == "__main__":
    main()
