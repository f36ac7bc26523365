"""Offline evaluation of two tiers of pair evidence: strong matches link, weak ones need corroboration.

A STRONG match is today's rule (``syndicator.similarity.compare``). A WEAK match is a relaxed bar
(event level: text + name cosine above a sum with the vetoes lifted; article level: headline-near at a
lower weighted Jaccard). A weak pair links its two articles only when the pair graph corroborates it:

* ``single``: no corroboration (plain single link over strong + weak: the relaxation alone);
* ``tri``: the two articles have a common neighbour (an article matching both, strongly or weakly);
* ``tri2``: two common neighbours;
* ``tri-s``: a common neighbour that matches at least one of the two strongly;
* ``comp2``: two weak pairs or more between the same two strong components.

Every rule is a function of the pair graph alone, and adding articles only adds edges, so the grouping
stays order-independent. Candidates are those of ``bench/similarity_offline.py`` (a shared index key,
72 h). Run from the repository root::

    python bench/corroboration_offline.py                # every scenario
    python bench/corroboration_offline.py --only ecb-event
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import similarity_offline as so  # noqa: E402

from syndicator import similarity as sim  # noqa: E402
from syndicator.fingerprints import _cosine, _vector, _vector_info  # noqa: E402

Pair = tuple[int, int]


def candidate_pairs(items: list[so.Item], level: str) -> list[Pair]:
    order = sorted(range(len(items)), key=lambda i: (items[i].doc.published, items[i].ident))
    index: dict[str, list[int]] = defaultdict(list)
    pairs: list[Pair] = []
    for i in order:
        it = items[i]
        keys = set(sim.index_keys(it.fp, level))
        cands: set[int] = set()
        for k in keys:
            for j in index[k]:
                if it.doc.published - items[j].doc.published <= so.WINDOW:
                    cands.add(j)
        pairs.extend((min(i, j), max(i, j)) for j in cands)
        for k in keys:
            index[k].append(i)
    return pairs


def event_sum(a: sim.Fingerprint, b: sim.Fingerprint) -> float | None:
    """Text + name cosine of the event rule with every veto lifted (None when the basics fail)."""
    if not a.body and not b.body:
        return None
    if _vector_info(a) < sim.MIN_EVENT_INFO or _vector_info(b) < sim.MIN_EVENT_INFO:
        return None
    cos = _cosine(_vector(a), _vector(b))
    name_cos = _cosine(sim._name_vector(a), sim._name_vector(b))
    if cos < sim.EVENT_SIM or name_cos < sim.EVENT_NAME_SIM:
        return None
    return cos + name_cos


def headline_weak(near_sim: float, shared_info: float) -> Callable[[sim.Fingerprint, sim.Fingerprint], bool]:
    def weak(a: sim.Fingerprint, b: sim.Fingerprint) -> bool:
        saved = sim.NEAR_HEADLINE_SIM, sim.MIN_TITLE_SHARED_INFO
        sim.NEAR_HEADLINE_SIM, sim.MIN_TITLE_SHARED_INFO = near_sim, shared_info
        try:
            return sim.compare(a, b, "article") is not None
        finally:
            sim.NEAR_HEADLINE_SIM, sim.MIN_TITLE_SHARED_INFO = saved

    return weak


def components(n: int, edges: list[Pair]) -> list[int]:
    uf = so.UnionFind(n)
    for a, b in edges:
        uf.union(a, b)
    return [uf.find(i) for i in range(n)]


def corroborated(n: int, strong: set[Pair], weak: set[Pair], rule: str, sources: list[str] | None = None) -> list[Pair]:
    """The weak pairs that the rule keeps (``sources``: each article's source, for ``tri-src``)."""
    if rule == "single":
        return sorted(weak)
    adj: dict[int, set[int]] = defaultdict(set)
    sadj: dict[int, set[int]] = defaultdict(set)
    for a, b in strong | weak:
        adj[a].add(b)
        adj[b].add(a)
    for a, b in strong:
        sadj[a].add(b)
        sadj[b].add(a)
    kept = []
    if rule in ("tri", "tri2"):
        need = 1 if rule == "tri" else 2
        for a, b in weak:
            if len(adj[a] & adj[b]) >= need:
                kept.append((a, b))
    elif rule == "tri-s":
        for a, b in weak:
            common = adj[a] & adj[b]
            if any(c in sadj[a] or c in sadj[b] for c in common):
                kept.append((a, b))
    elif rule == "tri-src":
        src = sources or [""] * n
        for a, b in weak:
            if any(src[c] in (src[a], src[b]) for c in adj[a] & adj[b]):
                kept.append((a, b))
    elif rule.startswith("comp"):
        k = int(rule[4:])
        comp = components(n, sorted(strong))
        by: dict[tuple[int, int], list[Pair]] = defaultdict(list)
        for a, b in weak:
            ca, cb = comp[a], comp[b]
            if ca != cb:
                by[(min(ca, cb), max(ca, cb))].append((a, b))
        for group in by.values():
            if len(group) >= k:
                kept.extend(group)
    else:
        raise ValueError(rule)
    return kept


RULES = ("single", "tri", "tri2", "tri-s", "tri-src", "comp2", "comp3")


def evaluate(name: str, items: list[so.Item], strong: set[Pair], weak: set[Pair], rules=RULES) -> None:
    labels = [it.label for it in items]
    for rule in rules:
        kept = corroborated(len(items), strong, weak, rule, [it.doc.source for it in items])
        r = so.score(name, labels, components(len(items), sorted(strong) + kept))
        bad = sum(1 for a, b in kept if labels[a] != labels[b])
        cross = (r.merged_pairs - round(r.pair_p * r.merged_pairs)) / r.merged_pairs if r.merged_pairs else 0.0
        print(
            f"  {rule:<28} P {r.pair_p:.4f} R {r.pair_r:.4f} B3 {r.b3_f1:.4f} merged {r.merged_pairs} "
            f"cross {cross:.2%}  weak kept {len(kept)}/{len(weak)} (other-label {bad})"
        )


def run(name: str, items: list[so.Item], level: str, weak_bars: dict[str, Callable]) -> None:
    t0 = time.perf_counter()
    pairs = candidate_pairs(items, level)
    strong: set[Pair] = set()
    rest: list[Pair] = []
    for a, b in pairs:
        if sim.compare(items[a].fp, items[b].fp, level) is not None:
            strong.add((a, b))
        else:
            rest.append((a, b))
    sums = {}
    if level == "event":
        for a, b in rest:
            s = event_sum(items[a].fp, items[b].fp)
            if s is not None:
                sums[(a, b)] = s
    labels = [it.label for it in items]
    print(f"# {name}: {len(pairs)} candidate pairs, {len(strong)} strong ({time.perf_counter() - t0:.1f} s)")
    base = so.score(name, labels, components(len(items), sorted(strong)))
    print(
        f"  strong only (today): P {base.pair_p:.4f} R {base.pair_r:.4f} B3 {base.b3_f1:.4f} merged {base.merged_pairs}"
    )
    for bar, fn in weak_bars.items():
        if level == "event":
            weak = {p for p, s in sums.items() if fn(s, items[p[0]].fp, items[p[1]].fp)}
        else:
            weak = {p for p in rest if fn(items[p[0]].fp, items[p[1]].fp)}
        same = sum(1 for a, b in weak if labels[a] == labels[b])
        print(f" weak bar {bar}: {len(weak)} weak pairs ({same} same label)")
        evaluate(name, items, strong, weak)


def event_bars() -> dict[str, Callable]:
    bars: dict[str, Callable] = {}
    for s in (1.0, 1.1, 1.2, 1.3):
        bars[f"sum>={s} no vetoes"] = lambda x, a, b, s=s: x >= s
    for s in (0.7, 0.85, 1.0):
        bars[f"sum>={s} years veto kept"] = lambda x, a, b, s=s: x >= s and not sim._years_contradict(a, b)
    return bars


def _headline_pair(a: sim.Fingerprint, b: sim.Fingerprint) -> tuple[set[str], set[str]] | None:
    """Headline-only items within CLOSE_HOURS, with the guards of today's headline rules; else None."""
    hours = sim.hours_apart(a, b)
    if hours is None or hours > sim.CLOSE_HOURS or sim._body_class(a) == 2 or sim._body_class(b) == 2:
        return None
    ta, tb = sim._title_content(a), sim._title_content(b)
    if min(len(ta), len(tb)) < sim.MIN_TITLE_CONTENT or sim._contradicts(ta, tb) or sim._numbers_differ(a, b):
        return None
    if sim._names_contradict(sim._headline_names(a), sim._headline_names(b)):
        return None
    return ta, tb


def shared_words(k: int, min_idf: float, min_sim: float = 0.0) -> Callable[[sim.Fingerprint, sim.Fingerprint], bool]:
    """Any sources: ``k`` shared headline words of idf >= ``min_idf`` (and weighted Jaccard >= ``min_sim``)."""

    def weak(a: sim.Fingerprint, b: sim.Fingerprint) -> bool:
        pair = _headline_pair(a, b)
        if pair is None:
            return False
        ta, tb = pair
        return sim._weighted_jaccard(ta, tb)[0] >= min_sim and sum(1 for w in ta & tb if sim.idf(w) >= min_idf) >= k

    return weak


def one_source(min_idf: float) -> Callable[[sim.Fingerprint, sim.Fingerprint], bool]:
    """One source's headlines sharing a word of idf >= ``min_idf``, no overlap bar."""

    def weak(a: sim.Fingerprint, b: sim.Fingerprint) -> bool:
        pair = _headline_pair(a, b)
        return pair is not None and a.source == b.source and any(sim.idf(w) >= min_idf for w in pair[0] & pair[1])

    return weak


def nameless(fn: Callable[[sim.Fingerprint, sim.Fingerprint], bool]) -> Callable:
    """``fn``, only between headlines that name no one (no sentence-case names on either side)."""
    return lambda a, b: fn(a, b) and not (sim._headline_names(a) or sim._headline_names(b))


def headline_bars() -> dict[str, Callable]:
    bars: dict[str, Callable] = {
        f"near>={j} info>={i}": headline_weak(j, i) for j, i in ((0.45, 24.0), (0.4, 24.0), (0.35, 24.0), (0.35, 18.0))
    }
    bars["2 words idf>=5"] = shared_words(2, 5.0)
    bars["2 words idf>=5 J>=0.2"] = shared_words(2, 5.0, 0.2)
    bars["2 words idf>=5 J>=0.3"] = shared_words(2, 5.0, 0.3)
    bars["2 words idf>=6"] = shared_words(2, 6.0)
    bars["3 words idf>=5"] = shared_words(3, 5.0)
    bars["2 words idf>=5, no names"] = nameless(shared_words(2, 5.0))
    bars["2 words idf>=6, no names"] = nameless(shared_words(2, 6.0))
    bars["1 source, a word idf>=5.5"] = one_source(5.5)
    bars["1 source, a word idf>=5"] = one_source(5.0)
    return bars


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append")
    args = ap.parse_args(argv)
    todo = {
        "ecb-event": lambda: run("ecb-event", so._with_fps(so.load_ecb()), "event", event_bars()),
        "ecb-article": lambda: run("ecb-article", so._with_fps(so.load_ecb()), "article", headline_bars()),
        "upworthy-headline": lambda: run(
            "upworthy-headline", so._with_fps(so.load_upworthy(False)), "article", headline_bars()
        ),
        "upworthy-body": lambda: run("upworthy-body", so._with_fps(so.load_upworthy(True)), "article", headline_bars()),
        "uci": lambda: run("uci", so._with_fps(so.load_uci()), "article", headline_bars()),
        "uci-event": lambda: run("uci (event level)", so._with_fps(so.load_uci()), "event", event_bars()),
    }
    for name in args.only or [k for k in todo if k != "uci-event"]:
        todo[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
