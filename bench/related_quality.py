"""Related-story quality on real labelled data, through the real pipeline.

The same pipeline as ``bench/merge_quality.py``: each labelled set becomes RSS 2.0 files, one
per source; ``syndicator refresh`` ingests them (merging, then linking related stories) and
``syndicator stories --json --limit 0`` lists every story with its ``related`` links. Reported:

* precision@3: over stories that show links, the share of their first 3 links that are relevant;
* coverage: the share of stories with at least one link;
* hit rate: over stories that have some relevant story in the data, the share whose first 3
  links include one.

A story's label is the label most of its articles carry. Relevant means:

* ``ecb``: the same ECB+ topic (other coverage of the same event, or the topic's other event);
* ``uci``: the same aggregator STORY (UCI News Aggregator, 5,000 headlines over 30 hours);
* ``uci-sparse``: the same, on a sparse sample (one or two headlines per story, the stories spread
  over six months): most stories have no relative, so every link shown there is a risk.

    python bench/related_quality.py                      # every scenario
    python bench/related_quality.py --scenario uci --examples 5
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import merge_quality  # noqa: E402
import related_offline as offline  # noqa: E402

SCENARIOS = ("ecb", "uci", "uci-sparse")


def score(stories: list[dict], label_of: dict[str, str], k: int = 3) -> dict:
    """Precision@k, coverage and hit rate of the ``related`` links of ``stories --json``."""
    label = {}
    for st in stories:
        votes = Counter(label_of[a["guid"]] for a in st["articles"] if a["guid"] in label_of)
        if votes:
            label[st["id"]] = votes.most_common(1)[0][0]
    sizes = Counter(label.values())
    precisions, hits, with_relevant, false_links = [], 0, 0, []
    titles = {st["id"]: st["title"] for st in stories}
    for st in stories:
        sid = st["id"]
        if sid not in label:
            continue
        top = [r["id"] for r in st["related"][:k] if r["id"] in label]
        if top:
            good = [label[o] == label[sid] for o in top]
            precisions.append(sum(good) / len(good))
            false_links += [(titles[sid], titles[o]) for o, g in zip(top, good, strict=True) if not g]
        if sizes[label[sid]] > 1:
            with_relevant += 1
            hits += any(label[o] == label[sid] for o in top)
    n = len(label)
    return {
        "stories": n,
        "precision_at_3": sum(precisions) / len(precisions) if precisions else 1.0,
        "coverage": len(precisions) / n if n else 0.0,
        "hit_rate": hits / with_relevant if with_relevant else 1.0,
        "with_relevant": with_relevant,
        "false_links": false_links,
    }


def run(name: str) -> tuple[dict, float]:
    items, rel_label = offline.load(name)
    label_of = {it.ident: rel_label(it.label) for it in items}
    with tempfile.TemporaryDirectory(prefix=f"related-{name}-") as tmp:
        _, wall = merge_quality.run_pipeline(items, "article", Path(tmp))
        cfg = Path(tmp) / "syndicator.toml"
        listed = merge_quality.subprocess.run(
            [sys.executable, "-m", "syndicator", "--config", str(cfg), "stories", "--json", "--limit", "0"],
            capture_output=True, text=True,
        )
        if listed.returncode != 0:
            raise SystemExit(f"stories failed:\n{listed.stderr}")
        stories = json.loads(listed.stdout)
    return score(stories, label_of), wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", action="append", choices=SCENARIOS)
    ap.add_argument("--examples", type=int, default=3, help="false links to show per scenario")
    args = ap.parse_args(argv)
    print(
        f"{'scenario':<12} {'stories':>7} {'P@3':>6} {'coverage':>8} {'hit rate':>8} {'w/ relevant':>11} "
        f"{'refresh s':>9}"
    )
    for name in args.scenario or SCENARIOS:
        q, wall = run(name)
        print(
            f"{name:<12} {q['stories']:>7} {q['precision_at_3']:>6.3f} {q['coverage']:>8.3f} {q['hit_rate']:>8.3f} "
            f"{q['with_relevant']:>11} {wall:>9.1f}",
            flush=True,
        )
        for a, b in q["false_links"][: args.examples]:
            print(f"    not related: {a[:70]!r} -> {b[:70]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
