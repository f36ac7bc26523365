"""Merge and publish cost as the store grows: per-article merge time at 10k, 100k and 1M stored articles.

Each store is made with the real schema (Alembic migrations, through ``Store``) and then bulk-filled by
plain SQL inserts: sources, one story per article, articles with their fingerprints, and the merge index
(``article_keys``) with each article's real postings. The newest WINDOW articles (10,000) are real
fingerprints of generated items (bench/scale_feeds.py: UCI headlines, ECB+ word-chain bodies) spread over
the 72 hours before the new articles, so that every new article has a full merge window of candidates to
find (the window alone does not do the work); the rest are older, reusing those fingerprints with their own
URL, body and shingle keys, so the index holds a realistic number of postings per article.

Then a batch of new articles (4 sources × 25 items, one in ten a copy of a stored body, so merges happen)
goes through the real ``Store.ingest``; the time per new article is reported. Then ``publish_all`` renders a
100-item feed (three formats, index page, OPML) over the whole store, twice (a first publish, and one with
nothing changed). Each size runs in a fresh process, so no cache carries over.

    python bench/merge_scale.py                        # 10k, 100k, 1M
    python bench/merge_scale.py --sizes 10000,100000   # what fits in the time you have
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scale_feeds  # noqa: E402

WINDOW = 10_000  # stored articles inside the merge window of the new ones
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NEW_SOURCES, NEW_ITEMS = 4, 25  # 100 new articles: each takes a full window of candidates
SOURCES = 200
POOL_VERSION = 2  # 2: the postings include relate's r: keys, as Store.ingest writes them
POOL_FILE = ROOT / ".bench" / f"merge_scale_pool_v{POOL_VERSION}_{WINDOW}.pickle"
# Keys an old article shares with the window's articles (words); the others (URL, body hash, body prefix,
# shingles) are its own.
SHARED_PREFIXES = ("t:", "e:", "r:")


def _sql_time(dt: datetime) -> str:
    """How SQLAlchemy's DateTime stores a (naive UTC) datetime in SQLite."""
    return dt.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def pool() -> list[tuple[str, dict, list[str]]]:
    """WINDOW real (title, fingerprint dict, index keys) of generated items; cached in .bench/.

    The keys are those ``Store.ingest`` writes: event-level similarity keys and relate's ``r:`` keys.
    """
    if POOL_FILE.exists():
        with open(POOL_FILE, "rb") as f:
            return pickle.load(f)
    from syndicator import relate, similarity

    out = []
    for k in range(WINDOW):
        item = scale_feeds.make_item(7, SOURCES, k % SOURCES, k, WINDOW)
        fp = similarity.fingerprint(
            similarity.Doc(item.title, item.body, item.link, item.published, f"s{k % SOURCES:04d}")
        )
        keys = sorted(similarity.index_keys(fp, "event") | relate.index_keys(fp))
        out.append((item.title, similarity.fingerprint_to_dict(fp), keys))
    POOL_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(POOL_FILE, "wb") as f:
        pickle.dump(out, f)
    return out


