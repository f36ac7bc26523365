"""The command line's other commands: version, sources (list, OPML in and out), stories."""

from __future__ import annotations

import json
import tomllib

from lxml import etree

from syndicator import __version__
from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, rss2


def test_version_and_usage_errors(tmp_path):
    out = syndicator("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"syndicator {__version__}"
    assert syndicator("frobnicate").returncode == 2
    cfg = write_config(tmp_path, {})
    assert syndicator("--config", str(cfg), "stories", "--limit", "-3").returncode == 2
    out = syndicator("--config", str(cfg), "stories", "--feed", "nope")
    assert out.returncode == 2 and "nope" in out.stderr


def test_python_dash_m_and_console_script_agree(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    script = shutil.which("syndicator") or str(Path(sys.executable).parent / "syndicator")
    out = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == syndicator("--version").stdout


def test_import_opml_keeps_comments_and_layout(tmp_path):
    cfg = tmp_path / "syndicator.toml"
    original = (
        "# My sources, carefully kept\n"
        "[storage]\n"
        'url = "sqlite:///store.db"  # the store\n'
        "\n"
        "[[sources]]\n"
        'name = "wire"  # the wire\n'
        'url = "https://wire.example/feed.xml"\n'
    )
    cfg.write_text(original)
    opml = tmp_path / "in.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head/><body>'
        '<outline text="Tech"><outline type="rss" text="The Verge" xmlUrl="https://verge.example/rss"/>'
        '<outline type="rss" title="Wire again" xmlUrl="https://wire.example/feed.xml"/></outline>'
        '<outline type="rss" text="Local" xmlUrl="file:///etc/passwd"/>'
        '<outline type="rss" text="The Verge" xmlUrl="https://verge2.example/rss"/>'
        "</body></opml>"
    )
    out = syndicator("--config", str(cfg), "sources", "import-opml", str(opml))
    assert out.returncode == 0, out.stderr
    assert "2 source(s) added" in out.stdout
    assert "already configured" in out.stderr and "file:///etc/passwd" in out.stderr
    text = cfg.read_text()
    assert text.startswith(original)  # comments and layout untouched
    data = tomllib.loads(text)
    assert [(s["name"], s["url"]) for s in data["sources"]] == [
        ("wire", "https://wire.example/feed.xml"),
        ("the-verge", "https://verge.example/rss"),
        ("the-verge-2", "https://verge2.example/rss"),
    ]
    # Importing again adds nothing.
    again = syndicator("--config", str(cfg), "sources", "import-opml", str(opml))
    assert "0 source(s) added" in again.stdout and cfg.read_text() == text
    bad = tmp_path / "bad.opml"
    bad.write_text("<opml><body><outline")
    broken = syndicator("--config", str(cfg), "sources", "import-opml", str(bad))
    assert broken.returncode == 2 and "OPML" in broken.stderr


def test_export_opml_round_trips(tmp_path):
    cfg = write_config(tmp_path, {"a": "https://a.example/feed", "b": "local/b.xml"})
    out = syndicator("--config", str(cfg), "sources", "export-opml")
    assert out.returncode == 0
    doc = etree.fromstring(out.stdout.encode())
    urls = [o.get("xmlUrl") for o in doc.iter("outline")]
    assert urls == ["https://a.example/feed", (tmp_path / "local" / "b.xml").resolve().as_uri()]


def test_sources_list_and_stories_text(feed_server, tmp_path):
    feed_server.resources["/f.xml"] = Resource(rss2([It("Hello world", "https://h.example/1", "1")]))
    cfg = write_config(tmp_path, {"f": feed_server.url("/f.xml"), "never": "https://n.example/x"})
    before = syndicator("--config", str(cfg), "sources", "list")
    assert before.returncode == 0
    assert "never" in before.stdout.split("\n")[2] and "now" in before.stdout
    assert syndicator("--config", str(cfg), "refresh", "--source", "f").returncode == 0
    listing = syndicator("--config", str(cfg), "sources", "list").stdout
    line = next(x for x in listing.splitlines() if x.startswith("f "))
    assert " ok " in line and ("in 5" in line or "in 6" in line)
    text = syndicator("--config", str(cfg), "stories").stdout
    assert "Hello world" in text and "https://h.example/1" in text


def test_explain_shows_merge_reasons_and_aliases(feed_server, tmp_path):
    feed_server.resources["/f.xml"] = Resource(rss2([
        It("One", "https://x.example/a/story-one?utm_campaign=1", "1"),
        It("One again", "https://x.example/a/story-one", "2"),
    ]))
    cfg = write_config(tmp_path, {"f": feed_server.url("/f.xml")})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    stories = json.loads(syndicator("--config", str(cfg), "stories", "--json").stdout)
    assert len(stories) == 1
    out = syndicator("--config", str(cfg), "stories", "--explain", stories[0]["id"])
    assert out.returncode == 0
    explained = json.loads(out.stdout)
    rules = [a["merge"]["rule"] for a in explained["articles"]]
    assert sorted(rules) == ["new", "url"]
    missing = syndicator("--config", str(cfg), "stories", "--explain", "urn:uuid:nope")
    assert missing.returncode == 2 and "no story" in missing.stderr


def test_progress_bar_on_a_terminal_and_none_in_a_pipe(feed_server, tmp_path):
    """A refresh on a terminal draws a progress bar; piped output holds only the summary."""
    import os
    import pty
    import select
    import sys

    feed_server.resources["/f.xml"] = Resource(rss2([It("Hello", "https://h.example/news/1", "1")]))
    cfg = write_config(tmp_path, {"f": feed_server.url("/f.xml")})
    pid, fd = pty.fork()
    if pid == 0:  # the child runs the real command line on the pseudo-terminal
        os.execv(sys.executable, [sys.executable, "-m", "syndicator", "--config", str(cfg), "refresh"])
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    screen = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0
    assert "fetching" in screen and "1/1" in screen  # the bar, with its count
    assert "sources: 1 fetched" in screen
    piped = syndicator("--config", str(cfg), "refresh")
    assert "fetching" not in piped.stdout + piped.stderr
