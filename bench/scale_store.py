"""Build a Syndicator store of N sources × M items once, by a real refresh, for warm runs to start from.

A cold refresh at 1,000 × 50 takes the better part of an hour at default settings (merging each new article
against a 72-hour window, relating stories); warm-unchanged runs need only the store it leaves (sources,
validators, articles), so this builds it with ``[related] limit = 0`` and ``[merge] window = "1s"``: the
same rows a real refresh writes, in minutes. The feed server listens on a fixed ``--port`` because the
store keeps the sources' URLs: give bench/scale_run.py the same ``--port`` with ``--syndicator-store``.

    python bench/scale_store.py --sources 1000 --items 50 --port 18731 --out .bench/results/syn-1000x50.db
    python bench/scale_run.py --sizes 1000x50 --latency 50 --port 18731 \\
        --syndicator-store .bench/results/syn-1000x50.db --scenarios warm-unchanged
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from scale_run import FeedServer, syndicator_config  # noqa: E402


def build_config(work: Path, urls: list[str]) -> Path:
    """The benchmark's configuration plus the fast-build settings: what makes a cold refresh slow at scale
    (merge window, related stories), not what the warm runs measure."""
    path = syndicator_config(work, urls)
    text = path.read_text().replace("[merge]\nsemantic = false\n", '[merge]\nsemantic = false\nwindow = "1s"\n', 1)
    text = text.replace("[[sources]]", "[related]\nlimit = 0\n[[sources]]", 1)
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--port", type=int, required=True, help="fixed: the store keeps the URLs")
    ap.add_argument("--out", required=True, help="where to copy the built SQLite store")
    ap.add_argument("--syndicator-python", default=str(ROOT / ".venv" / "bin" / "python"))
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="syndicator-store-"))
    server = FeedServer(args.sources, args.items, gzip=False, hosts=args.hosts, port=args.port)
    try:
        server.control("/_bench/set?gen=1&latency=0")
        config = build_config(work, server.urls())
        start = time.monotonic()
        cmd = [args.syndicator_python, "-m", "syndicator", "--config", str(config), "--quiet", "refresh"]
        code = subprocess.run(cmd).returncode
        st = server.control("/_bench/state")
        print(f"built in {time.monotonic() - start:.1f}s, exit {code}, "
              f"{st['fetched_sources']}/{st['sources']} sources fetched", flush=True)
        if code != 0 or st["fetched_sources"] != st["sources"]:
            return 1
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(work / "syndicator.db", args.out)
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
