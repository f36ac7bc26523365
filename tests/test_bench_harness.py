"""The benchmark harness itself (bench/scale_feeds.py): a deterministic generator, a conditional-GET server."""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request
from pathlib import Path

import feedparser
import pytest

from tests import benchdata
from tests.benchdata import scale_feeds

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def small_data():
    with benchdata.small_data():
        yield


def test_generator_is_deterministic_sized_and_mixes_formats():
    first = scale_feeds.render(1, 8, 10, 2, 1)
    assert first == scale_feeds.render(1, 8, 10, 2, 1)
    assert first != scale_feeds.render(2, 8, 10, 2, 1)  # the seed matters
    rss = feedparser.parse(first)
    assert rss.version == "rss20" and len(rss.entries) == 10
    assert 1500 < len(first) / 10 < 3500  # about 2 KB an item
    atom = feedparser.parse(scale_feeds.render(1, 8, 10, 3, 1))
    assert atom.version == "atom10" and len(atom.entries) == 10
    gen2 = feedparser.parse(scale_feeds.render(1, 8, 10, 2, 2))
    old = {e.id for e in rss.entries}
    new = [e for e in gen2.entries if e.id not in old]
    assert len(new) == 1 and len(gen2.entries) == 10  # 10% new, as many old ones dropped
    assert new[0].id == gen2.entries[0].id  # on top


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), b""


def test_server_answers_304_to_validators_and_counts_requests():
    farm = scale_feeds.Farm(4, 5)
    port = scale_feeds.free_port()
    servers = scale_feeds.serve(farm, port, hosts=2)
    try:
        url = scale_feeds.feed_url(1, 2, port)
        assert "127.0.0.2" in url  # sources are spread over the loopback addresses
        status, headers, body = _get(url)
        assert status == 200 and body == farm.docs[1][1].body
        assert _get(url, {"If-None-Match": headers["ETag"]})[0] == 304
        assert _get(url, {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
        assert _get(url, {"If-None-Match": '"other"'})[0] == 200
        state = farm.state()
        assert state["requests"] == 4 and state["fetched_sources"] == 1
        assert state["status"]["304"] == 2
        farm.gen = 2  # the second generation: the old validators no longer match
        assert _get(url, {"If-None-Match": headers["ETag"]})[0] == 200
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def test_corroboration_rules_keep_triangles_and_drop_lone_bridges():
    # bench/corroboration_offline.py: the weak pair (0, 1) sits in a triangle with 2; the weak pair (3, 4)
    # bridges two strong pairs alone; (5, 6) and (5, 7) are two weak pairs between the same strong components.
    import corroboration_offline as co

    strong = {(0, 2), (2, 3), (4, 8), (6, 7)}
    weak = {(0, 1), (1, 2), (3, 4), (5, 6), (5, 7)}
    assert set(co.corroborated(9, strong, weak, "single")) == weak
    assert set(co.corroborated(9, strong, weak, "tri")) == {(0, 1), (1, 2), (5, 6), (5, 7)}
    assert set(co.corroborated(9, strong, weak, "tri2")) == set()
    assert set(co.corroborated(9, strong, weak, "tri-s")) == {(0, 1), (1, 2), (5, 6), (5, 7)}
    # (0, 1) and (1, 2) are two weak pairs between 1 and the strong component {0, 2, 3} as well
    assert set(co.corroborated(9, strong, weak, "comp2")) == {(0, 1), (1, 2), (5, 6), (5, 7)}
    assert set(co.corroborated(9, strong, weak, "comp3")) == set()
    assert co.components(9, sorted(strong) + co.corroborated(9, strong, weak, "tri"))[1] == 0


def test_store_builder_config_is_the_benchmarks_with_the_fast_build_settings(tmp_path):
    import tomllib

    import scale_run
    import scale_store

    urls = ["http://127.0.0.1:1/feeds/0.xml", "http://127.0.0.2:1/feeds/1.xml"]
    built = tomllib.loads(scale_store.build_config(tmp_path, urls).read_text())
    plain = tomllib.loads(scale_run.syndicator_config(tmp_path, urls).read_text())
    assert built["merge"] == {**plain["merge"], "window": "1s"} and built["related"] == {"limit": 0}
    assert built["sources"] == plain["sources"] and built["feeds"] == plain["feeds"]


def test_before_tool_runs_the_other_checkout_in_its_own_folder(tmp_path):
    import scale_run

    args = argparse.Namespace(
        before=str(tmp_path / "main"), syndicator_python="/venv/bin/python")
    assert scale_run.python_and_cwd("before", args) == (str(tmp_path / "main" / ".venv" / "bin" / "python"),
                                                         tmp_path / "main")
    assert scale_run.python_and_cwd("syndicator", args) == ("/venv/bin/python", scale_run.ROOT)
    cmd = scale_run.command("before", tmp_path, args)
    assert cmd[0].startswith(str(tmp_path / "main")) and cmd[-1] == "refresh"
    run = scale_run.Run("before", "warm-unchanged", 1.0, 0.5, 60.0, 0, 10, 10, 10, {}, connections=3)
    assert run.ok and scale_run.median_run([run])["connections"] == [3]


def test_tree_sampler_sums_the_memory_of_a_process_and_its_children():
    # A parent holding 30 MB starts two children holding 60 MB each and waits for them: the largest single
    # process (what os.wait4 reports) is ~70 MB, the tree's sum ~170 MB; the sampler must see the sum.
    import subprocess
    import sys
    import time

    from proctree import TreeSampler

    child = "b = bytearray(60 << 20); import time; time.sleep(3)"
    parent = ("import subprocess, sys; b = bytearray(30 << 20); "
              f"ps = [subprocess.Popen([sys.executable, '-c', {child!r}]) for _ in range(2)]; "
              "[p.wait() for p in ps]")
    proc = subprocess.Popen([sys.executable, "-c", parent])
    sampler = TreeSampler(proc.pid, interval=0.1)
    proc.wait()
    time.sleep(0.2)
    sampler.stop()
    assert sampler.peak_mb > 150, sampler.describe()
    # PSS counts the private bytearrays whole and the interpreter's shared pages once: a little below RSS
    assert 150 < sampler.peak_pss_mb < sampler.peak_mb, (sampler.peak_pss_mb, sampler.peak_mb)
    own = sorted(kb for _name, kb in sampler.peaks.values())
    assert len(own) == 3 and own[-1] / 1024 < 100, sampler.describe()
