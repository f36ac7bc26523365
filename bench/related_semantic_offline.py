"""Related links from headline embeddings, offline: would the semantic extra link the stories words cannot?

Runs ``bench/related_offline.py``'s in-memory loop (stories by the merge rules, links by ``relate``), then gives
each story with fewer than 3 links (``fill3``) or with none (``empty``) the other stories whose headlines' best
all-MiniLM-L6-v2 cosine with its own reaches a bar, best first, up to 3 links. Needs the semantic extra
(``.venv-semantic``; numpy comes with torch). Not a pipeline figure: a check of the idea before building it.

    .venv-semantic/bin/python bench/related_semantic_offline.py [--only uci]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import related_offline as ro  # noqa: E402

from syndicator import relate, semantic  # noqa: E402
from syndicator import similarity as sim  # noqa: E402

BARS = (0.55, 0.6, 0.65, 0.7, 0.75, 0.8)


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="uci", choices=["ecb", "uci", "uci-sparse"])
    args = ap.parse_args(argv)
    items, rel_label = ro.load(args.only)
    for it in items:
        it.fp = sim.fingerprint(it.doc)
    story = ro.stories_of(items)
    linked = ro.links(items, story, relate.WINDOW_DAYS)
    q = ro.evaluate(items, story, rel_label, linked)
    print(f"words only: stories {q.stories} P@3 {q.precision_at_3:.4f} coverage {q.coverage:.4f} hit {q.hit_rate:.4f}")
    vecs = np.array([np.frombuffer(v, dtype=np.int8).astype(np.float32)
                     for v in semantic.embed([it.doc.title for it in items])])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    cos = vecs @ vecs.T
    members: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(story):
        members[s].append(i)
    sids = list(members)
    place = {s: n for n, s in enumerate(sids)}
    col = np.array([place[story[j]] for j in range(len(items))])
    best = np.full((len(sids), len(sids)), -1.0, dtype=np.float32)  # story x story: the best headline pair
    for n, s in enumerate(sids):
        np.maximum.at(best[n], col, cos[members[s]].max(axis=0))
    np.fill_diagonal(best, -1.0)
    for bar in BARS:
        for mode in ("empty", "fill3"):
            out = {}
            for n, s in enumerate(sids):
                cur = list(linked.get(s, []))
                if len(cur) >= 3 or (mode == "empty" and cur):
                    out[s] = cur
                    continue
                have = {o for o, _ in cur}
                add = [(sids[o], relate.Link(float(best[n, o]), "semantic")) for o in np.argsort(-best[n])[:5]
                       if best[n, o] >= bar and sids[o] not in have]
                out[s] = cur + add[: 3 - len(cur)]
            q2 = ro.evaluate(items, story, rel_label, out)
            print(f"cosine >= {bar:.2f} {mode:5s}: P@3 {q2.precision_at_3:.4f} coverage {q2.coverage:.4f} "
                  f"hit {q2.hit_rate:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
