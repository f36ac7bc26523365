"""Throughput of 1, 2 and 4 ``syndicator worker`` processes sharing one PostgreSQL store.

The corpus: the UCI News Aggregator sample (../shared/data/stories/uci_news_head5000.csv, 5,000 real
headlines of 2014), one RSS source per publisher host (1,715 sources), served by a local HTTP server
(tests/corpus.py) that logs every request. For each worker count, in one run: a fresh PostgreSQL
database, N worker processes started together, and the time until every source has been fetched,
merged and stored (no lease left) and the feeds published. Reported side by side, as ratios to one worker,
with the CPU seconds spent: by the worker processes (their rusage), by their PostgreSQL backends (from
/proc, read just before the workers stop) and by this process (the HTTP server), and the load average:
on a shared machine, wall-clock time says little without them.

    .venv/bin/python bench/workers.py --workers 1 2 4

Needs the PostgreSQL server at 127.0.0.1:5432 (user postgres, trust auth), like the tests.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from syndicator.store import SourceRow, Store  # noqa: E402
from syndicator.store.schema import FeedStateRow  # noqa: E402
from tests.corpus import CorpusServer  # noqa: E402
from tests.feedmaker import It, rss2  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "stories" / "uci_news_head5000.csv"
if not DATA.exists():
    DATA = Path("/work/shared/data/stories/uci_news_head5000.csv")
PG = "postgresql://postgres@127.0.0.1:5432"


def uci_feeds(limit: int | None) -> tuple[dict[str, bytes], int]:
    by_host: dict[str, list[It]] = defaultdict(list)
    with open(DATA, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            when = datetime.fromtimestamp(int(row["TIMESTAMP"]) / 1000, UTC)
            by_host[row["HOSTNAME"]].append(It(row["TITLE"], row["URL"], row["ID"], published=when))
    hosts = sorted(by_host)[:limit] if limit else sorted(by_host)
    feeds = {f"/{k:05d}.xml": rss2(by_host[h], title=h) for k, h in enumerate(hosts)}
    return feeds, sum(len(by_host[h]) for h in hosts)


def admin(sql: str) -> None:
    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        conn.execute(sql)


def config(folder: Path, db_url: str, server: CorpusServer, paths: list[str]) -> Path:
    lines = [
        "[storage]", f'url = "{db_url}"',
        "[output]", 'dir = "public"', 'base_url = "http://127.0.0.1:8080/"',
        "[fetch]", 'default_interval = "1d"', "per_host = 8",
        "[merge]", "semantic = false",
        "[scheduler]", 'tick = "0.5s"', 'lease = "30s"', "batch = 16",
    ]
    for k, path in enumerate(paths):
        lines += ["[[sources]]", f'name = "s{k:05d}"', f'url = "{server.url(path)}"']
    lines += ["[[feeds]]", 'name = "all"', "limit = 500", 'sources = ["*"]']
    cfg = folder / "syndicator.toml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def _backend_cpu(database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to ``database`` (same machine only)."""
    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone, or another machine's
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run(workers: int, feeds: dict[str, bytes], timeout: float) -> dict:
    name = f"bench_workers_{os.getpid()}_{workers}"
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}"')
    db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    Store(db_url).close()  # the schema, so that the clock measures work, not four migrations racing
    try:
        with tempfile.TemporaryDirectory() as tmp, CorpusServer(feeds) as server:
            cfg = config(Path(tmp), db_url, server, sorted(feeds))
            children, own, load = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF), os.getloadavg()[0]
            start = time.monotonic()
            procs = [
                subprocess.Popen([sys.executable, "-m", "syndicator", "--config", str(cfg), "-q", "worker"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(workers)
            ]
            try:
                with Store(db_url, migrate=False) as store:
                    while True:
                        if time.monotonic() - start > timeout:
                            raise SystemExit(f"{workers} worker(s): not done after {timeout:.0f}s")
                        with store.session() as s:
                            left = s.scalar(select(func.count()).select_from(SourceRow).where(
                                SourceRow.last_fetch_at.is_(None) | (SourceRow.lease_owner != "")))
                            total = s.scalar(select(func.count()).select_from(SourceRow))
                            published = s.get(FeedStateRow, ".last-publish")
                            last_fetch = s.scalar(select(func.max(SourceRow.last_fetch_at)))
                        if total == len(feeds) and left == 0 and published and published.updated >= last_fetch:
                            break
                        time.sleep(0.2)
                    elapsed = time.monotonic() - start
                    own = _cpu(resource.RUSAGE_SELF) - own
                    backends = _backend_cpu(name)
                    articles, stories = store.count_articles(), store.count_stories()
            finally:
                for p in procs:
                    p.send_signal(signal.SIGTERM)
                for p in procs:
                    p.wait(timeout=60)
            fetches = len(server.fetches())
            children = _cpu(resource.RUSAGE_CHILDREN) - children
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {"workers": workers, "seconds": elapsed, "articles": articles, "stories": stories, "fetches": fetches,
            "worker_cpu": children, "pg_cpu": backends, "server_cpu": own, "load": (load, os.getloadavg()[0])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--sources", type=int, default=0, help="only the first N publisher hosts (0: all)")
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    feeds, n_articles = uci_feeds(args.sources or None)
    print(f"corpus: {len(feeds)} sources, {n_articles} articles ({DATA.name}); {os.cpu_count()} CPU(s)")
    results = [run(n, feeds, args.timeout) for n in args.workers]
    base = results[0]["seconds"]
    print(f"{'workers':>7} {'seconds':>8} {'sources/s':>10} {'articles/s':>11} {'vs first':>9} "
          f"{'stories':>8} {'articles':>9} {'fetches':>8} {'worker CPU s':>12} {'PG CPU s':>9} "
          f"{'server CPU s':>12} {'load before/after':>17}")
    for r in results:
        print(f"{r['workers']:>7} {r['seconds']:>8.1f} {len(feeds) / r['seconds']:>10.1f} "
              f"{r['articles'] / r['seconds']:>11.1f} {base / r['seconds']:>8.2f}x "
              f"{r['stories']:>8} {r['articles']:>9} {r['fetches']:>8} {r['worker_cpu']:>12.1f} "
              f"{r['pg_cpu']:>9.1f} {r['server_cpu']:>12.1f} {r['load'][0]:>8.1f}/{r['load'][1]:<8.1f}")


if __name__ == "__main__":
    main()