# The old articles, made by SQLite itself from the pool (bench_pool, bench_pool_keys) and the numbers
# WINDOW..size-1 (bench_old): a Python loop over 1M articles and 24M postings took most of an hour.
_OLD_ARTICLES = """
INSERT INTO articles (id, source_id, guid, url, canonical_url, title, summary, content, text, author, categories,
    enclosures, image, language, published, updated, fetched_at, body_hash, content_hash, story_id, merge_reason,
    fingerprint)
SELECT 'urn:uuid:bench-a-' || printf('%08d', o.n), src.id, o.url, o.url, substr(o.url, 9), p.title, '', '',
    p.title, '', '[]', '[]', '', '', o.pub, NULL, o.pub,
    CASE WHEN p.h_j IS NULL THEN NULL ELSE printf('%06x%06x', p.h_j, o.n) END,
    printf('%032x', o.n), 'urn:uuid:bench-s-' || printf('%08d', o.n), '{"rule": "new"}',
    json_set(p.fp, '$.url', substr(o.url, 9), '$.published', o.iso, '$.source', src.name,
             '$.body_hash', printf('%032x', o.n))
FROM bench_old o JOIN bench_pool p ON p.k = o.n % :window JOIN bench_src src ON src.n = o.n % :sources
ORDER BY o.n
"""
_OLD_STORIES = """
INSERT INTO stories (id, created_at, published, updated, title, chosen_article_id, item_hash)
SELECT 'urn:uuid:bench-s-' || printf('%08d', o.n), o.pub, o.pub, o.pub, p.title,
    'urn:uuid:bench-a-' || printf('%08d', o.n), ''
FROM bench_old o JOIN bench_pool p ON p.k = o.n % :window ORDER BY o.n
"""
# Every posting at once, sorted by the primary key: SQLite then appends to its index instead of inserting
# 24M random keys into a B-tree far larger than its cache (what made the old build superlinear).
_ALL_POSTINGS = """
INSERT INTO article_keys (key, article_id, published)
SELECT key, article_id, published FROM (
    SELECT key, article_id, published FROM bench_window_keys
    UNION ALL
    SELECT CASE WHEN pk.shared THEN pk.key ELSE substr(pk.key, 1, 2) || printf('%06x%06x', pk.j, o.n) END,
           'urn:uuid:bench-a-' || printf('%08d', o.n), o.pub
    FROM bench_old o JOIN bench_pool_keys pk ON pk.k = o.n % :window
) ORDER BY key, article_id
"""


