"""The memory of a whole process tree, sampled from /proc while it runs.

`os.wait4` gives the peak RSS of the largest single process (getrusage's ``ru_maxrss`` of a reaped child is
the largest of it and its waited-for descendants, not their sum). A refresh is a tree: the refresh, its parse
workers and its linking process (and multiprocessing's resource tracker, until syndicator.subprocs started
them without multiprocessing). What a small machine must hold is their sum at the worst moment, so a thread
sums ``VmRSS`` over the tree every ``interval`` seconds and keeps the
largest sum and each process's own peak. A short-lived peak between two samples can be missed; the sum is a
lower bound of the true peak, never above it.

Summed RSS counts a page shared by several processes once in each: the interpreter's and the extension
modules' code, mapped by all four processes of a refresh. The sampler also sums each process's PSS
(``/proc/PID/smaps_rollup``: a shared page divided among the processes sharing it), which is what the tree
holds in physical memory; both are reported, RSS first, since the issue's target is written in RSS.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _tree(pids: set[int]) -> set[int]:
    """``pids`` and every process descending from them (one /proc pass)."""
    found: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        # The command name sits in parentheses and may hold spaces; the parent pid is the second field after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry.name)] = ppid
    tree = set(pids)
    grew = True
    while grew:
        grew = False
        for pid, ppid in found.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far (its own, not its children's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime: fields 14 and 15 of stat(5)


def _kb(path: str, field: str) -> int:
    """The kB figure of the line starting ``field`` in a /proc file (0 once the process is gone)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kb(pid: int) -> int:
    return _kb(f"/proc/{pid}/status", "VmRSS:")


def _pss_kb(pid: int) -> int:
    return _kb(f"/proc/{pid}/smaps_rollup", "Pss:")


def _name(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(c.decode(errors="replace") for c in cmd if c)
    if "resource_tracker" in text:
        return "resource tracker"
    if "spawn_main" in text:
        return "spawned child"
    if "syndicator.subprocs" in text and len(cmd) > 1:  # a Child: its name is its last argument
        return next((c.decode(errors="replace") for c in reversed(cmd) if c), "?")
    return Path(cmd[0].decode(errors="replace")).name if cmd and cmd[0] else "?"


class TreeSampler:
    """Samples the tree rooted at ``pid`` until ``stop``; ``peak_mb`` is the largest sum seen."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self.peak_pss_kb = 0  # the largest sum of PSS seen
        self.peaks: dict[int, tuple[str, int]] = {}  # pid -> (name, its own peak kB)
        self.cpu: dict[int, float] = {}  # pid -> its CPU seconds at the last sample that saw it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = pss = 0
            for pid in _tree({self.pid}):
                kb = _rss_kb(pid)
                total += kb
                pss += _pss_kb(pid)
                name, peak = self.peaks.get(pid) or (_name(pid), 0)
                self.peaks[pid] = (name, max(peak, kb))
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_s(pid))
            self.peak_kb = max(self.peak_kb, total)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def peak_pss_mb(self) -> float:
        return self.peak_pss_kb / 1024

    def describe(self) -> str:
        """Each process's own peak and CPU seconds (up to its last sample), largest first:
        "python 182 MB 150 s, spawned child 161 MB 90 s, ..."."""
        parts = sorted(self.peaks.items(), key=lambda p: -p[1][1])
        return ", ".join(f"{name} {kb / 1024:.0f} MB {self.cpu.get(pid, 0):.0f} s"
                         for pid, (name, kb) in parts if kb)
