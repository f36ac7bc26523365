"""Every file of the feed corpus through the real ingest path: ``syndicator refresh`` over file sources.

The corpus (../shared/data/feeds/, about 2,300 files: feedparser's own test suite with its ill-formed XML,
wrong and missing encodings and entity soup, real-world feeds, HTML pages, empty files, JSON Feeds, a
1.6 MB podcast feed) becomes one configuration with one file source per file, in batches; each batch is
one real ``syndicator refresh`` process against one SQLite store. Reported:

- files, and crashes: a refresh that dies (exit status other than 0 or 1) or prints a Python traceback,
  or a source whose error says "internal error" (the refresh's last line of defence caught an exception
  that a root-cause fix should have prevented). A crashing batch is re-run one file at a time to name
  the file. Must be 0.
- files with entries stored, entries stored, and files where feedparser's reference parse (MANIFEST.csv,
  ``fp_entries``) finds entries but nothing was stored (must be 0);
- sources with a recorded error (failed, or a parse warning such as feedparser's bozo), and that each of
  them is shown by ``syndicator sources list``;
- a second refresh of the same files (nothing new must be stored), wall time and peak memory (max RSS of
  the refresh processes).

    python bench/corpus.py                        # every file, batches of 600
    python bench/corpus.py --batch 100 --limit 300 --keep /tmp/corpus-run
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "feeds"
if not DEFAULT_CORPUS.is_dir():
    DEFAULT_CORPUS = Path("/work/shared/data/feeds")


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file())


def write_config(folder: Path, files: list[tuple[str, Path]]) -> Path:
    lines = [
        # keep_days = 0: retention would prune what the one output feed does not show, and the count of
        # stored entries is what this measures.
        "[storage]", 'url = "sqlite:///store.db"', "keep_days = 0",
        "[output]", 'dir = "public"', 'base_url = "http://127.0.0.1:8080/"',
        # Every corpus file is under the default 10 MB cap; semantic matching would only add model time.
        "[merge]", "semantic = false",
    ]
    for name, path in files:
        lines += ["[[sources]]", f"name = {json.dumps(name)}", f"url = {json.dumps(path.resolve().as_uri())}"]
    lines += ["[[feeds]]", 'name = "all"', 'title = "Corpus"', 'sources = ["*"]']
    cfg = folder / "syndicator.toml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def run_cli(cfg: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "syndicator", "--config", str(cfg), *args],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return proc, time.monotonic() - started


def crashed(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode not in (0, 1) or "Traceback (most recent call last)" in proc.stderr


def bisect(files: list[tuple[str, Path]], folder: Path, corpus: Path) -> list[tuple[str, str]]:
    """Name the file(s) that make a refresh crash: halve the batch, each half in a store of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    proc, _ = run_cli(write_config(folder, files), "refresh")
    if not crashed(proc):
        return []
    if len(files) == 1:
        return [(str(files[0][1].relative_to(corpus)), proc.stderr.strip()[-800:])]
    half = len(files) // 2
    found = bisect(files[:half], folder / "a", corpus) + bisect(files[half:], folder / "b", corpus)
    return found or [(f"{len(files)} files together", proc.stderr.strip()[-800:])]


def source_states(db: Path) -> dict[str, dict]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT s.name, s.last_outcome, s.last_error, s.parse_warning,"
            " (SELECT count(*) FROM articles a WHERE a.source_id = s.id) FROM sources s"
        ).fetchall()
    finally:
        con.close()
    return {
        name: {"outcome": outcome, "error": error or "", "warning": warning or "", "articles": n}
        for name, outcome, error, warning, n in rows
    }


