"""What retention and backups cost next to a publish, on one store, in one run.

Builds an SQLite store of N stories (synthetic articles, half of them older than
``keep_days``), then times, side by side:

- ``publish``: one ``publish_all`` (what every refresh does anyway);
- ``prune (steady)``: ``prune`` when nothing is old enough (what most refreshes add);
- ``prune (half)``: the first prune, removing half the stories with their articles and keys;
- ``backup``: ``db backup`` through SQLite's online backup API.

Figures are ratios to the publish time, so they compare across machines.

    python bench/retention_cost.py --stories 5000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from syndicator.config import config_from_dict  # noqa: E402
from syndicator.model import Entry  # noqa: E402
from syndicator.publish import publish_all  # noqa: E402
from syndicator.store import Store  # noqa: E402
from syndicator.store.db import backup_sqlite  # noqa: E402
from syndicator.store.retention import prune  # noqa: E402
from tests.feedmaker import long_body  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stories", type=int, default=5000)
    args = ap.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        raw = {
            "storage": {"url": f"sqlite:///{folder / 'store.db'}", "keep_days": 90},
            "output": {"dir": str(folder / "public")},
            "merge": {"semantic": False},
            "sources": [{"name": "a", "url": "https://a.example/"}],
            "feeds": [{"name": "all", "limit": 100}],
        }
        cfg = config_from_dict(raw, folder / "syndicator.toml")
        store = Store(cfg.database_url())
        store.sync_sources([("a", "https://a.example/")])
        n = args.stories
        entries = [
            Entry(guid=f"g{k}", url=f"https://a.example/{k}", title=f"Headline {k} about topic {k * 7919 % 100003}",
                  text=long_body(f"topic {k}"), summary="",
                  published=now - timedelta(days=180) * (k / n) - timedelta(minutes=1))
            for k in range(n)
        ]
        # each batch stored when it was published: retention counts both dates
        built = timed(lambda: [
            store.ingest("a", entries[i:i + 500], max(e.published for e in entries[i:i + 500]), 72 * 3600)
            for i in range(0, n, 500)
        ])
        publish = timed(lambda: publish_all(store, cfg, now))
        steady_cfg = config_from_dict({**raw, "storage": {**raw["storage"], "keep_days": 365}}, cfg.path)
        steady = timed(lambda: prune(store, steady_cfg, now))
        size = (folder / "store.db").stat().st_size
        backup = timed(lambda: backup_sqlite(store.engine, folder / "copy.db"))
        result = None

        def first() -> None:
            nonlocal result
            result = prune(store, cfg, now)

        half = timed(first)
        store.close()
    print(f"store: {n} stories ({size / 1e6:.1f} MB on disk), built in {built:.1f}s")
    print(f"{'step':<16} {'seconds':>8} {'x publish':>10}")
    for name, secs in (("publish", publish), ("prune (steady)", steady), ("prune (half)", half), ("backup", backup)):
        print(f"{name:<16} {secs:8.3f} {secs / publish:10.2f}")
    print(f"first prune removed {result.stories} stories, {result.articles} articles, "
          f"vacuumed {result.vacuumed_pages} pages")


if __name__ == "__main__":
    main()
