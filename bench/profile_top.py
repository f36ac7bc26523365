"""Summarise a py-spy speedscope profile: the functions with most inclusive and self time.

    python bench/profile_top.py PROFILE.json [--top 25]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter


def summarise(path: str, top: int) -> str:
    with open(path) as f:
        doc = json.load(f)
    frames = doc["shared"]["frames"]
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0.0
    for prof in doc["profiles"]:
        for stack, weight in zip(prof["samples"], prof["weights"], strict=True):
            names = [f"{frames[i]['name']} ({frames[i].get('file', '').rsplit('/', 2)[-1]}:{frames[i].get('line', '')})"
                     for i in stack]
            total += weight
            for n in set(names):
                incl[n] += weight
            if names:
                self_[names[-1]] += weight
    out = [f"{path}: {total:g} samples (all threads)", "inclusive:"]
    out += [f"  {w / total:6.1%}  {n}" for n, w in incl.most_common(top)]
    out += ["self:"]
    out += [f"  {w / total:6.1%}  {n}" for n, w in self_.most_common(top)]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profiles", nargs="+")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    for p in args.profiles:
        print(summarise(p, args.top))


if __name__ == "__main__":
    main()
