"""lemon24/reader (PyPI reader==3.27) doing the same job: add every feed, then update them all
(``scheduled=False``: every feed is due, as our `refresh` fetches every source).

Runs under its own virtual environment (reader needs Python >= 3.12); bench/scale_run.py makes it.

    .bench/reader-venv/bin/python bench/scale_reader.py DB.sqlite URLS.txt
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reader import make_reader


def main(db: str, urls_path: str) -> int:
    reader = make_reader(db)
    for url in Path(urls_path).read_text().split():
        reader.add_feed(url, exist_ok=True)
    updated = failed = 0
    for _url, value in reader.update_feeds_iter(workers=4, scheduled=False):
        if isinstance(value, Exception):
            failed += 1
            print(f"failed: {_url}: {value}", file=sys.stderr)
        elif value is not None:
            updated += 1
    reader.close()
    print(json.dumps({"updated": updated, "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
