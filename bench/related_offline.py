"""Related-story quality, offline: the fast loop used while tuning ``syndicator/relate.py``.

Stories are formed with the merge rules (``similarity.compare``, article level) and linked
with ``relate.relate`` over candidates from ``relate.index_keys`` postings, as the store
does, but in memory. ``bench/related_quality.py`` measures the same through the real
pipeline; use that for the figures you publish.

    python bench/related_offline.py [--only ecb|uci|uci-sparse] [--examples 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import similarity_offline as offline  # noqa: E402

from syndicator import relate  # noqa: E402
from syndicator import similarity as sim  # noqa: E402

MAX_POSTINGS = 200  # as the store: postings read per key, the nearest in time
MAX_CANDIDATES = 60  # as the store: candidates scored per article
EVENT_CHECKS = 8  # as the store: the best links of a new article checked for "same event"


@dataclass
class Quality:
    stories: int
    precision_at_3: float
    coverage: float
    hit_rate: float
    with_relevant: int
    linked: int
    false_links: list


def ecb_topic(label: str) -> str:
    return label.split("_", 1)[0]


def load(name: str) -> tuple[list, callable]:
    if name == "ecb":
        return offline.load_ecb(), ecb_topic
    items = offline.load_uci()
    if name == "uci-sparse":
        items = sparse(items)
    return items, lambda label: label


def sparse(items: list, seed: int = 7) -> list:
    """One headline for most stories, two for a few, the stories spread over six months."""
    rng = random.Random(seed)
    by_story: dict[str, list] = defaultdict(list)
    for it in items:
        by_story[it.label].append(it)
    out = []
    base = min(it.doc.published for it in items)
    for label in sorted(by_story):
        group = sorted(by_story[label], key=lambda it: it.ident)
        rng.shuffle(group)
        take = 2 if rng.random() < 0.15 else 1
        shift = timedelta(days=rng.uniform(0, 180))
        for it in group[:take]:
            doc = replace(it.doc, published=base + shift + timedelta(hours=rng.uniform(0, 12)))
            out.append(offline.Item(doc, it.label, it.ident))
    return out


def stories_of(items: list) -> list[int]:
    """Story (cluster root) per item, by the merge rules at article level."""
    keys, cmp = offline.product_rule("article")
    order = sorted(range(len(items)), key=lambda i: (items[i].doc.published, items[i].ident))
    index: dict[str, list[int]] = defaultdict(list)
    uf = offline.UnionFind(len(items))
    for i in order:
        it = items[i]
        ks = set(keys(it))
        cands = {j for k in ks for j in index[k] if it.doc.published - items[j].doc.published <= offline.WINDOW}
        for j in sorted(cands):
            if cmp(it, items[j]) is not None:
                uf.union(i, j)
        for k in ks:
            index[k].append(i)
    return [uf.find(i) for i in range(len(items))]


def links(items: list, story: list[int], window_days: float) -> dict[int, list[tuple[int, relate.Link]]]:
    """As the store links them: articles in arrival order, each scored against the stored ones that
    share a key within the window (postings nearest in time, the best MAX_CANDIDATES by shared key mass)."""
    window = timedelta(days=window_days)
    keys = [relate.index_keys(it.fp) for it in items]
    profiles = [relate.profile(it.fp) for it in items]
    order = sorted(range(len(items)), key=lambda i: (items[i].doc.published, items[i].ident))
    postings: dict[str, list[int]] = defaultdict(list)
    best: dict[int, dict[int, relate.Link]] = defaultdict(dict)
    subjects: dict[int, Counter[str]] = defaultdict(Counter)  # per article: the subject words of its links
    for i in order:
        it = items[i]
        cands: set[int] = set()
        counts = {}
        for k in keys[i]:
            near = [j for j in postings[k] if abs(items[j].doc.published - it.doc.published) <= window]
            counts[k] = len(near)
            if len(near) > MAX_POSTINGS:
                near = sorted(near, key=lambda j: abs(items[j].doc.published - it.doc.published))[:MAX_POSTINGS]
            cands.update(near)
        mass = {j: sum(sim.idf(k[2:]) for k in keys[i] & keys[j]) for j in cands if story[j] != story[i]}
        found, tentative = [], []
        ranked = sorted(mass, key=lambda j: (-mass[j], j))
        for j in relate.shortlist([(j, mass[j]) for j in ranked], MAX_CANDIDATES, 2 * MAX_CANDIDATES):
            link = relate.relate(it.fp, items[j].fp, profiles[i], profiles[j], event=False)
            if link is not None:
                found.append((link, j))
            elif (link := relate.tentative(it.fp, items[j].fp, profiles[i], profiles[j])) is not None:
                tentative.append((link, j))
        found.sort(key=lambda f: (-f[0].score, f[1]))
        for n, (link, j) in enumerate(found):
            if n < EVENT_CHECKS:
                link = relate.with_event(link, it.fp, items[j].fp)
            found[n] = (link, j)
        # as the store: a tentative link stands when its word is the heaviest shared word of enough links of
        # either article (this one's new links, the other's links so far); accepted ones count later on
        for link, j in found:
            if (w := relate.subject_word(link.reason())) is not None:
                subjects[i][w] += 1
                subjects[j][w] += 1
        tentative = [(link, j) for link, j in tentative if link.kind != relate.NAME_KIND
                     or counts.get(relate.KEY_PREFIX + link.shared[0], 0) <= relate.NAME_MAX_POSTINGS]
        accepted = [(link, j) for link, j in tentative
                    if subjects[i][link.shared[0]] + subjects[j][link.shared[0]] >= relate.SUBJECT_SUPPORT]
        for link, j in accepted:
            if (w := relate.subject_word(link.reason())) is not None:
                subjects[i][w] += 1
                subjects[j][w] += 1
        found += accepted
        for link, j in found:
            for a, b in ((story[i], story[j]), (story[j], story[i])):
                old = best[a].get(b)
                if old is None or _rank(link) > _rank(old):
                    best[a][b] = link
        for k in keys[i]:
            postings[k].append(i)
    out = {}
    for s, d in best.items():
        ranked = sorted(d.items(), key=lambda kv: (-kv[1].score, kv[0]))
        out[s] = [ranked[n] for n in relate.shown([(ln.score, ln.kind) for _, ln in ranked])]
    return out


def _rank(link: relate.Link) -> tuple[bool, float]:
    return link.kind != relate.NAME_KIND, link.score  # as the store: any other kind before "same name"


def evaluate(items: list, story: list[int], rel_label, linked: dict, k: int = 3) -> Quality:
    members: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(story):
        members[s].append(i)
    label = {s: Counter(rel_label(items[i].label) for i in m).most_common(1)[0][0] for s, m in members.items()}
    by_label = Counter(label.values())
    precisions, hits, with_relevant, false_links = [], 0, 0, []
    for s in members:
        top = linked.get(s, [])[:k]
        if top:
            good = [label[o] == label[s] for o, _ in top]
            precisions.append(sum(good) / len(top))
            false_links += [(s, o, ln) for (o, ln), g in zip(top, good, strict=True) if not g]
        if by_label[label[s]] > 1:
            with_relevant += 1
            hits += any(label[o] == label[s] for o, _ in top)
    n = len(members)
    return Quality(
        n, sum(precisions) / len(precisions) if precisions else 1.0, len(precisions) / n,
        hits / with_relevant if with_relevant else 1.0, with_relevant, len(precisions), false_links,
    )


def ceiling(items: list, story: list[int], rel_label, shared: int = 2, slug: bool = False) -> float:
    """Share of stories with a relevant story sharing ``shared`` informative headline words (``slug``:
    counting their URL slugs' words as headline words, as ``relate`` does): the best hit rate a rule that
    never links on fewer shared headline words can reach (headline-only data)."""
    words = [{t for t in {*it.fp.title, *(relate.slug_words(it.fp) if slug else ())}
              if relate._word(t) and sim.idf(t) >= relate.MIN_TITLE_SHARED_IDF} for it in items]
    members: dict[int, list[int]] = defaultdict(list)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(story):
        members[s].append(i)
        by_label[rel_label(items[i].label)].append(i)
    reachable = sum(
        any(len(words[i] & words[j]) >= shared for i in m for j in by_label[rel_label(items[m[0]].label)]
            if story[j] != s)
        for s, m in members.items()
    )
    return reachable / len(members)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=["ecb", "uci", "uci-sparse"])
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--window-days", type=float, default=relate.WINDOW_DAYS)
    ap.add_argument("--max-candidates", type=int, default=60)
    args = ap.parse_args(argv)
    globals()["MAX_CANDIDATES"] = args.max_candidates
    print(f"{'scenario':<12} {'stories':>7} {'P@3':>6} {'cover':>6} {'hit':>6} {'w/rel':>6} {'linked':>6} {'s':>5}")
    for name in args.only or ["ecb", "uci", "uci-sparse"]:
        t0 = time.perf_counter()
        items, rel_label = load(name)
        for it in items:
            it.fp = sim.fingerprint(it.doc)
        story = stories_of(items)
        linked = links(items, story, args.window_days)
        q = evaluate(items, story, rel_label, linked)
        if name.startswith("uci"):
            print(f"    ceiling: {ceiling(items, story, rel_label):.3f} of stories share 2 informative headline "
                  f"words with a relevant story; {ceiling(items, story, rel_label, slug=True):.3f} with URL slugs")
        print(
            f"{name:<12} {q.stories:>7} {q.precision_at_3:>6.3f} {q.coverage:>6.3f} {q.hit_rate:>6.3f} "
            f"{q.with_relevant:>6} {q.linked:>6} {time.perf_counter() - t0:>5.1f}"
        )
        rep = {}
        for i, s in enumerate(story):
            rep.setdefault(s, i)
        for s, o, ln in q.false_links[: args.examples]:
            a, b = items[rep[s]], items[rep[o]]
            print(f"    FALSE {ln.kind} {ln.score:.3f} {ln.shared}\n      {a.label}: {a.doc.title[:90]}\n"
                  f"      {b.label}: {b.doc.title[:90]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