def build(db: Path, size: int) -> dict:
    from syndicator.store import Store

    with Store(f"sqlite:///{db}") as store:  # the real schema, by the real migrations
        store.sync_sources((f"s{i:04d}", f"http://127.0.0.1/{i}") for i in range(SOURCES))
    the_pool = pool()
    started = time.monotonic()
    con = sqlite3.connect(db, isolation_level=None)
    # A throwaway file being filled: no journal, no fsync; temporary sort files beside the store.
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE", "cache_size=-1000000",
                   "temp_store=FILE", "foreign_keys=OFF"):
        con.execute(f"PRAGMA {pragma}")
    # Secondary indexes are made after the load (one sort each) rather than maintained row by row.
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name IN ('articles', 'stories', 'article_keys')"
    ).fetchall()
    con.execute("BEGIN")
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    con.execute("CREATE TEMP TABLE bench_src (n INTEGER PRIMARY KEY, id INTEGER, name TEXT)")
    con.executemany("INSERT INTO bench_src VALUES (?, ?, ?)",
                    [(int(name[1:]), sid, name) for name, sid in con.execute("SELECT name, id FROM sources")
                     if name.startswith("s")])
    con.execute("CREATE TEMP TABLE bench_pool (k INTEGER PRIMARY KEY, title TEXT, fp TEXT, h_j INTEGER)")
    con.execute("CREATE TEMP TABLE bench_pool_keys (k INTEGER, j INTEGER, key TEXT, shared INTEGER)")
    con.execute("CREATE TEMP TABLE bench_window_keys (key TEXT, article_id TEXT, published TEXT)")
    pool_rows, pool_keys = [], []
    j = 0
    for k, (title, fpd, keys) in enumerate(the_pool):
        h_j = None
        for key in keys:
            if key.startswith("h:"):
                h_j = j
            pool_keys.append((k, j, key, key.startswith(SHARED_PREFIXES)))
            j += 1
        pool_rows.append((k, title, json.dumps(fpd), h_j))
    con.executemany("INSERT INTO bench_pool VALUES (?, ?, ?, ?)", pool_rows)
    con.executemany("INSERT INTO bench_pool_keys VALUES (?, ?, ?, ?)", pool_keys)
    con.execute("CREATE INDEX temp.bench_pool_keys_k ON bench_pool_keys (k)")

    # The newest WINDOW articles: real fingerprints spread over the 72 hours before NOW.
    window_start = NOW - timedelta(hours=72)
    source_ids = {n: sid for n, sid, _ in con.execute("SELECT n, id, name FROM bench_src")}
    batch_a, batch_s, batch_k = [], [], []
    for n in range(min(size, WINDOW)):
        title, fpd, keys = the_pool[n]
        published = window_start + timedelta(seconds=72 * 3600 * n / WINDOW)
        src = n % SOURCES
        aid, sid = f"urn:uuid:bench-a-{n:08d}", f"urn:uuid:bench-s-{n:08d}"
        url = f"https://s{src:04d}.bench.example/{n}"
        pub = _sql_time(published)
        fp = dict(fpd, url=url.removeprefix("https://"), published=published.isoformat(), source=f"s{src:04d}")
        batch_a.append((aid, source_ids[src], url, url,
                        url.removeprefix("https://"), title, title, pub, pub, fpd["body_hash"] or None,
                        f"{n:032x}", sid, json.dumps(fp)))
        batch_s.append((sid, pub, pub, pub, title, aid))
        batch_k.extend((key, aid, pub) for key in keys)
    con.executemany(
        "INSERT INTO articles (id, source_id, guid, url, canonical_url, title, summary, content, text, author,"
        " categories, enclosures, image, language, published, updated, fetched_at, body_hash, content_hash,"
        " story_id, merge_reason, fingerprint) VALUES (?,?,?,?,?,?,'','',?,'','[]','[]','','',?,NULL,?,?,?,?,"
        "'{\"rule\": \"new\"}',?)", batch_a)
    con.executemany(
        "INSERT INTO stories (id, created_at, published, updated, title, chosen_article_id, item_hash)"
        " VALUES (?,?,?,?,?,?,'')", batch_s)
    con.executemany("INSERT INTO bench_window_keys VALUES (?, ?, ?)", batch_k)

    # The older ones, evenly spread over three years before the window (whole seconds).
    old_first = window_start - timedelta(days=1)
    span = 3 * 365 * 86400
    con.execute("CREATE TEMP TABLE bench_old (n INTEGER PRIMARY KEY, url TEXT, pub TEXT, iso TEXT)")
    con.execute(
        """
        WITH RECURSIVE seq(n) AS (SELECT :first UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < :size),
        t(n, at) AS (SELECT n, :base - CAST(:span * (n - :first) / MAX(1, :size - :first) AS INTEGER) FROM seq)
        INSERT INTO bench_old
        SELECT n, 'https://s' || printf('%04d', n % :sources) || '.bench.example/' || n,
               datetime(at, 'unixepoch') || '.000000', strftime('%Y-%m-%dT%H:%M:%S+00:00', at, 'unixepoch')
        FROM t
        """,
        {"first": WINDOW, "size": size, "base": int(old_first.timestamp()), "span": span, "sources": SOURCES},
    )
    params = {"window": WINDOW, "sources": SOURCES}
    phases = {"window": time.monotonic() - started}
    for name, sql in (("articles", _OLD_ARTICLES), ("stories", _OLD_STORIES), ("postings", _ALL_POSTINGS)):
        t = time.monotonic()
        con.execute(sql, params)
        phases[name] = time.monotonic() - t
    postings = con.execute("SELECT count(*) FROM article_keys").fetchone()[0]
    t = time.monotonic()
    for _, sql in indexes:
        con.execute(sql)
    con.execute("COMMIT")
    phases["indexes"] = time.monotonic() - t
    for table in ("bench_src", "bench_pool", "bench_pool_keys", "bench_window_keys", "bench_old"):
        con.execute(f"DROP TABLE temp.{table}")
    con.execute("PRAGMA journal_mode=WAL")  # as Store leaves it
    con.close()
    return {"articles": size, "postings": postings, "build_s": round(time.monotonic() - started, 1),
            "build_phases_s": {k: round(v, 1) for k, v in phases.items()}, "db_mb": round(db.stat().st_size / 1e6)}


