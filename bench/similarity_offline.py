"""Offline evaluation of syndicator.similarity on the labelled story data.

No database, no CLI of the product: this simulates the merge stage directly.
Articles arrive in time order; the candidates of an article are the earlier
articles sharing at least one index key and published within 72 h; a match
links two articles; stories are the connected components of the match graph.

Run from the repository root::

    python bench/similarity_offline.py            # every scenario and the baselines
    python bench/similarity_offline.py --only upworthy-body --examples 10
    python bench/similarity_offline.py --build-idf  # rewrite syndicator/similarity_idf.py

Data (../shared/data/stories, see ../shared/data/README.md): Upworthy Research
Archive (CC BY 4.0, Matias et al. 2021), ECB+ (CC BY 3.0, Cybulska & Vossen
2014), UCI News Aggregator (CC BY 4.0, Gasparetti 2017), STS Benchmark
(CC BY-SA 4.0, Cer et al. 2017), MSR Paraphrase Corpus (Dolan & Brockett 2005).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from syndicator import similarity as sim  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "stories"
if not DATA.is_dir():  # a worktree under /work/wt/ rather than a checkout beside shared/
    DATA = Path("/work/shared/data/stories")
WINDOW = timedelta(hours=72)
SEED = 20240611


# ----------------------------------------------------------------------------
# items


@dataclass
class Item:
    doc: sim.Doc
    label: str
    ident: str
    fp: sim.Fingerprint | None = field(default=None, repr=False)


def _week_start(yyyyww: str) -> datetime:
    year, week = int(yyyyww[:4]), int(yyyyww[4:])
    return datetime.fromisocalendar(year, max(1, min(week, 52)), 1).replace(tzinfo=UTC)


UPWORTHY_SOURCES = (
    # name, site, appends "The post … appeared first on …", how it cuts bodies short
    ("Upworthy", "Upworthy", False, None),
    ("Upworthy (excerpt feed)", "Upworthy", False, "chars"),
    ("GoodNewsRelay", "Good News Relay", True, "words"),
)

_CURLY = (('"', "\u201c", "\u201d"), ("'", "\u2019", "\u2019"))


def _typography(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        # curly quotes: opening after a space or at the start, closing elsewhere
        out = []
        for i, ch in enumerate(text):
            if ch == '"':
                out.append("\u201c" if i == 0 or text[i - 1] in " (" else "\u201d")
            elif ch == "'":
                out.append("\u2018" if i == 0 or text[i - 1] in " (" else "\u2019")
            else:
                out.append(ch)
        text = "".join(out)
    if rng.random() < 0.4:
        text = text.replace(" - ", " \u2014 ").replace("--", "\u2014")
    if rng.random() < 0.3:
        text = text.replace("&", "&amp;")
    if rng.random() < 0.4:
        words = text.split(" ")
        text = "".join(
            w + (rng.choice(["\u00a0", "  ", "\n", " \t"]) if rng.random() < 0.1 else " ") for w in words
        ).strip()
    return text


def noisy_body(lede: str, headline: str, source: tuple, rng: random.Random) -> str:
    """Syndication noise: cut short with an ellipsis, boilerplate line, typography.

    Cuts are the ones feeds make: an excerpt feed cuts at a character budget
    (here 120 to 260, anywhere, even inside a word), a WordPress-style feed at
    a word budget (here 20 to 55 words) with " [...]"; text shorter than the
    budget stays whole. Only about half the items of a cutting source are cut.
    """
    _, site, boilerplate, cut = source
    body = lede
    if cut == "chars" and rng.random() < 0.6:
        limit = rng.randint(120, 260)
        if len(body) > limit:
            body = body[:limit].rstrip() + rng.choice([" \u2026", "\u2026", "..."])
    elif cut == "words" and rng.random() < 0.5:
        limit = rng.randint(20, 55)
        words = body.split()
        if len(words) > limit:
            body = " ".join(words[:limit]) + rng.choice([" [\u2026]", " [...]", "\u2026"])
    body = _typography(body, rng)
    if boilerplate:
        body += rng.choice(["\n", " ", "\n\n"]) + f"The post {headline} appeared first on {site}."
    return body


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def load_upworthy(with_body: bool = True, seed: int = SEED) -> list[Item]:
    with open(DATA / "upworthy_headline_variants.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_cluster: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_cluster[r["story_cluster_id"]].append(r)
    items = []
    for cid in sorted(by_cluster):
        rng = random.Random(f"{seed}:{cid}")
        variants = by_cluster[cid]
        base = _week_start(variants[0]["test_week"]) + timedelta(seconds=rng.randrange(7 * 86400))
        for i, r in enumerate(variants):
            source = rng.choice(UPWORTHY_SOURCES)
            published = base + timedelta(seconds=rng.randrange(6 * 3600))
            body = noisy_body(r["lede_text"], r["headline"], source, rng) if with_body else ""
            url = f"https://{_slug(source[0])}.example/{_slug(r['headline'])}-{cid[-6:]}{i}"
            doc = sim.Doc(r["headline"], body, url, published, source[0])
            items.append(Item(doc, cid, f"{cid}/{i}"))
    return items


def load_ecb() -> list[Item]:
    items = []
    base = datetime(2013, 5, 1, tzinfo=UTC)
    for line in (DATA / "ecbplus_documents.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        rng = random.Random(f"{SEED}:{d['doc_id']}")
        host = re.sub(r"^https?://(www\.)?([^/]+).*$", r"\2", d["url"]) if d["url"] else ""
        source = host or f"ecb-outlet-{rng.randrange(8)}"
        # every document inside one 48 h window: all of them are candidates of each other
        published = base + timedelta(seconds=rng.randrange(48 * 3600))
        doc = sim.Doc(d["title"], d["text"], d["url"], published, source)
        items.append(Item(doc, d["subtopic"], d["doc_id"]))
    return items


def load_uci() -> list[Item]:
    items = []
    with open(DATA / "uci_news_head5000.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            published = datetime.fromtimestamp(int(r["TIMESTAMP"]) / 1000, tz=UTC)
            doc = sim.Doc(r["TITLE"], "", r["URL"], published, r["PUBLISHER"])
            items.append(Item(doc, r["STORY"], r["ID"]))
    return items


# ----------------------------------------------------------------------------
# simulation


KeysFn = Callable[[Item], Iterable[str]]
CompareFn = Callable[[Item, Item], "sim.Match | None"]


@dataclass
class Result:
    name: str
    n: int
    pair_p: float
    pair_r: float
    pair_f1: float
    b3_p: float
    b3_r: float
    b3_f1: float
    merged_pairs: int
    true_pairs: int
    cand_mean: float
    cand_p95: int
    cand_max: int
    keys_mean: float
    key_share_max: int
    false_edges: list = field(default_factory=list)
    seconds: float = 0.0


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def simulate(name: str, items: list[Item], keys_fn: KeysFn, compare_fn: CompareFn) -> Result:
    t0 = time.perf_counter()
    order = sorted(range(len(items)), key=lambda i: (items[i].doc.published, items[i].ident))
    index: dict[str, list[int]] = defaultdict(list)
    uf = UnionFind(len(items))
    cand_counts = []
    key_counts = []
    false_edges = []
    for i in order:
        it = items[i]
        keys = set(keys_fn(it))
        key_counts.append(len(keys))
        cands: set[int] = set()
        for k in keys:
            for j in index[k]:
                if it.doc.published - items[j].doc.published <= WINDOW:
                    cands.add(j)
        cand_counts.append(len(cands))
        for j in sorted(cands):
            m = compare_fn(it, items[j])
            if m is not None:
                uf.union(i, j)
                if items[j].label != it.label:
                    false_edges.append((items[j], it, m))
        for k in keys:
            index[k].append(i)
    pred = [uf.find(i) for i in range(len(items))]
    res = score(name, [it.label for it in items], pred)
    cand_counts.sort()
    res.cand_mean = sum(cand_counts) / len(cand_counts)
    res.cand_p95 = cand_counts[int(0.95 * (len(cand_counts) - 1))]
    res.cand_max = cand_counts[-1]
    res.keys_mean = sum(key_counts) / len(key_counts)
    res.key_share_max = max((len(v) for v in index.values()), default=0)
    res.false_edges = false_edges
    res.seconds = time.perf_counter() - t0
    return res


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def score(name: str, truth: list, pred: list) -> Result:
    joint = Counter(zip(truth, pred, strict=False))
    t_sizes = Counter(truth)
    p_sizes = Counter(pred)
    tp = sum(_pairs(c) for c in joint.values())
    pp = sum(_pairs(c) for c in p_sizes.values())
    tpairs = sum(_pairs(c) for c in t_sizes.values())
    p = tp / pp if pp else 1.0
    r = tp / tpairs if tpairs else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    n = len(truth)
    b3p = sum(joint[(t, q)] / p_sizes[q] for t, q in zip(truth, pred, strict=False)) / n
    b3r = sum(joint[(t, q)] / t_sizes[t] for t, q in zip(truth, pred, strict=False)) / n
    b3f = 2 * b3p * b3r / (b3p + b3r) if b3p + b3r else 0.0
    return Result(name, n, p, r, f1, b3p, b3r, b3f, pp, tpairs, 0, 0, 0, 0, 0)


# ----------------------------------------------------------------------------
# rules


def _with_fps(items: list[Item]) -> list[Item]:
    for it in items:
        it.fp = sim.fingerprint(it.doc)
    return items


def product_rule(level: str) -> tuple[KeysFn, CompareFn]:
    def keys(it: Item) -> Iterable[str]:
        return sim.index_keys(it.fp, level)

    def cmp(a: Item, b: Item) -> sim.Match | None:
        return sim.compare(a.fp, b.fp, level)

    return keys, cmp


def exact_title_rule() -> tuple[KeysFn, CompareFn]:
    def norm(it: Item) -> str:
        return " ".join(it.doc.title.lower().split())

    def keys(it: Item) -> Iterable[str]:
        return [norm(it)] if norm(it) else []

    def cmp(a: Item, b: Item) -> sim.Match | None:
        return sim.Match(1.0, "exact-title", {}) if norm(a) == norm(b) else None

    return keys, cmp


def exact_body_rule() -> tuple[KeysFn, CompareFn]:
    def norm(it: Item) -> str:
        return " ".join(it.doc.body.split())

    def keys(it: Item) -> Iterable[str]:
        return [norm(it)] if norm(it) else []

    def cmp(a: Item, b: Item) -> sim.Match | None:
        return sim.Match(1.0, "exact-body", {}) if norm(a) == norm(b) else None

    return keys, cmp


# ----------------------------------------------------------------------------
# extra checks: STS and MRPC pairs, compared directly (no index)


def sts_check() -> dict:
    """Share of STS-B news pairs matched at article level, by gold score band (as headlines)."""
    bands = [(0, 2), (2, 3), (3, 4), (4, 4.6), (4.6, 5.01)]
    hits: Counter = Counter()
    tot: Counter = Counter()
    when = datetime(2015, 1, 1, tzinfo=UTC)
    with open(DATA / "stsb_news.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    examples = []
    for r in rows:
        s = float(r[5])
        band = next(b for b in bands if b[0] <= s < b[1])
        a = sim.fingerprint(sim.Doc(r[6], "", "", when, "a"))
        b = sim.fingerprint(sim.Doc(r[7], "", "", when, "b"))
        m = sim.compare(a, b)
        tot[band] += 1
        if m:
            hits[band] += 1
            if s < 4 and len(examples) < 5:
                examples.append((s, r[6], r[7], m.kind))
    return {"bands": {f"{b[0]}-{min(b[1], 5)}": (hits[b], tot[b]) for b in bands}, "examples": examples}


def mrpc_check() -> dict:
    """MRPC sentence pairs used as (short) bodies with unrelated headlines."""
    when = datetime(2015, 1, 1, tzinfo=UTC)
    with open(DATA / "msr_paraphrase_train.txt", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    hits: Counter = Counter()
    tot: Counter = Counter()
    for r in rows:
        a = sim.fingerprint(sim.Doc(f"Headline {r[1]}", r[3], "", when, "a"))
        b = sim.fingerprint(sim.Doc(f"Headline {r[2]}", r[4], "", when, "b"))
        tot[r[0]] += 1
        hits[r[0]] += sim.compare(a, b) is not None
    return {"paraphrase": (hits["1"], tot["1"]), "not_paraphrase": (hits["0"], tot["0"])}


# ----------------------------------------------------------------------------
# idf table


def build_idf(out: Path, min_df: int = 5) -> None:
    """Document frequencies of the words common across the data sets (not names of one topic)."""
    units: dict[str, list[str]] = defaultdict(list)
    with open(DATA / "upworthy_headline_variants.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    units["upworthy"] = sorted({r["headline"] for r in rows} | {r["lede_text"] for r in rows})
    with open(DATA / "uci_news_head5000.csv", encoding="utf-8") as f:
        units["uci"] = sorted({r["TITLE"] for r in csv.DictReader(f)})
    ecb_lines = (DATA / "ecbplus_documents.jsonl").read_text(encoding="utf-8").splitlines()
    units["ecbplus"] = [json.loads(x)["text"] for x in ecb_lines]
    with open(DATA / "stsb_news.tsv", encoding="utf-8") as f:
        rows2 = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    units["stsb"] = sorted({r[6] for r in rows2} | {r[7] for r in rows2})
    with open(DATA / "msr_paraphrase_train.txt", encoding="utf-8-sig") as f:
        rows3 = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    units["mrpc"] = sorted({r[3] for r in rows3} | {r[4] for r in rows3})
    df: Counter = Counter()
    sets: dict[str, set] = defaultdict(set)
    n = 0
    for name, texts in units.items():
        for t in texts:
            n += 1
            for w in set(sim.tokens(sim.normalise_text(t))):
                df[w] += 1
                sets[w].add(name)
    keep = sorted(w for w, c in df.items() if c >= min_df and len(sets[w]) >= 2)
    lines = [
        '"""Fixed document frequencies of common words for syndicator.similarity (generated).',
        "",
        "Built offline by ``python bench/similarity_offline.py --build-idf`` from the",
        "development half of the project's evaluation data: Upworthy Research Archive",
        "(CC BY 4.0; Matias, Munger, Le Quere, Ebersole 2021), UCI News Aggregator",
        "(CC BY 4.0; Gasparetti 2017), ECB+ (CC BY 3.0; Cybulska & Vossen 2014),",
        "STS Benchmark (CC BY-SA 4.0; Cer et al. 2017) and the MSR Paraphrase Corpus",
        "(Dolan & Brockett 2005). Only aggregate counts of words that occur in at",
        f"least {min_df} texts and in at least two of the sets are kept: a word that",
        "is absent counts as rare. Do not edit by hand.",
        '"""',
        "",
        "from types import MappingProxyType",
        "",
        f"DOC_COUNT = {n}",
        "",
        "_DATA = (",
    ]
    chunk: list[str] = []
    for w in keep:
        chunk.append(f"{w}:{df[w]}")
        if len(" ".join(chunk)) > 80:
            lines.append(f'    "{" ".join(chunk)} "')
            chunk = []
    if chunk:
        lines.append(f'    "{" ".join(chunk)}"')
    lines += [
        ")",
        "",
        "DOC_FREQ = MappingProxyType(",
        '    {w: int(c) for w, _, c in (p.partition(":") for p in _DATA.split())}',
        ")",
        "",
    ]
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}: {len(keep)} words from {n} texts")


