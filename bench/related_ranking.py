"""Ways to rank a story's related stories from its articles' links, side by side on one pipeline store.

Runs the related-quality pipeline once (bench/related_quality.py: feed files, ``syndicator refresh``) into
FOLDER, or reuses the store already there, then scores each way of turning the article links of
``article_links`` into a story's ranked list (the best link, the mean, the sum, ...) with related_quality's
precision@3, coverage and hit rate. Every variant reads the same links, so the differences are the ranking's
alone, free of the arrival order that moves a pipeline run's figures by a few thousandths.

    python bench/related_ranking.py --scenario uci /tmp/relrank-uci
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import merge_quality
import related_offline as offline
import related_quality

from syndicator import relate

Links = list[tuple[float, str]]  # (score, kind) of each link between two stories' articles


def _best(links: Links) -> float:
    return max(links, key=lambda x: (x[1] != relate.NAME_KIND, x[0]))[0]


VARIANTS: dict[str, Callable[[Links], float]] = {
    "best link": _best,
    "mean": lambda ls: sum(s for s, _ in ls) / len(ls),
    "median": lambda ls: statistics.median(s for s, _ in ls),
    "lowest": lambda ls: min(s for s, _ in ls),
    "sum": lambda ls: sum(s for s, _ in ls),
    **{f"best + {b} a further link": (lambda ls, b=b: _best(ls) + b * (len(ls) - 1)) for b in (0.02, 0.1, 0.4)},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="where the pipeline's store is made, or already is")
    ap.add_argument("--scenario", default="uci", choices=related_quality.SCENARIOS)
    ap.add_argument("--limit", type=int, default=5, help="links a story shows ([related] limit)")
    args = ap.parse_args(argv)
    items, rel_label = offline.load(args.scenario)
    label_of = {it.ident: rel_label(it.label) for it in items}
    cfg = args.folder / "syndicator.toml"
    if not cfg.exists():
        args.folder.mkdir(parents=True)
        merge_quality.run_pipeline(items, "article", args.folder)
    listed = subprocess.run([sys.executable, "-m", "syndicator", "--config", str(cfg), "stories", "--json",
                             "--limit", "0"], capture_output=True, text=True, check=True)
    stories = json.loads(listed.stdout)
    db = sqlite3.connect(next(args.folder.glob("*.db")))
    story_of = dict(db.execute("SELECT id, story_id FROM articles"))
    links: dict[str, dict[str, Links]] = defaultdict(lambda: defaultdict(list))
    # one row a link since migration 0015 (both ways before: a set of the two ends counts each once)
    pairs = {}
    for a, o, score, reason in db.execute("SELECT article_id, other_id, score, reason FROM article_links"):
        pairs[(a, o) if a < o else (o, a)] = (score, json.loads(reason).get("kind", ""))
    for (a, o), link in pairs.items():
        if story_of[a] != story_of[o]:
            links[story_of[a]][story_of[o]].append(link)
            links[story_of[o]][story_of[a]].append(link)

    def scored(rank: Callable[[Links], float]) -> dict:
        out = []
        for st in stories:
            ranked = sorted(((rank(ls), oid, max(ls, key=lambda x: (x[1] != relate.NAME_KIND, x[0]))[1])
                             for oid, ls in links.get(st["id"], {}).items()), key=lambda r: (-r[0], r[1]))
            keep = relate.shown([(score, kind) for score, _, kind in ranked])
            out.append({**st, "related": [{"id": ranked[n][1]} for n in keep][: args.limit]})
        return related_quality.score(out, label_of)

    print(f"{args.scenario}: the store as published (stories --json):",
          {k: round(v, 4) for k, v in related_quality.score(stories, label_of).items() if isinstance(v, float)})
    print(f"{'ranking':28s}  P@3    coverage hit rate")
    for name, rank in VARIANTS.items():
        r = scored(rank)
        print(f"{name:28s}  {r['precision_at_3']:.4f} {r['coverage']:.4f}   {r['hit_rate']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