def new_entries(source: int):
    """NEW_ITEMS entries of a new source, the last minutes before NOW; one in ten a stored body."""
    from syndicator.model import Entry

    rng = random.Random(f"new:{source}")
    out = []
    for j in range(NEW_ITEMS):
        seq = 10_000_000 + source * NEW_ITEMS + j
        item = scale_feeds.make_item(11, NEW_SOURCES, source, seq, seq)
        body = item.body
        if rng.randrange(10) == 0:  # a wire copy of a stored article inside the window
            k = rng.randrange(WINDOW)
            body = scale_feeds.make_item(7, SOURCES, k % SOURCES, k, WINDOW).body
        published = NOW - timedelta(minutes=NEW_ITEMS - j)
        out.append(Entry(guid=item.guid, url=item.link, title=item.title, summary=body, text=body,
                         published=published))
    return out


def _config(db: Path, out_dir: Path):
    from syndicator.config import load_config

    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = out_dir / "syndicator.toml"
    lines = ["[storage]", f'url = "sqlite:///{db}"', "[output]", f'dir = "{out_dir / "public"}"',
             "[merge]", "semantic = false"]
    # Every source of the store is configured, so the feed of all sources is one of the whole store.
    for i in range(SOURCES):
        lines += ["[[sources]]", f'name = "s{i:04d}"', f'url = "http://127.0.0.1/{i}"']
    for i in range(NEW_SOURCES):
        lines += ["[[sources]]", f'name = "new{i:02d}"', f'url = "http://127.0.0.1/new/{i}"']
    lines += ["[[feeds]]", 'name = "all"', 'title = "All"', 'sources = ["*"]', "limit = 100"]
    cfg.write_text("\n".join(lines) + "\n")
    return load_config(cfg)


def _publish_thrice(store, config, profile: Path | None = None, repeats: int = 1) -> dict:
    """A publish that renders and writes every file, one with nothing changed, then, in the same process
    (a daemon's steady state: SQL statements compiled, modules loaded), one after one new article: the
    feed regenerated (wall and CPU ms); that one ``repeats`` times, a new article each time, reporting
    the median (and every run)."""
    import statistics

    from syndicator.publish import publish_all

    out: dict = {}
    runs: dict[str, list[float]] = {"ms": [], "cpu_ms": []}
    for label in ("first", "unchanged", *["one_new"] * repeats):
        if label == "one_new":
            # A new story at the feed's head, another one each run (--republish runs over one store).
            from syndicator.model import Entry

            seq = 20_000_000 + time.time_ns() // 1000 % 1_000_000
            item = scale_feeds.make_item(11, NEW_SOURCES, 0, seq, seq)
            entry = Entry(guid=f"{item.guid}-{seq}", url=f"{item.link}?{seq}", title=item.title,
                          summary=item.body, text=item.body, published=NOW)
            store.sync_sources([("new00", "http://127.0.0.1/new/0")])  # a configured source: in the feed
            store.ingest("new00", [entry], NOW, config.merge.window, "article", None)
        profiler = None
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        start, cpu = time.perf_counter(), time.process_time()
        written = publish_all(store, config, NOW).written
        wall_ms, cpu_ms = 1000 * (time.perf_counter() - start), 1000 * (time.process_time() - cpu)
        out[f"publish_{label}_ms"] = round(wall_ms, 1)
        out[f"publish_{label}_cpu_ms"] = round(cpu_ms, 1)
        out[f"publish_{label}_files"] = len(written)
        if label == "one_new":
            runs["ms"].append(round(wall_ms, 1))
            runs["cpu_ms"].append(round(cpu_ms, 1))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{profile}-{label}.prof")
    if repeats > 1:
        out["publish_one_new_ms"] = round(statistics.median(runs["ms"]), 1)
        out["publish_one_new_cpu_ms"] = round(statistics.median(runs["cpu_ms"]), 1)
        out["publish_one_new_runs_ms"], out["publish_one_new_runs_cpu_ms"] = runs["ms"], runs["cpu_ms"]
    return out


