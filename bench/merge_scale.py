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
import hashlib
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
POOL_FILE = ROOT / ".bench" / f"merge_scale_pool_{WINDOW}.pickle"


def _sql_time(dt: datetime) -> str:
    """How SQLAlchemy's DateTime stores a (naive UTC) datetime in SQLite."""
    return dt.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def pool() -> list[tuple[str, dict, list[str]]]:
    """WINDOW real (title, fingerprint dict, index keys) of generated items; cached in .bench/."""
    if POOL_FILE.exists():
        with open(POOL_FILE, "rb") as f:
            return pickle.load(f)
    from syndicator import similarity

    out = []
    for k in range(WINDOW):
        item = scale_feeds.make_item(7, SOURCES, k % SOURCES, k, WINDOW)
        fp = similarity.fingerprint(
            similarity.Doc(item.title, item.body, item.link, item.published, f"s{k % SOURCES:04d}")
        )
        out.append((item.title, similarity.fingerprint_to_dict(fp), sorted(similarity.index_keys(fp, "event"))))
    POOL_FILE.parent.mkdir(parents=True, exist_ok=True)
    with open(POOL_FILE, "wb") as f:
        pickle.dump(out, f)
    return out


def _salt(key: str, n: int) -> str:
    """An old article's own version of a URL/body/shingle key (headline-word keys stay shared)."""
    if key.startswith(("t:", "e:")):
        return key
    return key[:2] + hashlib.blake2b(f"{key}:{n}".encode(), digest_size=6).hexdigest()


def build(db: Path, size: int) -> dict:
    from syndicator.store import Store

    with Store(f"sqlite:///{db}") as store:  # the real schema, by the real migrations
        store.sync_sources((f"s{i:04d}", f"http://127.0.0.1/{i}") for i in range(SOURCES))
    the_pool = pool()
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    ids = dict(con.execute("SELECT name, id FROM sources"))
    started = time.monotonic()
    window_start = NOW - timedelta(hours=72)
    old_span = timedelta(days=3 * 365)
    batch_a, batch_s, batch_k = [], [], []

    def flush() -> None:
        con.executemany(
            "INSERT INTO articles (id, source_id, guid, url, canonical_url, title, summary, content, text, author,"
            " categories, enclosures, image, language, published, updated, fetched_at, body_hash, content_hash,"
            " story_id, merge_reason, fingerprint) VALUES (?,?,?,?,?,?,'','',?,'','[]','[]','','',?,NULL,?,?,?,?,"
            "'{\"rule\": \"new\"}',?)", batch_a)
        con.executemany(
            "INSERT INTO stories (id, created_at, published, updated, title, chosen_article_id, item_hash)"
            " VALUES (?,?,?,?,?,?,'')", batch_s)
        con.executemany("INSERT INTO article_keys (key, article_id, published) VALUES (?,?,?)", batch_k)
        batch_a.clear()
        batch_s.clear()
        batch_k.clear()

    postings = 0
    for n in range(size):
        k = n % WINDOW
        title, fpd, keys = the_pool[k]
        in_window = n < WINDOW
        if in_window:  # the newest: spread over the 72 hours before NOW
            published = window_start + timedelta(seconds=72 * 3600 * k / WINDOW)
        else:  # older ones, further back than any window reaches
            published = window_start - timedelta(days=1) - old_span * ((n - WINDOW) / max(1, size - WINDOW))
            keys = [_salt(key, n) for key in keys]
        src = n % SOURCES
        aid = f"urn:uuid:bench-a-{n:08d}"
        sid = f"urn:uuid:bench-s-{n:08d}"
        url = f"https://s{src:04d}.bench.example/{n}"
        pub = _sql_time(published)
        fp = dict(fpd, url=url.removeprefix("https://"), published=published.isoformat(), source=f"s{src:04d}")
        if not in_window:
            fp["body_hash"] = hashlib.sha256(f"{fpd['body_hash']}:{n}".encode()).hexdigest()[:32]
        body_hash = next((key[2:] for key in keys if key.startswith("h:")), None)
        batch_a.append((aid, ids[f"s{src:04d}"], url, url, url.removeprefix("https://"), title, title, pub, pub,
                        body_hash, f"{n:032x}", sid, json.dumps(fp)))
        batch_s.append((sid, pub, pub, pub, title, aid))
        batch_k.extend((key, aid, pub) for key in keys)
        postings += len(keys)
        if len(batch_a) >= 5000:
            flush()
    flush()
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return {"articles": size, "postings": postings, "build_s": round(time.monotonic() - started, 1),
            "db_mb": round(db.stat().st_size / 1e6)}


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


