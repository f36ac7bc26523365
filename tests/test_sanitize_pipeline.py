"""feedparser's sanitizer cases (tests/fixtures/sanitize, BSD-2-Clause, see its ATTRIBUTION.md)
through the whole pipeline: every one a file source, one refresh, and nothing dangerous in any
published format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import feedparser
import lxml.html
from lxml import etree

from tests.conftest import FIXTURES, syndicator, write_config

DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "applet", "frame", "frameset", "form", "style", "meta",
                  "link", "base"}
BAD_URL = re.compile(r"^\s*(javascript|vbscript|data(?!:image/(png|gif|jpeg|webp)))\s*:", re.I)


def _check_html(fragment: str, where: str) -> None:
    if not fragment.strip():
        return
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        assert el.tag.lower() not in DANGEROUS_TAGS, (where, el.tag, fragment[:300])
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (where, name, fragment[:300])
            assert name.lower() != "style" or "url(" not in value.lower(), (where, value)
            if name.lower() in ("href", "src", "action", "formaction", "background", "poster", "cite"):
                assert not BAD_URL.match(value), (where, name, value)


def test_sanitizer_cases_through_the_pipeline(tmp_path):
    cases = sorted((FIXTURES / "sanitize").glob("*.xml"))
    assert len(cases) > 700
    sources = {f"s{k}": str(path) for k, path in enumerate(cases)}
    feeds = '[[feeds]]\nname = "all"\nsources = ["*"]\nlimit = 5000\n'
    cfg = write_config(tmp_path, sources, feeds=feeds)
    out = syndicator("--config", str(cfg), "--quiet", "refresh", timeout=600)
    assert out.returncode in (0, 1), out.stderr
    public = tmp_path / "public"

    rss = etree.fromstring((public / "all.rss").read_bytes())
    items = rss.findall(".//item")
    assert len(items) > 150  # cases with nothing left to show are dropped, identical ones merge
    for item in items:
        _check_html(item.findtext("description") or "", "rss description")
        assert not re.search(r"<\s*[a-zA-Z!/?]", item.findtext("title") or "")  # no tag, not even as text
    atom = etree.fromstring((public / "all.atom").read_bytes())
    ns = {"a": "http://www.w3.org/2005/Atom"}
    for content in atom.findall(".//a:entry/a:content", ns) + atom.findall(".//a:entry/a:summary", ns):
        _check_html(content.text or "", "atom content")
    for item in json.loads((public / "all.json").read_bytes())["items"]:
        _check_html(item["content_html"], "json content_html")
        assert "<script" not in item["title"].lower()
    for name in ("all.rss", "all.atom"):
        assert not feedparser.parse((public / name).read_bytes()).bozo

    # Safe markup survives: links and emphasis from the "acceptable" cases are still there.
    html = (public / "all.atom").read_text()
    assert "&lt;a href=" in html and ("&lt;em&gt;" in html or "&lt;strong&gt;" in html)


def test_script_in_a_title_is_inert_everywhere(tmp_path):
    feed = tmp_path / "evil.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>x</title><link>https://e.example/</link><description>d</description>'
        "<item><title>&lt;script&gt;alert(1)&lt;/script&gt; Breaking</title><link>https://e.example/n/1</link>"
        "<description>&lt;img src=x onerror=alert(1)&gt;&lt;a href='javascript:alert(1)'&gt;x&lt;/a&gt;"
        "</description></item></channel></rss>"
    )
    cfg = write_config(tmp_path, {"evil": str(feed)})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    public = Path(tmp_path / "public")
    for name in ("all.rss", "all.atom", "all.json", "index.html"):
        text = (public / name).read_text()
        assert "<script" not in text.lower(), name
        assert "onerror" not in text.lower(), name
        assert "javascript:" not in text.lower(), name
    index = lxml.html.fromstring((public / "index.html").read_bytes())
    assert not index.xpath("//script")
    assert any("Breaking" in (a.text_content() or "") for a in index.xpath("//a"))
