"""The floor: download every feed with 4 threads and parse it with feedparser, storing no articles.

It keeps only each feed's validators (ETag, Last-Modified) in a JSON file so that its warm runs make
conditional requests like every real poller; that is the least any poller must store.

    python bench/scale_floor.py STATE.json URLS.txt
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import feedparser


def fetch_parse(url: str, validators: dict[str, str]) -> tuple[str, int, dict[str, str], int]:
    req = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    if validators.get("etag"):
        req.add_header("If-None-Match", validators["etag"])
    if validators.get("modified"):
        req.add_header("If-Modified-Since", validators["modified"])
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            body, headers, status = resp.read(), resp.headers, resp.status
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return url, 304, validators, 0
        raise
    parsed = feedparser.parse(body, response_headers={k.lower(): v for k, v in headers.items()})
    new = {"etag": headers.get("ETag", ""), "modified": headers.get("Last-Modified", "")}
    return url, status, new, len(parsed.entries)


def main(state_path: str, urls_path: str) -> int:
    state_file = Path(state_path)
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    urls = Path(urls_path).read_text().split()
    entries = failed = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(fetch_parse, u, state.get(u, {})) for u in urls]
        for fut in futures:
            try:
                url, _status, validators, n = fut.result()
            except Exception as exc:
                print(f"failed: {exc}", file=sys.stderr)
                failed += 1
                continue
            state[url] = validators
            entries += n
    state_file.write_text(json.dumps(state))
    print(json.dumps({"entries": entries, "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
