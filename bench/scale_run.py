"""Refresh speed at scale, side by side: Syndicator, lemon24/reader and a floor, on the same served feeds.

For each size (N sources × M items) and latency, a feed server (bench/scale_feeds.py, its own process) serves
generation 1; then, three times over (median reported), each tool runs three scenarios, each one a whole
process timed from outside (wall clock; user+system CPU and peak RSS from os.wait4, i.e. getrusage of that
child: the largest single process; and the peak of the whole process tree's summed RSS, sampled from /proc
every half second by bench/proctree.py: the refresh with its parse workers and linking process):

- cold: an empty store;
- warm-unchanged: the same store again, every source answers 304;
- warm-incremental: the server switched to generation 2 (10% new items in every source).

A scenario in which the server did not see every source requested at least once, or whose process failed,
is marked FAILED. Tools: ``syndicator refresh`` with a generated configuration; ``reader`` (reader==3.27 in
its own venv: make_reader, add_feed, update_feeds(workers=4)); ``floor`` (4 threads download, feedparser
parses, nothing stored but validators).

    bash bench/setup.sh                                   # wrk, nginx, reader's venv, py-spy
    python bench/scale_run.py                             # the full run: 200x50 and 1000x50, 0 and 50 ms, 3 times
    python bench/scale_run.py --sizes 200x50 --latency 0 --repeat 1      # quick iteration
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import scale_feeds  # noqa: E402
from proctree import TreeSampler  # noqa: E402

SCENARIOS = ("cold", "warm-unchanged", "warm-incremental")
TOOLS = ("syndicator", "before", "reader", "floor")
DEFAULT_TOOLS = ("syndicator", "reader", "floor")
# "before": another checkout's Syndicator (--before, main's by default) timed in the same run as this one's,
# on the same server and the same seeded store: before/after side by side under the same load.
SYNDICATORS = ("syndicator", "before")


@dataclass
class Run:
    tool: str
    scenario: str
    wall: float
    cpu: float
    rss_mb: float
    exit_code: int
    requests: int
    fetched_sources: int
    sources: int
    status: dict = field(default_factory=dict)
    connections: int = 0  # TCP connections the feed server accepted during the run
    tree_mb: float = 0.0  # peak of the whole process tree's summed RSS (bench/proctree.py)
    tree: str = ""  # each process's own peak, MB
    tree_pss_mb: float = 0.0  # peak of the tree's summed PSS: shared pages counted once

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.fetched_sources == self.sources


class FeedServer:
    """bench/scale_feeds.py serve, in a process of its own so its CPU is not counted for any tool."""

    def __init__(self, sources: int, items: int, *, gzip: bool, hosts: int, port: int = 0) -> None:
        cmd = [sys.executable, str(BENCH / "scale_feeds.py"), "serve", "--sources", str(sources),
               "--items", str(items), "--hosts", str(hosts), "--port", str(port)] + (["--gzip"] if gzip else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the feed server did not start")
        info = json.loads(line)
        self.port, self.bytes_per_item, self.hosts = info["port"], info["bytes_per_item"], hosts
        self.sources = sources

    def control(self, path: str) -> dict:
        method = "GET" if path.startswith("/_bench/state") else "POST"
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, data=None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def urls(self) -> list[str]:
        return [scale_feeds.feed_url(i, self.hosts, self.port) for i in range(self.sources)]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def syndicator_config(work: Path, urls: list[str]) -> Path:
    lines = [
        "[storage]", f'url = "sqlite:///{work / "syndicator.db"}"',
        "[output]", f'dir = "{work / "public"}"', 'base_url = "http://127.0.0.1:8080/"',
        "[fetch]", 'default_interval = "1m"',  # every source is due again by the next scenario
        "[merge]", "semantic = false",  # the default install has no semantic extra; reader has none either
    ]
    for i, url in enumerate(urls):
        lines += ["[[sources]]", f'name = "s{i:04d}"', f'url = "{url}"']
    lines += ["[[feeds]]", 'name = "all"', 'title = "All stories"', 'sources = ["*"]']
    path = work / "syndicator.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def python_and_cwd(tool: str, args: argparse.Namespace) -> tuple[str, Path]:
    """The interpreter and working directory of a Syndicator tool: ``python -m syndicator`` imports the
    package from its working directory first, so "before" must run in the other checkout."""
    if tool == "before":
        return str(Path(args.before) / ".venv" / "bin" / "python"), Path(args.before)
    return args.syndicator_python, ROOT


def command(tool: str, work: Path, args: argparse.Namespace) -> list[str]:
    if tool in SYNDICATORS:
        return [python_and_cwd(tool, args)[0], "-m", "syndicator", "--config", str(work / "syndicator.toml"),
                "--quiet", "refresh"]
    if tool == "reader":
        return [args.reader_python, str(BENCH / "scale_reader.py"), str(work / "reader.sqlite"), str(work / "urls")]
    return [args.syndicator_python, str(BENCH / "scale_floor.py"), str(work / "floor.json"), str(work / "urls")]


PUBLISH = """import sys
from syndicator.config import load_config
from syndicator.refresh import publish_and_prune
from syndicator.store import Store
config = load_config(sys.argv[1])
with Store(config.database_url()) as store:
    publish_and_prune(store, config)
