"""What the store's in-process caches hold after a replayed cold refresh (tracemalloc), and per memo entry.

The refresh's peak RSS is mostly the interpreter and its libraries (~60 MB) plus the caches of
``syndicator.store.related``: the fingerprint cache (1,024 decoded fingerprints with their memoised sets)
and the compact records (up to 16,384). This replays N x 50 generated items through ``Store.ingest`` as
bench/scale_replay.py does, then frees each cache in turn and reports what that gave back, and the average
size of each memoised value of a cached fingerprint (deep ``sys.getsizeof``; a value shared by two entries is
counted under the first).

    python bench/cache_memory.py --sources 40
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import tracemalloc
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale_replay


def _deep(o: object, seen: set[int]) -> int:
    if id(o) in seen:
        return 0
    seen.add(id(o))
    size = sys.getsizeof(o)
    if isinstance(o, dict):
        size += sum(_deep(k, seen) + _deep(v, seen) for k, v in o.items())
    elif isinstance(o, (list, tuple, set, frozenset)):
        size += sum(_deep(x, seen) for x in o)
    elif hasattr(o, "__dict__"):
        size += _deep(o.__dict__, seen)
    elif hasattr(o, "__slots__"):
        size += sum(_deep(getattr(o, a), seen) for a in o.__slots__ if hasattr(o, a))
    return size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=40)
    ap.add_argument("--items", type=int, default=50)
    args = ap.parse_args(argv)

    from syndicator.prepare import prepare
    from syndicator.store import Store, related

    replay = argparse.Namespace(sources=args.sources, items=args.items, feeds=None, gen2=False, level="article")
    tmp = tempfile.TemporaryDirectory()
    store = Store(f"sqlite:///{tmp.name}/cache.db", backup=False)
    docs = scale_replay.documents(replay, 1)
    store.sync_sources((name, url) for name, url, _body, _ctype in docs)
    tracemalloc.start()
    for name, url, body, ctype in docs:  # parsed one at a time, as the refresh's pool hands them over
        done = prepare(body, url, ctype, True, name, {}, scale_replay.NOW)
        store.ingest(name, done.parsed.entries, scale_replay.NOW, scale_replay.MERGE_WINDOW, "article", None,
                     scale_replay.RELATED_WINDOW, fingerprints=done.fingerprints)

    fps = list(related._FP_CACHE.entries.values())
    sizes: Counter[str] = Counter()
    for fp in fps:
        seen: set[int] = set()
        for name, value in fp.__dict__.get("_memo", {}).items():
            sizes[name] += _deep(value, seen)
    n_fps = len(fps)
    del fps, docs, done  # or clearing the cache would free nothing

    def traced() -> float:
        gc.collect()
        return tracemalloc.get_traced_memory()[0] / 2**20

    total, peak = traced(), tracemalloc.get_traced_memory()[1] / 2**20
    print(f"{args.sources} x {args.items} items: traced {total:.1f} MB now, peak {peak:.1f} MB")
    for label, cache in (("fingerprint cache", related._FP_CACHE), ("compact cache", related._COMPACT_CACHE)):
        n = len(cache.entries)
        before = traced()
        cache.clear()
        freed = before - traced()
        print(f"{label}: {n} entries, {freed:.1f} MB, {1024 * freed / max(n, 1):.1f} KB an entry")
    print(f"the rest: {traced():.1f} MB")
    print("memoised values of a cached fingerprint, KB on average:")
    for name, size in sizes.most_common():
        print(f"  {name:20s} {size / max(n_fps, 1) / 1024:6.1f}")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
