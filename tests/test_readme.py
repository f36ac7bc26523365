"""The README's two commands are the contract with a new user: the demo command is run here
exactly as written, in a fresh copy of the project, and CI runs the test command."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import feedparser
import httpx
import pytest

from tests.conftest import ROOT


def readme_commands() -> list[str]:
    blocks = re.findall(r"```\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_starts_with_the_two_commands():
    demo, tests = readme_commands()
    head = (ROOT / "README.md").read_text().split("## ", 1)[0]
    assert demo in head and tests in head
    assert "refresh" in demo and demo.rstrip().endswith("serve")
    assert "config/syndicator.toml" in demo
    assert tests in (ROOT / ".ci" / "run").read_text()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_demo_command_exactly_as_written(tmp_path):
    demo, _ = readme_commands()
    if not _port_free(8080):
        pytest.fail("port 8080 is taken; the README's demo serves there")
    copy = tmp_path / "syndicator"
    shutil.copytree(
        ROOT, copy,
        ignore=shutil.ignore_patterns(".git", ".venv", "var", "public", "__pycache__", ".*_cache", "*.egg-info"),
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "SYNDICATOR_CONFIG", "PYTHONPATH")}
    proc = subprocess.Popen(
        ["bash", "-c", demo], cwd=copy, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 400
        atom = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get("http://127.0.0.1:8080/all.atom", timeout=2)
                if r.status_code == 200:
                    atom = r.content
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert atom is not None, proc.stdout.read() if proc.poll() is not None else "demo never served"
        titles = {e.title for e in feedparser.parse(atom).entries}
        assert "Only Six Western States Commit Troops to Ukraine, Europe Divided" in titles
        # One story under two headlines: the variant is not a second item.
        assert "Six Western Nations Pledge Troops to Ukraine, Europe Shows Hesitation" not in titles
        assert httpx.get("http://127.0.0.1:8080/").status_code == 200
        assert (copy / "var" / "syndicator.db").is_file()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