# ----------------------------------------------------------------------------
# report


def _row(r: Result) -> str:
    return (
        f"| {r.name} | {r.n} | {r.pair_p:.4f} | {r.pair_r:.4f} | {r.pair_f1:.4f} | {r.b3_f1:.4f} "
        f"| {r.merged_pairs} | {r.true_pairs} | {r.cand_mean:.1f} / {r.cand_p95} / {r.cand_max} "
        f"| {r.keys_mean:.1f} | {r.key_share_max} | {r.seconds:.1f} |"
    )


HEADER = (
    "| scenario | items | pair P | pair R | pair F1 | B3 F1 | merged pairs | true pairs "
    "| candidates mean/p95/max | keys/article | max articles per key | s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _example(a: Item, b: Item, m: sim.Match) -> str:
    def short(s: str, n: int = 90) -> str:
        s = " ".join(s.split())
        return s if len(s) <= n else s[: n - 1] + "\u2026"

    return (
        f"  - {m.kind} {m.score} {json.dumps(m.signals)}\n"
        f"      A [{a.label[-8:]}] {short(a.doc.title)} | {short(a.doc.body, 70)}\n"
        f"      B [{b.label[-8:]}] {short(b.doc.title)} | {short(b.doc.body, 70)}"
    )


def scenarios() -> dict[str, Callable[[], list[tuple[str, list[Item], tuple[KeysFn, CompareFn]]]]]:
    def upworthy_body():
        items = _with_fps(load_upworthy(True))
        return [
            ("upworthy, body", items, product_rule("article")),
            ("upworthy, body: baseline exact title", items, exact_title_rule()),
            ("upworthy, body: baseline exact body", items, exact_body_rule()),
        ]

    def upworthy_headline():
        items = _with_fps(load_upworthy(False))
        return [
            ("upworthy, headline only", items, product_rule("article")),
            ("upworthy, headline only: baseline exact title", items, exact_title_rule()),
        ]

    def ecb():
        items = _with_fps(load_ecb())
        return [
            ("ECB+ article", items, product_rule("article")),
            ("ECB+ event", items, product_rule("event")),
            ("ECB+: baseline exact title", items, exact_title_rule()),
            ("ECB+: baseline exact body", items, exact_body_rule()),
        ]

    def uci():
        items = _with_fps(load_uci())
        return [
            ("UCI headlines", items, product_rule("article")),
            ("UCI headlines: event level", items, product_rule("event")),
            ("UCI: baseline exact title", items, exact_title_rule()),
        ]

    return {"upworthy-body": upworthy_body, "upworthy-headline": upworthy_headline, "ecb": ecb, "uci": uci}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="scenario group: " + ", ".join(scenarios()))
    ap.add_argument("--examples", type=int, default=3, help="false merges to print per scenario")
    ap.add_argument("--no-extra", action="store_true", help="skip the STS / MRPC checks")
    ap.add_argument("--build-idf", action="store_true", help="rewrite syndicator/similarity_idf.py and stop")
    args = ap.parse_args(argv)
    if args.build_idf:
        build_idf(ROOT / "syndicator" / "similarity_idf.py")
        return 0
    results = []
    groups = scenarios()
    for g in args.only or list(groups):
        for name, items, (keys_fn, cmp_fn) in groups[g]():
            results.append(simulate(name, items, keys_fn, cmp_fn))
            r = results[-1]
            if name.startswith("ECB+ article"):
                wrong = r.merged_pairs - round(r.pair_p * r.merged_pairs)
                print(
                    f"# {name}: {r.merged_pairs} merged pairs, {wrong} across different events "
                    f"({(wrong / r.merged_pairs if r.merged_pairs else 0):.2%})"
                )
            if args.examples and r.false_edges and "baseline" not in name:
                print(f"# {name}: {len(r.false_edges)} false links, e.g.")
                for a, b, m in r.false_edges[: args.examples]:
                    print(_example(a, b, m))
    print()
    print(HEADER)
    for r in results:
        print(_row(r))
    if not args.no_extra:
        sts = sts_check()
        print("\nSTS-B news pairs as headlines, matched at article level (matched/total by gold score):")
        print("  " + ", ".join(f"{k}: {h}/{t}" for k, (h, t) in sts["bands"].items()))
        for s, x, y, kind in sts["examples"]:
            print(f"  - score {s} {kind}: {x!r} ~ {y!r}")
        mr = mrpc_check()
        print("MRPC pairs as bodies (different headlines), matched at article level:")
        print(
            f"  paraphrase {mr['paraphrase'][0]}/{mr['paraphrase'][1]}, "
            f"not paraphrase {mr['not_paraphrase'][0]}/{mr['not_paraphrase'][1]}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