def reference(corpus: Path) -> dict[str, int]:
    """feedparser 6.0.14's entry count per file, from the corpus manifest."""
    manifest = corpus / "MANIFEST.csv"
    if not manifest.exists():
        return {}
    with manifest.open(newline="", encoding="utf-8") as fh:
        return {row["path"]: int(row["fp_entries"] or 0) for row in csv.DictReader(fh)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--batch", type=int, default=600, help="files per refresh process")
    ap.add_argument("--limit", type=int, default=0, help="only the first N files (0: all)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()

    files = corpus_files(args.corpus)
    if args.limit:
        files = files[: args.limit]
    named = [(f"f{k:04d}", p) for k, p in enumerate(files)]
    work = args.keep or Path(tempfile.mkdtemp(prefix="corpus-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"corpus: {args.corpus} ({len(files)} files), work folder {work}")

    crashes: list[tuple[str, str]] = []
    refresh_seconds = 0.0
    started = time.monotonic()
    for start in range(0, len(named), args.batch):
        batch = named[start : start + args.batch]
        folder = work / f"batch{start // args.batch:02d}"
        folder.mkdir(exist_ok=True)
        cfg = write_config(folder, batch)
        proc, secs = run_cli(cfg, "refresh")
        refresh_seconds += secs
        print(f"  batch {folder.name}: {len(batch)} files, exit {proc.returncode}, {secs:.1f}s", flush=True)
        if crashed(proc):
            found = bisect(batch, folder / "bisect", args.corpus)
            crashes += found or [(f"batch {folder.name}", proc.stderr.strip()[-800:])]

    # Results, read back from each batch's store and from `sources list`.
    ref = reference(args.corpus)
    states: dict[str, dict] = {}
    listed_errors = 0
    unchanged_second = 0
    new_second = 0
    second_seconds = 0.0
    for start in range(0, len(named), args.batch):
        folder = work / f"batch{start // args.batch:02d}"
        batch_states = source_states(folder / "store.db")
        states.update(batch_states)
        listing, _ = run_cli(folder / "syndicator.toml", "sources", "list")
        lines = {ln.split(" ", 1)[0]: ln for ln in listing.stdout.splitlines()[1:]}
        for name, st in batch_states.items():
            text = st["error"] or st["warning"]
            if text and text[:40] in lines.get(name, ""):
                listed_errors += 1
        again, secs = run_cli(folder / "syndicator.toml", "refresh")
        second_seconds += secs
        if crashed(again):
            crashes.append((f"second refresh of {folder.name}", again.stderr.strip()[-800:]))
        for line in again.stdout.splitlines():
            if line.startswith("articles:"):
                new_second += int(line.split()[1])
            if line.startswith("sources:"):
                unchanged_second += int(line.split(",")[1].split()[0])
    elapsed = time.monotonic() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb, cpu = children.ru_maxrss, children.ru_utime + children.ru_stime

    internal = [(n, s["error"]) for n, s in states.items() if "internal error" in s["error"]]
    crashes += [(str(dict(named)[n].relative_to(args.corpus)), e) for n, e in internal]
    with_entries = sum(1 for s in states.values() if s["articles"])
    entries = sum(s["articles"] for s in states.values())
    failed = [n for n, s in states.items() if s["outcome"] == "error"]
    warned = [n for n, s in states.items() if s["outcome"] != "error" and s["warning"]]
    missing = [
        _rel(p, args.corpus) for n, p in named
        if ref.get(_rel(p, args.corpus), 0) > 0 and not states.get(n, {}).get("articles")
    ]
    reasons = Counter(_reason(states[n]["error"]) for n in failed)

    print()
    print(f"files                                   {len(files)}")
    print(f"crashes                                 {len(crashes)}")
    print(f"files with entries stored               {with_entries}")
    print(f"entries stored                          {entries}")
    print(f"files where feedparser finds entries    {sum(1 for _, p in named if ref.get(_rel(p, args.corpus), 0) > 0)}")
    print(f"  ... of which nothing stored           {len(missing)}")
    print(f"sources with a recorded error           {len(failed) + len(warned)}"
          f"  ({len(failed)} failed, {len(warned)} stored with a parse warning)")
    print(f"  ... shown by `sources list`           {listed_errors}")
    print(f"second refresh: unchanged sources       {unchanged_second} of {len(files)}, new articles {new_second}")
    print(f"time: first refresh {refresh_seconds:.1f}s ({1000 * refresh_seconds / max(1, len(files)):.1f} ms/file),"
          f" second {second_seconds:.1f}s, whole run {elapsed:.1f}s")
    print(f"CPU time of all syndicator processes    {cpu:.1f}s (wall time depends on what else the machine runs)")
    print(f"peak memory (max RSS of one refresh process)  {peak_kb / 1024:.0f} MB")
    print("failed sources by reason:")
    for reason, n in reasons.most_common():
        print(f"  {n:5d}  {reason}")
    for path in missing[:20]:
        print(f"  nothing stored although feedparser finds entries: {path}")
    for where, err in crashes[:20]:
        print(f"CRASH {where}\n{err}\n")
    return 1 if crashes or missing else 0


def _rel(path: Path, corpus: Path) -> str:
    return str(path.relative_to(corpus))


def _reason(error: str) -> str:
    head = error.split(":", 2)
    return ":".join(head[:2])[:90] if error.startswith("not a feed") else error[:90]


if __name__ == "__main__":
    sys.exit(main())
