"""The store's side of a refresh, replayed deterministically: same documents, same order, same clock.

A real refresh stores documents in the order the sources answer, so two runs of the same code can group and
link differently at the margin (which 60 stored articles a new one is scored against depends on what is
already stored). To check that a speed change leaves merging and linking exactly as they were, this replays
bench/scale_feeds.py's documents (generation 1, then optionally generation 2: cold, then warm-incremental)
or a folder of feed files (e.g. bench/merge_quality.py's), parsed up front, through ``Store.ingest`` one source
at a time in a fixed order with a fixed ``now``, and dumps what was stored: every article's story (as the
partition of articles into stories), its merge reason, and every related-story link with score and reason.
Two dumps are equal when merging and linking were equal. It also prints the ingest's CPU time (parsing
and fingerprinting excluded, as in a refresh with its pool of workers), which makes it the quickest loop
for profiling the store (py-spy on this process).

    python bench/scale_replay.py --sources 40 --items 50 --gen2 --dump /tmp/ref.json
    python bench/scale_replay.py --feeds DIR --level event --dump /tmp/ecb.json
    python bench/scale_replay.py ... --compare /tmp/ref.json       # exit 1 when anything differs
    python bench/scale_replay.py ... --db postgresql://postgres@127.0.0.1/DB   # (emptied first)
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scale_feeds  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # after every generated item: nothing is clamped
MERGE_WINDOW = 72 * 3600.0  # the defaults of [merge] window and [related] window
RELATED_WINDOW = 14 * 86400.0


def documents(args: argparse.Namespace, gen: int) -> list[tuple[str, str, bytes, str]]:
    """(source name, url, body, content type) in replay order."""
    if args.feeds:
        return [(p.stem, p.as_uri(), p.read_bytes(), "application/rss+xml")
                for p in sorted(Path(args.feeds).glob("*.xml"))]
    out = []
    for i in range(args.sources):
        ctype = "application/atom+xml" if scale_feeds.is_atom(i) else "application/rss+xml"
        out.append((f"s{i:04d}", scale_feeds.feed_url(i, 20, 8765),
                    scale_feeds.render(1, args.sources, args.items, i, gen), ctype))
    return out


def dump(store) -> dict:
    from sqlalchemy import select

    from syndicator.store.schema import ArticleLinkRow, ArticleRow

    with store.session() as s:
        stories: dict[str, list[str]] = {}
        reasons = {}
        for aid, sid, reason in s.execute(select(ArticleRow.id, ArticleRow.story_id, ArticleRow.merge_reason)):
            stories.setdefault(sid, []).append(aid)
            reasons[aid] = reason
        # both ways round: a link is one row since migration 0015 (two before), so that dumps compare across it
        links = sorted({
            (x, y, round(sc, 9), json.dumps(r, sort_keys=True))
            for a, o, sc, r in s.execute(
                select(ArticleLinkRow.article_id, ArticleLinkRow.other_id, ArticleLinkRow.score, ArticleLinkRow.reason)
            )
            for x, y in ((a, o), (o, a))
        })
        links = [list(link) for link in links]
    return {
        "partition": sorted(sorted(m) for m in stories.values()),
        "reasons": {k: reasons[k] for k in sorted(reasons)},
        "links": links,
    }


def compare(a: dict, b: dict) -> list[str]:
    diffs = []
    pa, pb = {tuple(x) for x in a["partition"]}, {tuple(x) for x in b["partition"]}
    if pa != pb:
        diffs.append(f"partition: {len(pa - pb)} stories only in this run, {len(pb - pa)} only in the reference")
    ra, rb = a["reasons"], b["reasons"]
    bad = [k for k in ra.keys() | rb.keys() if ra.get(k) != rb.get(k)]
    if bad:
        diffs.append(f"merge reasons: {len(bad)} articles differ, e.g. {bad[0]}: {ra.get(bad[0])} vs {rb.get(bad[0])}")
    la, lb = {tuple(x) for x in a["links"]}, {tuple(x) for x in b["links"]}
    if la != lb:
        diffs.append(f"links: {len(la - lb)} only in this run, {len(lb - la)} only in the reference")
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=40)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--feeds", help="replay the *.xml files of this folder (sorted by name) instead")
    ap.add_argument("--gen2", action="store_true", help="then generation 2 (10%% new items): warm-incremental")
    ap.add_argument("--cold-caches", action="store_true",
                    help="empty the store's in-process caches before generation 2, as a warm-incremental refresh "
                         "in a new process starts (`syndicator refresh` from cron)")
    ap.add_argument("--level", default="article")
    ap.add_argument("--db", help="store URL (default: a new SQLite file); a PostgreSQL database is emptied first")
    ap.add_argument("--dump", help="write what was stored here (JSON)")
    ap.add_argument("--compare", help="compare what was stored with this dump; exit 1 if they differ")
    args = ap.parse_args(argv)

    from syndicator.prepare import prepare
    from syndicator.store import Store, ingest

    # Story ids are random (uuid4), and when a new article matches several stories created at the same
    # moment (one fixed clock here), the lowest id keeps them and names the merge reason: numbered ids make
    # that choice, and so every merge reason, the same in every replay.
    numbers = itertools.count(1)
    ingest.new_story_id = lambda: f"urn:uuid:{uuid.UUID(int=next(numbers))}"

    tmp = tempfile.TemporaryDirectory()
    url = args.db or f"sqlite:///{tmp.name}/replay.db"
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        eng = create_engine(url)
        with eng.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
    store = Store(url, backup=False)
    gens = (1, 2) if args.gen2 and not args.feeds else (1,)
    docs = {g: documents(args, g) for g in gens}
    store.sync_sources((name, u) for name, u, _b, _c in docs[1])
    result = {}
    for g in gens:
        if g == 2 and args.cold_caches:
            from syndicator.store import related

            related._FP_CACHE.clear()
            related._COMPACT_CACHE.clear()
        # Parsed and fingerprinted up front, as a refresh's pool of workers does (syndicator.prepare): the
        # refresh's own process does what is timed here.
        parsed = []
        for name, u, body, ctype in docs[g]:
            known, known_items = store.known(name)
            parsed.append((name, prepare(body, u, ctype, True, name, known, NOW, known_items)))
        cpu, wall = time.process_time(), time.perf_counter()
        new = 0
        for name, done in parsed:
            new += store.ingest(name, done.parsed.entries, NOW, MERGE_WINDOW, args.level, None, RELATED_WINDOW,
                                fingerprints=done.fingerprints, raw_hashes=done.parsed.raw_hashes,
                                unchanged=done.parsed.unchanged).new_articles
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        label = "cold" if g == 1 else "incremental"
        result[label] = {"articles": new, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                         "cpu_ms_per_article": round(1000 * cpu / max(new, 1), 2)}
        print(f"{label}: {new} new articles, ingest {cpu:.2f} CPU s, {wall:.2f} wall s, "
              f"{1000 * cpu / max(new, 1):.1f} CPU ms an article", flush=True)
    out = dump(store)
    print(f"stories {len(out['partition'])}, links {len(out['links'])}")
    store.close()
    if args.dump:
        Path(args.dump).write_text(json.dumps(out))
    if args.compare:
        diffs = compare(out, json.loads(Path(args.compare).read_text()))
        print("same as the reference" if not diffs else "DIFFERENT:\n  " + "\n  ".join(diffs))
        return 1 if diffs else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
