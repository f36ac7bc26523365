"""Items a source sends again as stored are not parsed again (syndicator.parse.items).

The promise: leaving the known items out changes nothing else. Every file of the feed corpus subset
(tests/fixtures/corpus/) and of 17 real feeds with several items (tests/fixtures/items/; see their
ATTRIBUTION.md) parses to the same entries with any of its items known as without, minus the known ones;
and what could make the same bytes parse otherwise (the document's URL, a base or language in force, an
internal DTD) changes the hashes or turns the cut off.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from syndicator.errors import ParseError
from syndicator.parse import items, parse_document
from tests.conftest import FIXTURES, Resource, db_rows, syndicator, write_config
from tests.feedmaker import It, atom, jsonfeed, long_body, rss1, rss2
from tests.test_corpus import FILES

URL = "https://site.example/feed.xml"
T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


def _items(n: int, start: int = 0, edited: int | None = None) -> list[It]:
    """Items ``start`` .. ``start + n - 1``, each its own story (made-up words: nothing merges them)."""
    return [
        It(f"{_word(k)} story number {k}" + (" (updated)" if k == edited else ""), f"https://site.example/{k}",
           f"g{k}", long_body(f"topic {k}"), T0 + timedelta(hours=k))
        for k in range(start, start + n)
    ]


def _word(k: int) -> str:
    return long_body(f"headline {k}").split()[4].capitalize()


def _number(guid: str) -> int:
    return int(guid.rsplit("/", 1)[-1].removeprefix("g"))


def _known(parsed, keep=lambda i: True) -> dict[str, str]:
    return {h: g for i, (g, h) in enumerate(parsed.raw_hashes.items()) if keep(i)}


FEEDS = [*FILES, *sorted(p for p in (FIXTURES / "items").rglob("*") if p.is_file() and p.suffix != ".md")]


def test_corpus_documents_parse_the_same_with_any_items_left_out():
    split = 0
    for path in FEEDS:
        body = path.read_bytes()
        try:
            whole = parse_document(body, URL, "")
        except ParseError:
            continue
        first = parse_document(body, URL, "", known_items={})
        assert (first.entries, first.title, first.warning, first.kind) == (
            whole.entries, whole.title, whole.warning, whole.kind), path
        if len(first.raw_hashes) < 2:
            continue
        split += 1
        for parity in (0, 1):
            known = _known(first, lambda i, parity=parity: i % 2 == parity)
            again = parse_document(body, URL, "", known_items=known)
            left_out = set(known.values())
            assert again.entries == tuple(e for e in whole.entries if e.guid not in left_out), path
            assert set(again.unchanged) == left_out, path
            assert (again.title, again.language, again.warning, again.kind) == (
                whole.title, whole.language, whole.warning, whole.kind), path
    assert split >= 20  # the subset's feeds with several items, RSS, RDF and Atom


@pytest.mark.parametrize("make", [rss2, rss1, atom, jsonfeed])
def test_the_items_sent_again_are_left_out_and_a_changed_one_is_parsed(make):
    first = parse_document(make(_items(6)), URL, "")
    assert len(first.raw_hashes) == 6 and first.unchanged == ()
    # Two new items on top, one edited, the feed's title changed: only those three are parsed.
    second_doc = make(_items(2, start=6) + _items(6, edited=3), title="Renamed feed")
    second = parse_document(second_doc, URL, "", known_items=_known(first))
    assert [e.title for e in second.entries] == [
        f"{_word(6)} story number 6", f"{_word(7)} story number 7", f"{_word(3)} story number 3 (updated)"]
    assert sorted(map(_number, second.unchanged)) == [0, 1, 2, 4, 5]  # RSS 1.0: the links
    whole = parse_document(second_doc, URL, "")
    assert second.entries == tuple(e for e in whole.entries if _number(e.guid) in (6, 7, 3))
    assert second.title == "Renamed feed"


def test_what_could_make_the_same_bytes_parse_otherwise_changes_the_hashes():
    doc = rss2(_items(3))
    known = _known(parse_document(doc, URL, "", known_items={}))
    assert len(parse_document(doc, URL, "", known_items=known).entries) == 0
    # Another address (relative links resolve against it), another media type, another setting.
    assert len(parse_document(doc, "https://elsewhere.example/feed.xml", "", known_items=known).entries) == 3
    assert len(parse_document(doc, URL, "text/html", known_items=known).entries) == 3
    assert len(parse_document(doc, URL, "", strip_tracking_pixels=False, known_items=known).entries) == 3
    # A base or a language in force around the items.
    based = doc.replace(b"<channel>", b'<channel xml:base="https://cdn.example/">')
    assert len(parse_document(based, URL, "", known_items=known).entries) == 3
    lang = doc.replace(b"<description>d</description>", b"<description>d</description><language>fr</language>")
    assert len(parse_document(lang, URL, "", known_items=known).entries) == 3
    # ... but not the channel's dates, which change with every item.
    dated = doc.replace(b"<description>d</description>",
                        b"<description>d</description><lastBuildDate>Tue, 01 Dec 2026 09:00:00 GMT</lastBuildDate>")
    assert len(parse_document(dated, URL, "", known_items=known).entries) == 0


@pytest.mark.parametrize("doc", [
    # entity declarations: feedparser expands them its own way (and bounds them: syndicator.parse.entities)
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY who "the board">]><rss version="2.0"><channel><title>t</title>'
    b"<item><title>Met &who;</title><guid>a</guid></item><item><title>B</title><guid>b</guid></item></channel></rss>",
    # an undefined entity: not well-formed, feedparser's loose parser reads it
    b'<rss version="2.0"><channel><title>t</title><item><title>Caf&eacute;</title><guid>a</guid></item>'
    b"<item><title>B</title><guid>b</guid></item></channel></rss>",
    # UTF-16
    '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>t</title>'
    "<item><title>A</title><guid>a</guid></item><item><title>B</title><guid>b</guid></item></channel></rss>"
    .encode("utf-16"),
    # not RSS, RDF or Atom at its root
    b"<html><body><item><title>A</title></item></body></html>",
])
def test_unusual_documents_are_parsed_whole(doc):
    assert items.find_items(doc, URL, "") is None
    try:
        whole = parse_document(doc, URL, "")
    except ParseError:
        return
    first = parse_document(doc, URL, "", known_items={"x" * 40: "a"})
    assert first.entries == whole.entries and first.raw_hashes == {} and first.unchanged == ()


def test_a_netscape_doctype_and_empty_items_still_split():
    doc = (b'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
           b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss version="0.91"><channel><title>t</title>'
           b"<link>https://n.example/</link><description>d</description><language>en</language>"
           b"<item><title>A</title><link>https://n.example/a</link></item><item/>"
           b"<item><title>B</title><link>https://n.example/b</link></item></channel></rss>")
    whole = parse_document(doc, URL, "")
    first = parse_document(doc, URL, "", known_items={})
    assert first.kind == whole.kind == "rss091n" and len(first.raw_hashes) == 3  # the empty one named by a hash
    again = parse_document(doc, URL, "", known_items=_known(first, lambda i: i == 0))
    assert again.entries == whole.entries[1:] and again.unchanged == ("https://n.example/a",)


def test_a_later_item_repeating_a_left_out_guid_is_dropped_as_in_a_whole_parse():
    base = _items(2)
    first = parse_document(rss2(base), URL, "", known_items={})
    twice = rss2([*base, It("Another item, same guid", "https://site.example/x", "g0", "Other text.", T0)])
    whole = parse_document(twice, URL, "")
    assert [e.title for e in whole.entries] == [it.title for it in base]
    again = parse_document(twice, URL, "", known_items=_known(first))
    assert again.entries == () and set(again.unchanged) == {"g0", "g1"}


def test_a_refresh_parses_only_what_changed_and_stores_the_same(tmp_path, feed_server):
    """Through the command line and a local server: the second document has two new items and an edited one
    among 20; the log says 3 of 22 were parsed, and the store holds what a whole parse gives."""
    feed_server.resources["/f.xml"] = Resource(rss2(_items(20)))
    cfg = write_config(tmp_path, {"harbour": f"http://127.0.0.1:{feed_server.port}/f.xml"},
                       extra='[log]\nformat = "json"\n')
    first = syndicator("--config", str(cfg), "--verbose", "refresh")
    assert first.returncode == 0, first.stderr
    assert _fetch_event(first.stderr)["parsed"] == 20
    hashes = dict(db_rows(cfg, "SELECT guid, raw_hash FROM articles"))
    assert len(hashes) == 20 and all(len(h) == 40 for h in hashes.values())

    feed_server.resources["/f.xml"] = Resource(rss2(_items(2, start=20) + _items(20, edited=7)))
    second = syndicator("--config", str(cfg), "--verbose", "refresh")
    assert second.returncode == 0, second.stderr
    event = _fetch_event(second.stderr)
    assert (event["entries"], event["parsed"]) == (22, 3)
    stories = json.loads(syndicator("--config", str(cfg), "stories", "--json", "--limit", "0").stdout)
    titles = sorted(s["title"] for s in stories)
    assert len(stories) == 22
    assert f"{_word(7)} story number 7 (updated)" in titles and f"{_word(21)} story number 21" in titles
    after = dict(db_rows(cfg, "SELECT guid, raw_hash FROM articles"))
    assert {g: h for g, h in after.items() if g not in ("g7", "g20", "g21")} == {
        g: h for g, h in hashes.items() if g != "g7"}
    assert after["g7"] != hashes["g7"]
    assert db_rows(cfg, "SELECT entries_seen FROM sources") == [(42,)]


def _fetch_event(stderr: str) -> dict:
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    (fetch,) = [e for e in events if e.get("event") == "fetch"]
    return fetch


def test_a_json_item_that_does_not_serialise_again_is_parsed_without_a_hash(monkeypatch):
    """json.loads accepted it; dumping it again for its hash failed (nested near the recursion limit)."""
    from syndicator.parse import jsonfeed as module

    doc = jsonfeed(_items(2))
    real = module.json.dumps

    def dumps(obj, **kwargs):
        if isinstance(obj, dict) and obj.get("id") == "g1":
            raise RecursionError("maximum recursion depth exceeded")
        return real(obj, **kwargs)

    monkeypatch.setattr(module.json, "dumps", dumps)
    parsed = parse_document(doc, URL, "")
    assert [e.guid for e in parsed.entries] == ["g0", "g1"] and list(parsed.raw_hashes) == ["g0"]
