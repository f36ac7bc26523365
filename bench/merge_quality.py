"""Merge quality on real labelled data, through the real pipeline.

Each labelled set in ../shared/data/stories/ becomes RSS 2.0 feed files (one per source); a
configuration points Syndicator at them; ``syndicator refresh`` ingests them and
``syndicator stories --json --limit 0`` says which articles became one story. That grouping
is scored against the labels: pairwise precision, recall and F1 of the merge relation,
B-cubed F1, and examples of false merges. Two plain rules are scored on the same items for
comparison: an exact-title rule and an exact-body rule.

    python bench/merge_quality.py                 # every scenario
    python bench/merge_quality.py --scenario ecb-event --examples 5

The item layout (sources, times, syndication noise on bodies) comes from
``bench/similarity_offline.py``, the fast offline loop used while tuning.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC
from email.utils import format_datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import similarity_offline as offline  # noqa: E402

SCENARIOS = {
    # name: (loader, level, what the truth label means)
    "upworthy-body": (lambda: offline.load_upworthy(with_body=True), "article", "story_cluster_id"),
    "upworthy-headline": (lambda: offline.load_upworthy(with_body=False), "article", "story_cluster_id"),
    "ecb-article": (offline.load_ecb, "article", "subtopic (event)"),
    "ecb-event": (offline.load_ecb, "event", "subtopic (event)"),
    "uci": (offline.load_uci, "article", "aggregator STORY"),
}


def _source_name(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:56] or "source"
    return slug


def _markup(body: str, k: int) -> str:
    """Wrap a body the way feeds do: paragraphs, sometimes emphasis or a div."""
    if not body:
        return ""
    paras = [escape(p) for p in body.split("\n") if p.strip()]
    html = "".join(f"<p>{p}</p>" for p in paras)
    return f"<div class=\"entry\">{html}</div>" if k % 3 == 0 else html


def write_feeds(items: list, folder: Path) -> dict[str, str]:
    """One RSS 2.0 file per source; returns source name -> file path."""
    by_source: dict[str, list] = defaultdict(list)
    names: dict[str, str] = {}
    for it in items:
        name = names.setdefault(it.doc.source, _source_name(it.doc.source))
        by_source[name].append(it)
    used: set[str] = set()
    paths = {}
    for name, group in sorted(by_source.items()):
        unique, n = name, 2
        while unique in used:
            unique, n = f"{name}-{n}", n + 1
        used.add(unique)
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>',
            f"<title>{escape(group[0].doc.source)}</title><link>https://{unique}.example/</link>",
            "<description>benchmark source</description>",
        ]
        for k, it in enumerate(group):
            desc = _markup(it.doc.body, k)
            parts.append(
                f"<item><title>{escape(it.doc.title)}</title><link>{escape(it.doc.url)}</link>"
                f'<guid isPermaLink="false">{escape(it.ident)}</guid>'
                f"<pubDate>{format_datetime(it.doc.published.astimezone(UTC))}</pubDate>"
                + (f"<description>{escape(desc)}</description>" if desc else "")
                + "</item>"
            )
        parts.append("</channel></rss>\n")
        path = folder / f"{unique}.xml"
        path.write_text("\n".join(parts), encoding="utf-8")
        paths[unique] = str(path)
    return paths


def write_config(folder: Path, feeds: dict[str, str], level: str, semantic: bool) -> Path:
    lines = [
        "[storage]", 'url = "sqlite:///store.db"',
        "[output]", 'dir = "public"',
        "[fetch]", "max_bytes = 100000000",
        "[merge]", f'level = "{level}"', f"semantic = {str(semantic).lower()}",
    ]
    for name, path in feeds.items():
        lines += ["[[sources]]", f'name = "{name}"', f'url = "{path}"']
    lines += ["[[feeds]]", 'name = "all"', 'sources = ["*"]', "limit = 100"]
    cfg = folder / "syndicator.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def run_pipeline(items: list, level: str, folder: Path, semantic: bool = False) -> tuple[dict[str, str], float]:
    """guid -> story id as the real command line grouped them, and the refresh's wall time."""
    feeds_dir = folder / "feeds"
    feeds_dir.mkdir()
    cfg = write_config(folder, write_feeds(items, feeds_dir), level, semantic)
    cmd = [sys.executable, "-m", "syndicator", "--config", str(cfg)]
    start = time.monotonic()
    out = subprocess.run([*cmd, "--quiet", "refresh"], capture_output=True, text=True)
    wall = time.monotonic() - start
    if out.returncode != 0:
        raise SystemExit(f"refresh failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    listed = subprocess.run([*cmd, "stories", "--json", "--limit", "0"], capture_output=True, text=True)
    if listed.returncode != 0:
        raise SystemExit(f"stories failed:\n{listed.stderr}")
    grouping = {}
    for story in json.loads(listed.stdout):
        for article in story["articles"]:
            grouping[article["guid"]] = story["id"]
    return grouping, wall


def baseline(items: list, key) -> list[str]:
    """Predicted cluster per item for a plain rule: items with the same non-empty key merge."""
    return [key(it) or f"solo:{it.ident}" for it in items]


def _norm_title(it) -> str:
    return " ".join(it.doc.title.casefold().split())


def _norm_body(it) -> str:
    return " ".join(it.doc.body.split())


def false_merges(items: list, pred: list[str], limit: int) -> list[str]:
    by_story: dict[str, list] = defaultdict(list)
    for it, p in zip(items, pred, strict=True):
        by_story[p].append(it)
    out = []
    for members in by_story.values():
        labels = Counter(m.label for m in members)
        if len(labels) < 2:
            continue
        a = members[0]
        b = next(m for m in members if m.label != a.label)
        out.append(f"    {a.doc.title!r} [{a.label}]  ~  {b.doc.title!r} [{b.label}]")
        if len(out) >= limit:
            break
    return out


def cross_share(items: list, pred: list[str]) -> tuple[int, int]:
    """Merged pairs whose articles carry different labels, and all merged pairs."""
    joint = Counter(zip(pred, (it.label for it in items), strict=True))
    sizes = Counter(pred)
    merged = sum(n * (n - 1) // 2 for n in sizes.values())
    same = sum(n * (n - 1) // 2 for n in joint.values())
    return merged - same, merged


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    ap.add_argument("--examples", type=int, default=3, help="false merges to show per scenario")
    ap.add_argument("--keep", type=Path, help="keep the generated feeds, configuration and store here")
    ap.add_argument(
        "--semantic", action="store_true",
        help="also run with the semantic extra (pip install '.[semantic]' into this interpreter's environment)",
    )
    args = ap.parse_args(argv)
    names = args.scenario or list(SCENARIOS)
    header = (
        f"{'scenario':<20} {'rule':<12} {'items':>6} {'pair P':>7} {'pair R':>7} {'pair F1':>7} "
        f"{'B3 F1':>6} {'merged':>8} {'cross':>7} {'refresh s':>9}"
    )
    print(header)
    print("-" * len(header))
    examples: list[str] = []
    for name in names:
        loader, level, _truth = SCENARIOS[name]
        items = loader()
        truth = [it.label for it in items]
        rows = []
        for semantic in (False, True) if args.semantic else (False,):
            label = "+semantic" if semantic else "syndicator"
            work = args.keep / f"{name}{label}" if args.keep else Path(tempfile.mkdtemp(prefix=f"merge-{name}-"))
            work.mkdir(parents=True, exist_ok=True)
            grouping, wall = run_pipeline(items, level, work, semantic)
            missing = [it.ident for it in items if it.ident not in grouping]
            if missing:
                raise SystemExit(f"{name}: {len(missing)} items never stored, e.g. {missing[:3]}")
            rows.append((label, [grouping[it.ident] for it in items], wall))
        rows += [
            ("exact-title", baseline(items, _norm_title), None),
            ("exact-body", baseline(items, _norm_body), None),
        ]
        for rule, pred, seconds in rows:
            r = offline.score(name, truth, pred)
            cross, merged = cross_share(items, pred)
            share = f"{100 * cross / merged:.2f}%" if merged else "0%"
            took = f"{seconds:9.1f}" if seconds is not None else f"{'':9}"
            print(
                f"{name:<20} {rule:<12} {len(items):>6} {r.pair_p:7.4f} {r.pair_r:7.4f} {r.pair_f1:7.4f} "
                f"{r.b3_f1:6.4f} {merged:>8} {share:>7} {took}"
            )
            if rule in ("syndicator", "+semantic") and args.examples:
                found = false_merges(items, pred, args.examples)
                if found:
                    examples.append(f"  {name} ({rule}): false merges (different labels in one story)")
                    examples.extend(found)
        sys.stdout.flush()
    if examples:
        print("\nExamples:")
        print("\n".join(examples))
    print("\ncross = merged pairs whose articles carry different labels, as a share of merged pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