def measure(db: Path, out_dir: Path, profile: Path | None = None, repeats: int = 1) -> dict:
    from syndicator.store import Store

    config = _config(db, out_dir)
    batches = [new_entries(i) for i in range(NEW_SOURCES)]
    with Store(config.database_url()) as store:
        store.sync_sources((f"new{i:02d}", f"http://127.0.0.1/new/{i}") for i in range(NEW_SOURCES))
        merged = 0
        start, cpu = time.perf_counter(), time.process_time()
        for i, entries in enumerate(batches):
            stats = store.ingest(f"new{i:02d}", entries, NOW, config.merge.window, "article", None)
            merged += stats.merged
        ingest_s, ingest_cpu = time.perf_counter() - start, time.process_time() - cpu
        publish = _publish_thrice(store, config, profile, repeats)
    n = NEW_SOURCES * NEW_ITEMS
    return {"new_articles": n, "merged": merged, "ms_per_article": round(1000 * ingest_s / n, 2),
            "cpu_ms_per_article": round(1000 * ingest_cpu / n, 2), **publish}


def republish(db: Path, out_dir: Path, profile: Path | None = None, repeats: int = 1) -> dict:
    """Publishing again over a store kept by ``--keep``: the output folder emptied first."""
    import shutil

    from syndicator.store import Store

    config = _config(db, out_dir)
    shutil.rmtree(out_dir / "public", ignore_errors=True)
    # A throwaway store: a schema upgrade needs no backup (a copy of 12 GB at 1M).
    with Store(config.database_url(), backup=False) as store:
        return _publish_thrice(store, config, profile, repeats)


def one(size: int, work: Path, keep: bool, again: bool, profile: Path | None, repeats: int = 1) -> dict:
    db = work / f"store-{size}.db"
    out_dir = work / f"out-{size}"
    if again:
        return republish(db, out_dir, profile, repeats)
    if db.exists():
        db.unlink()
    built = build(db, size)
    result = dict(built, **measure(db, out_dir, profile, repeats))
    if not keep:
        db.unlink()
        for extra in ("-wal", "-shm"):
            Path(str(db) + extra).unlink(missing_ok=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--keep", action="store_true", help="keep each store in --workdir (for --republish)")
    ap.add_argument("--republish", action="store_true",
                    help="only publish again over the stores a --keep run left in --workdir")
    ap.add_argument("--profile", default="", help="cProfile each publish into PREFIX-SIZE-{first,unchanged}.prof")
    ap.add_argument("--repeats", type=int, default=1,
                    help="regenerate the feed after one new article N times in the same process; the median")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if (args.keep or args.republish) and not args.workdir:
        ap.error("--keep and --republish need --workdir")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="syndicator-merge-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.one:
        profile = Path(f"{args.profile}-{args.one}") if args.profile else None
        print(json.dumps(one(args.one, work, args.keep, args.republish, profile, args.repeats)))
        return 0
    pool()  # made once, outside the timed part of every size
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; load average {os.getloadavg()}", flush=True)
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, __file__, "--one", str(size), "--workdir", str(work), "--profile", args.profile,
               "--repeats", str(args.repeats)]
        cmd += ["--keep"] * args.keep + ["--republish"] * args.republish
        # SQLite's temporary sort files (the build sorts every posting) beside the stores, not in /tmp
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, SQLITE_TMPDIR=str(work)))
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return 1
        results[size] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{size:>9,} stored: {results[size]} load {os.getloadavg()[0]:.1f}", flush=True)
    sizes = sorted(results)
    if len(sizes) > 1 and not args.republish:
        lo, hi = results[sizes[0]], results[sizes[-1]]
        print(f"per-article merge ratio {sizes[-1]:,}/{sizes[0]:,}: wall "
              f"{hi['ms_per_article'] / lo['ms_per_article']:.2f}, CPU "
              f"{hi['cpu_ms_per_article'] / lo['cpu_ms_per_article']:.2f} (target <= 2)")
    last = results[sizes[-1]]
    print(f"publish of a 100-item feed over {sizes[-1]:,} articles: first in a fresh process "
          f"{last['publish_first_ms']} ms, after one new article in the same process {last['publish_one_new_ms']} ms "
          f"{'(median of ' + str(args.repeats) + ') ' if args.repeats > 1 else ''}"
          f"({last['publish_one_new_cpu_ms']} ms CPU) (target <= 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
