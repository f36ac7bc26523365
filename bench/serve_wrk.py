"""Serving speed: wrk against /all.atom from ``syndicator serve``, beside nginx serving the same file.

A small refresh (4 generated sources × 50 items from bench/scale_feeds.py, read as local files) publishes a
100-item all.atom; ``syndicator serve`` serves it, and nginx (Debian's, one worker process, run as the
unprivileged user ``nobody`` with a temporary configuration on a free port) serves the same folder. wrk
(Debian's) measures each, without and with a matching If-None-Match (a 304 answer): requests per second and
p99 latency. Both servers run one process, so neither gets more cores than the other.

With ``--repeat N`` the servers take turns N times (ours, nginx, ours, nginx, ...), so that a change in the
machine's load hits both alike; each round's ratio is printed and the medians reported. ``--before-python``
serves the same folder a third time with another checkout's interpreter (its code before a change), in
the same rounds.

    bash bench/setup.sh        # wrk and nginx
    python bench/serve_wrk.py [--duration 10] [--connections 50] [--repeat 5]
    python bench/serve_wrk.py --repeat 5 --before-python /path/to/old/checkout/.venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import scale_feeds  # noqa: E402

NGINX_CONF = """daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    include /etc/nginx/mime.types;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        etag on;
    }}
}}
"""


def wait_http(url: str, seconds: float = 20) -> dict[str, str]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                resp.read()
                return {k.lower(): v for k, v in resp.headers.items()}
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wrk(url: str, args: argparse.Namespace, etag: str = "") -> dict:
    cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency", url]
    if etag:
        cmd[1:1] = ["-H", f"If-None-Match: {etag}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale, "errors": int(non2xx.group(1)) if non2xx else 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--syndicator-python", default=str(ROOT / ".venv" / "bin" / "python"))
    ap.add_argument("--before-python", help="also serve with this interpreter (another checkout's code)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds, the servers taking turns; medians reported")
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is missing: run bash bench/setup.sh")
    work = Path(tempfile.mkdtemp(prefix="syndicator-serve-"))
    os.chmod(work, 0o755)
    procs: list[subprocess.Popen] = []
    try:
        lines = ["[storage]", f'url = "sqlite:///{work / "store.db"}"', "[output]", f'dir = "{work / "public"}"',
                 "[merge]", "semantic = false"]
        for i in range(4):
            path = work / f"feed{i}.xml"
            path.write_bytes(scale_feeds.render(3, 4, 50, i, 1))
            lines += ["[[sources]]", f'name = "s{i}"', f'url = "{path}"']
        lines += ["[[feeds]]", 'name = "all"', 'title = "All"', 'sources = ["*"]', "limit = 100"]
        (work / "syndicator.toml").write_text("\n".join(lines) + "\n")
        syn = [args.syndicator_python, "-m", "syndicator", "--config", str(work / "syndicator.toml"), "--quiet"]
        subprocess.run([*syn, "refresh"], check=True)
        atom = work / "public" / "all.atom"
        print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; all.atom {atom.stat().st_size} bytes, "
              f"{atom.read_text().count('<entry>')} entries; wrk -t2 -c{args.connections} -d{args.duration}s; "
              f"load average {os.getloadavg()}", flush=True)
        ours_port, nginx_port = scale_feeds.free_port(), scale_feeds.free_port()
        ports = {"syndicator": ours_port}
        procs.append(subprocess.Popen([*syn, "serve", "--host", "127.0.0.1", "--port", str(ours_port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if args.before_python:
            ports["before"] = scale_feeds.free_port()
            procs.append(subprocess.Popen([args.before_python, *syn[1:], "serve", "--host", "127.0.0.1", "--port",
                                           str(ports["before"])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ports["nginx"] = nginx_port
        prefix = work / "nginx"
        (prefix / "tmp").mkdir(parents=True)
        (prefix / "nginx.conf").write_text(NGINX_CONF.format(prefix=prefix, port=nginx_port, root=work / "public"))
        shutil.chown(prefix, "nobody")
        shutil.chown(prefix / "tmp", "nobody")
        for p in (work / "public").iterdir():
            p.chmod(0o644)
        (work / "public").chmod(0o755)
        nginx = ["nginx", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(prefix / "nginx.conf")]
        if os.geteuid() == 0:  # never run the anchor as root
            nginx = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *nginx]
        procs.append(subprocess.Popen(nginx))
        etags = {name: wait_http(f"http://127.0.0.1:{port}/all.atom")["etag"] for name, port in ports.items()}
        rounds: list[dict[str, dict]] = []
        for n in range(args.repeat):
            results = {}
            for name, port in ports.items():
                url = f"http://127.0.0.1:{port}/all.atom"
                results[name] = {"200": wrk(url, args), "304": wrk(url, args, etags[name])}
                print(f"{name}: {results[name]}", flush=True)
            rounds.append(results)
            print(f"# round {n + 1}: ours/nginx req/s " + ", ".join(
                f"{kind} {results['syndicator'][kind]['rps'] / results['nginx'][kind]['rps']:.2f}"
                for kind in ("200", "304")) + f"; load average {os.getloadavg()}", flush=True)
        med = {name: {kind: {key: statistics.median(r[name][kind][key] for r in rounds) for key in ("rps", "p99_ms")}
                      for kind in ("200", "304")} for name in ports}
        print(f"\n| server | full body req/s | p99 ms | If-None-Match (304) req/s | p99 ms |"
              f"  (median of {args.repeat})")
        print("|---|---|---|---|---|")
        for name, r in med.items():
            print(f"| {name} | {r['200']['rps']:.0f} | {r['200']['p99_ms']:.2f} | {r['304']['rps']:.0f} | "
                  f"{r['304']['p99_ms']:.2f} |")
        for kind in ("200", "304"):
            ratios = sorted(r["syndicator"][kind]["rps"] / r["nginx"][kind]["rps"] for r in rounds)
            line = (f"ours/nginx req/s ({kind}): median {statistics.median(ratios):.2f}, "
                    f"rounds {ratios[0]:.2f}-{ratios[-1]:.2f}")
            if "before" in ports:
                before = sorted(r["before"][kind]["rps"] / r["nginx"][kind]["rps"] for r in rounds)
                line += f"; before/nginx median {statistics.median(before):.2f}"
            print(line + " (target >= 0.3)")
        print(f"# load average {os.getloadavg()}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
