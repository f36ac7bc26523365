"""A representative subset of the feed corpus (tests/fixtures/corpus/, see its ATTRIBUTION.md) through the
real command line as file sources: ill-formed XML, wrong and missing encodings, entity soup, items with no
title, a gzipped feed file, an HTML page, empty files, non-feed XML, JSON Feeds, a podcast. Nothing crashes;
where feedparser finds entries they are stored; every source's error or parse warning is recorded and
shown by ``sources list``; what is published stays valid."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest

from syndicator.errors import ParseError
from syndicator.parse import parse_document
from tests.conftest import FIXTURES, db_rows, syndicator, write_config
from tests.test_pipeline import validate_atom, validate_json_feed

CORPUS = FIXTURES / "corpus"
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "ATTRIBUTION.md")


def _feedparser_entries(path: Path) -> int:
    """What feedparser itself finds in the raw bytes (the corpus manifest's reference)."""
    return len(feedparser.parse(path.read_bytes(), response_headers={"content-type": "application/xml"}).entries)


def _states(cfg: Path) -> dict[str, tuple[str, str, str, int, int]]:
    rows = db_rows(
        cfg,
        "SELECT s.name, s.last_outcome, s.last_error, s.parse_warning, s.consecutive_errors,"
        " (SELECT count(*) FROM articles a WHERE a.source_id = s.id) FROM sources s",
    )
    return {r[0]: r[1:] for r in rows}


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    names = {f"c{k:03d}": path for k, path in enumerate(FILES)}
    cfg = write_config(folder, {n: str(p) for n, p in names.items()}, extra="[merge]\nsemantic = false\n")
    first = syndicator("--config", str(cfg), "refresh")
    listing = syndicator("--config", str(cfg), "sources", "list")
    return folder, cfg, names, first, listing


def test_the_subset_covers_every_kind():
    rel = {str(p.relative_to(CORPUS)) for p in FILES}
    assert len(FILES) >= 60
    for kind in ("illformed/", "encoding/utf-16", "encoding/utf-32", "entities/", "sanitize/", ".html",
                 "empty.xml", ".json", "compressed.xml", "theomnishow.rss", "feed-rs_fixtures/xml/"):
        assert any(kind in r for r in rel), kind


def test_no_crash_and_failures_are_named(corpus_run):
    _folder, _cfg, _names, first, listing = corpus_run
    assert first.returncode == 1, first.stderr  # some files are not feeds: named, not fatal
    assert "Traceback" not in first.stderr and "internal error" not in first.stderr, first.stderr
    assert listing.returncode == 0, listing.stderr


def test_entries_feedparser_finds_are_stored(corpus_run):
    _folder, cfg, names, _first, _listing = corpus_run
    states = _states(cfg)
    missing = []
    for name, path in names.items():
        found = _feedparser_entries(path)
        stored = states[name][4]
        if found and not stored:
            missing.append(f"{path.relative_to(CORPUS)}: feedparser {found}, stored 0 ({states[name][1]})")
    assert not missing, missing
    by_file = {str(p.relative_to(CORPUS)): states[n] for n, p in names.items()}
    # Items with nothing but an image, or an author: stored (they used to be dropped, and a headline-less
    # one made feedgen refuse the whole publish).
    assert by_file["feedparser_tests/encoding/encoding_attribute_crash.xml"][4] == 1
    assert by_file["feedparser_tests/wellformed/rss/item_author.xml"][4] == 1
    # Beyond feedparser: a gzipped feed file and JSON Feeds.
    assert by_file["real_world/danmactough_node-feedparser/compressed.xml"][4] > 0
    assert by_file["feedparser_tests/json/example.json"][4] == 2
    assert by_file["real_world/feed-rs_fixtures/jsonfeed/jsonfeed_spec_1.json"][4] > 0
    assert by_file["real_world/netnewswire_rsparser/theomnishow.rss"][4] > 0
    # Two items with one guid are one article.
    dupes = "feedparser_tests/wellformed/node_precedence/atom10_id.xml"
    assert by_file[dupes][4] == 1 and _feedparser_entries(CORPUS / dupes) == 2


def test_every_error_and_warning_is_recorded_and_listed(corpus_run):
    _folder, cfg, names, _first, listing = corpus_run
    states = _states(cfg)
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    by_file = {str(p.relative_to(CORPUS)): (n, states[n]) for n, p in names.items()}
    failed = warned = 0
    for name, (outcome, error, warning, errors, _stored) in states.items():
        text = error or warning
        if outcome == "error":
            failed += 1
            assert error and errors == 1, name
        elif warning:
            warned += 1
        if text:
            assert text[:40] in rows[name], (name, text, rows[name])
    assert failed >= 5 and warned >= 10, (failed, warned)
    for rel, reason in {
        "empty.xml": "empty document",
        "whitespace.xml": "empty document",
        "real_world/danmactough_node-feedparser/notafeed.html": "not a feed",
        "real_world/kagisearch_fastfeedparser/json_feed_sample.expected.json": "not a feed",
        "real_world/feed-rs_fixtures/xml/xml_sample_1.xml": "not a feed",
    }.items():
        name, state = by_file[rel]
        assert state[0] == "error" and reason in state[1], (rel, state)
        assert " error " in rows[name] and reason in rows[name], rows[name]
    # A bozo feed that still gave entries: stored, with its warning.
    name, state = by_file["feedparser_tests/illformed/chardet/big5.xml"]
    assert state[0] == "ok" and state[2], state


def test_published_feeds_stay_valid_and_a_second_refresh_adds_nothing(corpus_run):
    folder, cfg, _names, _first, _listing = corpus_run
    public = folder / "public"
    validate_atom((public / "all.atom").read_bytes())
    validate_json_feed((public / "all.json").read_bytes())
    assert not feedparser.parse((public / "all.rss").read_bytes()).bozo
    again = syndicator("--config", str(cfg), "refresh")
    assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr
    assert "articles: 0 new" in again.stdout
    stories = json.loads(syndicator("--config", str(cfg), "stories", "--json", "--limit", "0").stdout)
    assert all(s["title"] for s in stories)  # every stored item has a headline


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"version": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json", "nested too deeply"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png", "the server sent image/png"),
        (b"GIF89a" + bytes(100), "image/gif; charset=binary", "the server sent image/gif"),
    ],
)
def test_documents_that_are_no_feed_are_refused_with_a_reason(body, content_type, reason):
    with pytest.raises(ParseError, match=reason):
        parse_document(body, "http://127.0.0.1/x", content_type)