def measure(db: Path, out_dir: Path) -> dict:
    from syndicator.config import load_config
    from syndicator.publish import publish_all
    from syndicator.store import Store

    cfg = out_dir / "syndicator.toml"
    lines = ["[storage]", f'url = "sqlite:///{db}"', "[output]", f'dir = "{out_dir / "public"}"',
             "[merge]", "semantic = false"]
    for i in range(NEW_SOURCES):
        lines += ["[[sources]]", f'name = "new{i:02d}"', f'url = "http://127.0.0.1/new/{i}"']
    lines += ["[[feeds]]", 'name = "all"', 'title = "All"', 'sources = ["*"]', "limit = 100"]
    cfg.write_text("\n".join(lines) + "\n")
    config = load_config(cfg)
    batches = [new_entries(i) for i in range(NEW_SOURCES)]
    with Store(config.database_url()) as store:
        store.sync_sources((f"new{i:02d}", f"http://127.0.0.1/new/{i}") for i in range(NEW_SOURCES))
        merged = 0
        start, cpu = time.perf_counter(), time.process_time()
        for i, entries in enumerate(batches):
            stats = store.ingest(f"new{i:02d}", entries, NOW, config.merge.window, "article", None)
            merged += stats.merged
        ingest_s, ingest_cpu = time.perf_counter() - start, time.process_time() - cpu
        publish = []
        for _ in range(2):
            start = time.perf_counter()
            publish_all(store, config, NOW)
            publish.append(time.perf_counter() - start)
    n = NEW_SOURCES * NEW_ITEMS
    return {"new_articles": n, "merged": merged, "ms_per_article": round(1000 * ingest_s / n, 2),
            "cpu_ms_per_article": round(1000 * ingest_cpu / n, 2),
            "publish_first_ms": round(1000 * publish[0], 1), "publish_unchanged_ms": round(1000 * publish[1], 1)}


def one(size: int, work: Path) -> dict:
    db = work / f"store-{size}.db"
    if db.exists():
        db.unlink()
    built = build(db, size)
    result = dict(built, **measure(db, work))
    db.unlink()
    for extra in ("-wal", "-shm"):
        Path(str(db) + extra).unlink(missing_ok=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="syndicator-merge-scale-"))
    if args.one:
        print(json.dumps(one(args.one, work)))
        return 0
    pool()  # made once, outside the timed part of every size
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; load average {os.getloadavg()}", flush=True)
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        proc = subprocess.run([sys.executable, __file__, "--one", str(size), "--workdir", str(work)],
                              capture_output=True, text=True)
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return 1
        results[size] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{size:>9,} stored: {results[size]} load {os.getloadavg()[0]:.1f}", flush=True)
    sizes = sorted(results)
    if len(sizes) > 1:
        lo, hi = results[sizes[0]], results[sizes[-1]]
        print(f"per-article merge ratio {sizes[-1]:,}/{sizes[0]:,}: wall "
              f"{hi['ms_per_article'] / lo['ms_per_article']:.2f}, CPU "
              f"{hi['cpu_ms_per_article'] / lo['cpu_ms_per_article']:.2f} (target <= 2)")
    print(f"publish of a 100-item feed over {sizes[-1]:,} articles: {results[sizes[-1]]['publish_first_ms']} ms "
          f"(target <= 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
