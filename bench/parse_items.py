"""What leaving the known items out of a parse saves, and that it changes nothing else (syndicator.parse.items).

Two parts, one run:

- time: documents of ``bench/scale_feeds.py`` (N sources x 50 items of about 2 KB), parsed whole and with all
  but their first ``--new`` items known (5: a warm-incremental refresh's 10% new; 1: a source polled often),
  taking turns in one process (CPU ms a document, median of the rounds, and the ratio);
- sameness: every feed file of the shared corpus (``../shared/data/feeds``, about 2,300 files) parsed whole and
  with every other item known, both ways round: the entries must be the whole parse's minus the known ones,
  with the same title, language, kind and warning. Differences are listed; the run fails on any.

    python bench/parse_items.py                 # 20 sources, 5 rounds, 5 and 1 new items, the whole corpus
    python bench/parse_items.py --sources 40 --rounds 9 --new 2 --no-corpus
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scale_feeds  # noqa: E402

from syndicator.errors import ParseError  # noqa: E402
from syndicator.parse import parse_document  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "feeds"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/data/feeds")


def timing(sources: int, rounds: int, new: int) -> dict:
    docs = []
    for s in range(sources):
        ctype = "application/atom+xml" if scale_feeds.is_atom(s) else "application/rss+xml"
        body = scale_feeds.render(1, sources, 50, s, 1)
        first = parse_document(body, "https://bench.example/f", ctype)
        # every item known but the first ``new``: what a source that gained ``new`` items on top sends
        known = {h: g for i, (g, h) in enumerate(first.raw_hashes.items()) if i >= new}
        docs.append((body, ctype, known))
    whole, cut = [], []
    parsed = left_out = 0
    for _ in range(rounds):
        for out, use_known in ((whole, False), (cut, True)):
            cpu = time.process_time()
            for body, ctype, known in docs:
                feed = parse_document(body, "https://bench.example/f", ctype, known_items=known if use_known else None)
                if use_known:
                    parsed, left_out = parsed + len(feed.entries), left_out + len(feed.unchanged)
            out.append((time.process_time() - cpu) / len(docs) * 1000)
    return {
        "documents": sources, "bytes": sum(len(b) for b, _, _ in docs) // sources,
        "whole_ms": statistics.median(whole), "cut_ms": statistics.median(cut),
        "ratio": statistics.median(cut) / statistics.median(whole),
        "parsed_per_doc": parsed / rounds / sources, "left_out_per_doc": left_out / rounds / sources,
    }


def sameness() -> tuple[int, int, list[str]]:
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".md", ".csv"))
    checked = split = 0
    problems = []
    warnings.simplefilter("ignore")
    for path in files:
        body = path.read_bytes()
        url = "http://127.0.0.1/" + path.name
        try:
            whole = parse_document(body, url, "")
        except ParseError:
            continue
        except Exception as exc:  # a crash is a finding here, listed with the rest
            problems.append(f"{path}: whole parse raised {exc!r}")
            continue
        checked += 1
        first = parse_document(body, url, "", known_items={})
        if (first.entries, first.title, first.warning, first.kind) != (
                whole.entries, whole.title, whole.warning, whole.kind):
            problems.append(f"{path}: differs with nothing known")
            continue
        if len(first.raw_hashes) < 2:
            continue
        split += 1
        for parity in (0, 1):
            known = {h: g for i, (g, h) in enumerate(first.raw_hashes.items()) if i % 2 == parity}
            again = parse_document(body, url, "", known_items=known)
            out = set(known.values())
            if again.entries != tuple(e for e in whole.entries if e.guid not in out) or set(again.unchanged) != out:
                problems.append(f"{path}: entries differ with every other item known ({parity})")
            elif (again.title, again.language, again.warning, again.kind) != (
                    whole.title, whole.language, whole.warning, whole.kind):
                problems.append(f"{path}: the feed's fields differ with every other item known ({parity})")
    return checked, split, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--new", type=int, action="append", help="new items a document (default: 5 and 1)")
    ap.add_argument("--no-corpus", action="store_true", help="time only")
    args = ap.parse_args(argv)
    for new in args.new or (5, 1):
        t = timing(args.sources, args.rounds, new)
        print(f"{t['documents']} documents of {t['bytes']:,} bytes, {t['parsed_per_doc']:.0f} items parsed and "
              f"{t['left_out_per_doc']:.0f} left out a document: whole {t['whole_ms']:.1f} ms, known items left "
              f"out {t['cut_ms']:.1f} ms CPU a document (median of {args.rounds}): {t['ratio']:.3f}x")
    if args.no_corpus:
        return 0
    checked, split, problems = sameness()
    print(f"corpus: {checked} documents parsed, {split} with several items each parsed twice more with every "
          f"other item known; {len(problems)} difference(s)")
    for p in problems[:50]:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
