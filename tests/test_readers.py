"""More real readers: sfeed parses exactly our stories with their titles and links, and
newsboat's third reload of a feed sends If-None-Match and gets 304 from our server."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import Resource, require_tool, syndicator, write_config
from tests.feedmaker import It, long_body, rss2
from tests.readers import Newsboat, serving


def _published(feed_server, tmp_path):
    feed_server.resources["/f.xml"] = Resource(rss2([
        It("Harbour strike ends", "https://s.example/n/strike", "1", long_body("Strike")),
        It("Museum & gallery reopen", "https://s.example/n/museum", "2", long_body("Museum")),
        It("Comet seen at dawn", "https://s.example/n/comet", "3", long_body("Comet")),
    ]))
    cfg = write_config(tmp_path, {"f": feed_server.url("/f.xml")})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    stories = json.loads(syndicator("--config", str(cfg), "stories", "--json").stdout)
    return cfg, {(s["title"], s["url"]) for s in stories}


def test_sfeed_reads_our_rss_and_atom(feed_server, tmp_path):
    sfeed = require_tool("sfeed")
    _, expected = _published(feed_server, tmp_path)
    for name in ("all.rss", "all.atom"):
        data = (tmp_path / "public" / name).read_bytes()
        out = subprocess.run([sfeed], input=data, capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        rows = [line.split(b"\t") for line in out.stdout.decode().encode().splitlines() if line]
        seen = {(r[1].decode(), r[2].decode()) for r in rows}
        assert seen == expected, name
        assert all(int(r[0]) > 0 for r in rows)  # sfeed read a date for every item


def test_newsboat_third_reload_is_a_304(feed_server, tmp_path):
    cfg, _ = _published(feed_server, tmp_path)
    log = tmp_path / "access.log"
    with serving(cfg, access_log=log) as base:
        url = base + "all.atom"
        reader = Newsboat(tmp_path / "nb", [url])
        for _ in range(3):
            reader.reload()
        import httpx

        health = httpx.get(base + "healthz")  # `serve` alone checks the store and the last publish too
        assert health.status_code == 200 and health.text.strip() == "ok"
    lines = [line for line in log.read_text().splitlines() if "GET /all.atom" in line]
    assert len(lines) == 3, log.read_text()[-2000:]
    # newsboat stores the validators from its first fetches and sends them from its third reload on.
    assert " 200" in lines[0]
    assert lines[2].rstrip().endswith("304 Not Modified"), lines[2]
