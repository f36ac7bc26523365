"""The command line's malloc setting (syndicator.cli._few_malloc_arenas): glibc's arenas counted in /proc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_ARENA_PROBE = """
import sys, threading
if sys.argv[1] == "set":
    from syndicator.cli import _few_malloc_arenas
    _few_malloc_arenas()
def work():
    for _ in range(2000):
        x = [bytearray(3000) for _ in range(50)]
        del x
threads = [threading.Thread(target=work) for _ in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
# glibc's arenas but the main one: a 64 MB mapping, a read-write part followed by a reserved (---p) part
arenas, prev = 0, None
for line in open("/proc/self/maps"):
    parts = line.split()
    lo, hi = (int(x, 16) for x in parts[0].split("-"))
    if len(parts) == 5 and parts[1] == "---p" and prev and prev[1] == lo and prev[2] == "rw-p" \\
            and hi - prev[0] == 64 << 20:
        arenas += 1
    prev = (lo, hi, parts[1]) if len(parts) == 5 else None
print(arenas)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas, read from /proc")
def test_the_command_line_keeps_malloc_to_two_arenas_unless_told(tmp_path):
    """16 threads allocating at once: glibc made a dozen arenas; the command line (cli.main) allows two."""
    probe = tmp_path / "probe.py"
    probe.write_text(_ARENA_PROBE)
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}

    def arenas(mode: str, **extra: str) -> int:
        out = subprocess.run([sys.executable, str(probe), mode], cwd=root, env={**env, **extra},
                             capture_output=True, text=True, timeout=120, check=True)
        return int(out.stdout)

    assert arenas("unset") >= 4
    assert arenas("set") <= 1
    assert arenas("set", MALLOC_ARENA_MAX="8") >= 4  # the environment's setting wins