"""


def publish_seeded(tool: str, work: Path, args: argparse.Namespace) -> None:
    """Publish once, untimed, over a seeded store: the files a warm run's "nothing changed" check needs are
    in place, as they are after any real refresh, so a warm run measures only warm work."""
    python, cwd = python_and_cwd(tool, args)
    subprocess.run([python, "-c", PUBLISH, str(work / "syndicator.toml")], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)


def timed(cmd: list[str], log: Path, prefix: list[str], cwd: Path = ROOT
          ) -> tuple[float, float, float, int, TreeSampler]:
    """Wall seconds, CPU seconds, peak RSS of the largest process (MB), exit code, and the tree's memory."""
    with open(log, "ab") as out:
        start = time.monotonic()
        proc = subprocess.Popen(prefix + cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        tree = TreeSampler(proc.pid, interval=0.5)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        tree.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, tree


def run_tool(tool: str, server: FeedServer, work: Path, args: argparse.Namespace, rep: int) -> list[Run]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    urls = server.urls()
    (work / "urls").write_text("\n".join(urls) + "\n")
    syndicator_config(work, urls)
    runs = []
    server.control("/_bench/set?gen=1")
    seeded = tool in SYNDICATORS and args.syndicator_store
    if seeded:  # a store left by an earlier cold run against generation 1 of the same feeds
        shutil.copy(args.syndicator_store, work / "syndicator.db")
        publish_seeded(tool, work, args)
    cwd = python_and_cwd(tool, args)[1] if tool in SYNDICATORS else ROOT
    wanted = args.scenarios.split(",")
    for scenario in SCENARIOS:
        if scenario == "warm-incremental":
            server.control("/_bench/set?gen=2")
        if scenario not in wanted:
            if scenario == "cold" and not seeded:  # untimed: the warm scenarios need a store
                subprocess.run(command(tool, work, args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               cwd=cwd)
            continue
        server.control("/_bench/reset")
        prefix = []
        if args.profile and tool in SYNDICATORS:
            latency = server.control("/_bench/state")["latency_ms"]
            out = Path(args.profile) / f"{tool}-{len(urls)}-{latency:g}ms-{scenario}"
            pyspy = str(Path(args.syndicator_python).parent / "py-spy")
            prefix = [pyspy, "record", "--subprocesses", "--rate", "50", "--format", "speedscope",
                      "-o", f"{out}.json", "--"]
        wall, cpu, rss, code, tree = timed(command(tool, work, args), work / f"{tool}.log", prefix, cwd)
        st = server.control("/_bench/state")
        # Less the connection that asked for the state (urllib: one per control request).
        run = Run(tool, scenario, wall, cpu, rss, code, st["requests"], st["fetched_sources"], st["sources"],
                  st["status"], max(st.get("connections", 1) - 1, 0), tree.peak_mb, tree.describe(),
                  tree.peak_pss_mb)
        runs.append(run)
        flag = "" if run.ok else f"  FAILED (exit {code}, {run.fetched_sources}/{run.sources} sources fetched)"
        print(f"  rep {rep + 1} {tool:10s} {scenario:16s} wall {wall:7.2f}s cpu {cpu:7.2f}s rss {rss:6.0f}MB "
              f"tree {tree.peak_mb:6.0f}MB (PSS {tree.peak_pss_mb:.0f}MB) req {run.requests} conn {run.connections} "
              f"{st['status']}{flag}", flush=True)
        print(f"    processes' own peak RSS and CPU: {tree.describe()}", flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return runs


def median_run(runs: list[Run]) -> dict:
    return {
        "wall": statistics.median(r.wall for r in runs), "cpu": statistics.median(r.cpu for r in runs),
        "rss_mb": max(r.rss_mb for r in runs), "tree_mb": max(r.tree_mb for r in runs),
        "tree_pss_mb": max(r.tree_pss_mb for r in runs),
        "ok": all(r.ok for r in runs),
        "walls": [round(r.wall, 2) for r in runs], "requests": [r.requests for r in runs],
        "connections": [r.connections for r in runs],
    }


def report(results: dict) -> None:
    for key, cell in results.items():
        print(f"\n## {key}  (median of {len(next(iter(cell.values()))['walls'])}; rss = max)")
        print("| scenario | tool | wall s | CPU s | peak RSS MB (largest process) | tree MB | tree PSS MB | walls "
              "| connections | ok |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for scenario in SCENARIOS:
            for tool in TOOLS:
                m = cell.get(f"{tool}/{scenario}")
                if m:
                    print(f"| {scenario} | {tool} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['rss_mb']:.0f} | "
                          f"{m.get('tree_mb', 0):.0f} | {m.get('tree_pss_mb', 0):.0f} | {m['walls']} | "
                          f"{m.get('connections', '')} | "
                          f"{'yes' if m['ok'] else 'FAILED'} |")
        print("\n| scenario | ours/reader wall | ours/floor wall | ours/before wall | ours/reader CPU | "
              "ours/floor CPU | ours/before CPU |")
        print("|---|---|---|---|---|---|---|")
        for scenario in SCENARIOS:
            ours = cell.get(f"syndicator/{scenario}")
            if not ours:
                continue
            ratios = []
            for metric in ("wall", "cpu"):
                for other in ("reader", "floor", "before"):
                    o = cell.get(f"{other}/{scenario}")
                    ratios.append(f"{ours[metric] / o[metric]:.2f}" if o and o[metric] else "-")
            print(f"| {scenario} | " + " | ".join(ratios) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200x50,1000x50", help="comma-separated NxM (sources x items)")
    ap.add_argument("--latency", default="0,50", help="comma-separated milliseconds per request")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tool; the tools take turns going first")
    ap.add_argument("--reverse", action="store_true", help="the last tool of --tools goes first in the first run")
    ap.add_argument("--tools", default=",".join(DEFAULT_TOOLS), help=f"comma-separated, of {', '.join(TOOLS)}")
    ap.add_argument("--before", default="/work/main",
                    help='the checkout (with its .venv) that the "before" tool runs')
    ap.add_argument("--gzip", action="store_true", help="the server gzips when the client accepts it")
    ap.add_argument("--hosts", type=int, default=20, help="loopback addresses 127.0.0.1..N")
    ap.add_argument("--syndicator-python", default=str(ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--reader-python", default=str(ROOT / ".bench" / "reader-venv" / "bin" / "python"))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="time only these (cold still runs, untimed)")
    ap.add_argument("--syndicator-store", default="",
                    help="start Syndicator from this SQLite store (synced to generation 1; same --port) "
                    "instead of a cold run")
    ap.add_argument("--port", type=int, default=0, help="the feed server's port (a --syndicator-store's URLs)")
    ap.add_argument("--json", help="write every run and the medians here")
    ap.add_argument("--keep", action="store_true", help="keep the work folders (under --workdir)")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--profile", default="", help="run Syndicator under py-spy, speedscope files into this folder")
    args = ap.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    if "before" in tools and not (Path(args.before) / ".venv" / "bin" / "python").exists():
        raise SystemExit(f"{args.before}/.venv/bin/python is missing")
    if "reader" in tools and not Path(args.reader_python).exists():
        raise SystemExit(f"{args.reader_python} is missing: run bash bench/setup.sh")
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    base = Path(args.workdir or tempfile.mkdtemp(prefix="syndicator-scale-"))
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; load average {os.getloadavg()}; "
          f"{os.cpu_count()} CPUs; gzip {'on' if args.gzip else 'off'}", flush=True)
    results: dict = {}
    all_runs: list[dict] = []
    failed = False
    for size in args.sizes.split(","):
        n, m = (int(x) for x in size.lower().split("x"))
        server = FeedServer(n, m, gzip=args.gzip, hosts=args.hosts, port=args.port)
        try:
            print(f"# {n} sources x {m} items, {server.bytes_per_item:.0f} bytes an item", flush=True)
            for latency in (float(x) for x in args.latency.split(",")):
                server.control(f"/_bench/set?latency={latency:g}")
                key = f"{n}x{m}, latency {latency:g} ms"
                print(f"# {key}; load average {os.getloadavg()}", flush=True)
                runs: list[Run] = []
                for rep in range(args.repeat):
                    # The tools take turns going first: in one-run pairs the first tool's incremental run was
                    # the slower in all three pairs of session 14, whatever the pair differed in.
                    order = tools[::-1] if (rep % 2 == 1) != args.reverse else tools
                    for tool in order:
                        runs += run_tool(tool, server, base / f"{tool}-{n}x{m}", args, rep)
                cell = {}
                for tool in tools:
                    for scenario in SCENARIOS:
                        sel = [r for r in runs if r.tool == tool and r.scenario == scenario]
                        if sel:
                            cell[f"{tool}/{scenario}"] = median_run(sel)
                        failed |= not all(r.ok for r in sel)
                results[key] = cell
                all_runs += [dict(asdict(r), size=size, latency=latency) for r in runs]
        finally:
            server.close()
    report(results)
    print(f"\n# done {time.strftime('%H:%M:%S UTC', time.gmtime())}; load average {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"medians": results, "runs": all_runs}, indent=1))
    if not args.keep and not args.workdir:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
