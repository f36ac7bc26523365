"""Full text for summary-only sources (`full_text = true`): a local server serves a feed of teasers
and the articles' HTML pages; the extracted text is stored and merged on, optionally published,
each page is fetched once, and a page that fails never fails the source."""

from __future__ import annotations

import json
import time

import feedparser
from sqlalchemy import select

from syndicator import __version__
from syndicator.config import load_config
from syndicator.store import ArticleRow, Store
from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, rss2

HARBOUR = [
    "The harbour authority approved a plan on Tuesday to dredge the eastern channel, ending a dispute that had "
    "kept larger cargo ships away from the port for almost two years.",
    "Under the agreement, dredging will begin in the spring and is expected to take eleven months, during which "
    "the western berths will remain open to ferries and fishing boats.",
    "Local fishermen had opposed earlier versions of the plan, arguing that disturbed sediment would harm the "
    "shellfish beds that support dozens of families along the coast.",
    "The final version moves the disposal site twelve kilometres offshore and funds an independent monitoring "
    "programme, which the fishermen's cooperative said it could accept.",
    "Shipping companies welcomed the decision, saying that a deeper channel would allow vessels carrying up to "
    "eight thousand containers to call at the port without waiting for high tide.",
]
LIBRARY = [
    "The city library will stay open until midnight on weekdays from next month, after a trial in the autumn "
    "drew far more students than the council had expected.",
    "Librarians counted more than four hundred visitors an evening during the exam period, most of them looking "
    "for a quiet place to study and a reliable internet connection.",
    "The extra hours will be paid for by closing two rarely used reading rooms on Sunday mornings, a change the "
    "council said would save enough to cover the additional staff.",
    "Residents who responded to a consultation asked for more seating and power sockets, which the library says "
    "it will add to the ground floor before the summer.",
]

FRESH = [
    "A new cycle path along the river opened on Saturday, linking the old town with the university campus for "
    "the first time without a stretch on the main road.",
    "The path cost less than planned because most of it follows the towpath of a canal that closed to barges "
    "in the nineteen sixties.",
]


def page(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/sport'>Sport</a> <a href='/weather'>Weather</a></nav>"
        f"<article><h1>{title}</h1>{body}</article>"
        "<footer>Copyright 2026 Coast News. Subscribe to our newsletter for more.</footer></body></html>"
    ).encode()


def _serve_teasers(feed_server, items: list[It]) -> None:
    feed_server.resources["/teasers.xml"] = Resource(rss2(items, title="Coast News"))


def _teasers(feed_server, extra: list[It] = ()) -> list[It]:
    return [
        It("Harbour deal reached", feed_server.url("/harbour.html"), "h", "Read our report from the port."),
        It("Late nights at the library", feed_server.url("/library.html"), "l", "Students get more time."),
        It("Broken page", feed_server.url("/missing.html"), "m", "This teaser stays as it is."),
        It("Huge page", feed_server.url("/huge.html"), "x", "This teaser stays too."),
        *extra,
    ]


def _config(tmp_path, feed_server, source_extra: str):
    cfg = write_config(
        tmp_path,
        {"teasers": feed_server.url("/teasers.xml"), "wire": feed_server.url("/wire.xml")},
        extra="[fetch]\nmax_bytes = 200000\n",
    )
    text = cfg.read_text().replace(
        f'url = "{feed_server.url("/teasers.xml")}"', f'url = "{feed_server.url("/teasers.xml")}"\n{source_extra}'
    )
    cfg.write_text(text)
    return cfg


def _setup(feed_server):
    feed_server.resources["/harbour.html"] = Resource(page("Harbour deal", HARBOUR), "text/html; charset=utf-8")
    feed_server.resources["/library.html"] = Resource(page("Library hours", LIBRARY), "text/html; charset=utf-8")
    feed_server.resources["/huge.html"] = Resource(page("Huge", HARBOUR * 2000), "text/html")
    _serve_teasers(feed_server, _teasers(feed_server))
    # Another outlet publishes the whole harbour article in its feed, under another headline and URL.
    feed_server.resources["/wire.xml"] = Resource(rss2(
        [It("Port channel dredging approved", "https://wire.example/port", "w1", " ".join(HARBOUR))], title="Wire"
    ))


def _articles(cfg) -> dict[str, ArticleRow]:
    with Store(load_config(cfg).database_url()) as store, store.session() as s:
        return {a.guid: a for a in s.scalars(select(ArticleRow))}


def _stories(cfg) -> list[dict]:
    out = syndicator("--config", str(cfg), "stories", "--json", "--limit", "0")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_full_text_is_extracted_merged_on_and_each_page_fetched_once(feed_server, tmp_path):
    _setup(feed_server)
    cfg = _config(tmp_path, feed_server, "full_text = true")
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr  # a missing or oversized page never fails the source
    arts = _articles(cfg)
    assert arts["h"].full_text_status == "ok" and HARBOUR[3] in arts["h"].full_text
    assert "Subscribe to our newsletter" not in arts["h"].full_text and "Sport" not in arts["h"].full_text
    assert arts["h"].text == arts["h"].full_text  # what merging compares
    assert arts["h"].summary == "Read our report from the port."  # the teaser stays the summary
    assert arts["l"].full_text_status == "ok" and LIBRARY[2] in arts["l"].full_text
    assert arts["m"].full_text_status == "failed" and arts["m"].text == "This teaser stays as it is."
    assert arts["x"].full_text_status == "failed" and arts["x"].text == "This teaser stays too."
    # The teaser's article merged with the wire's full copy thanks to the page's text.
    merged = [s for s in _stories(cfg) if len(s["articles"]) == 2]
    assert len(merged) == 1 and {a["source"] for a in merged[0]["articles"]} == {"teasers", "wire"}
    # Published content is still the feed's own (full_text_publish is off).
    atom = (tmp_path / "public" / "all.atom").read_text()
    assert LIBRARY[2] not in atom and "Students get more time." in atom
    # Pages are asked for like feeds: our User-Agent, HTML wanted.
    page_request = feed_server.requests_for("/harbour.html")[0]
    assert page_request.headers["user-agent"].startswith(f"Syndicator/{__version__} (+")
    assert page_request.headers["accept"].startswith("text/html")

    # The feed changes (a new item): only the new article's page is fetched; none is fetched again,
    # not even the ones that failed.
    feed_server.requests.clear()
    feed_server.resources["/fresh.html"] = Resource(page("Fresh", FRESH), "text/html")
    _serve_teasers(feed_server, _teasers(feed_server, [It("Fresh news", feed_server.url("/fresh.html"), "f", "New.")]))
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert sorted(r.path for r in feed_server.requests if r.path.endswith(".html")) == ["/fresh.html"]
    arts = _articles(cfg)
    assert arts["f"].full_text_status == "ok" and arts["h"].full_text_status == "ok"
    assert HARBOUR[3] in arts["h"].text  # re-reading the teaser did not put the teaser back
    assert len([s for s in _stories(cfg) if len(s["articles"]) == 2]) == 1


def test_without_full_text_the_teaser_does_not_merge(feed_server, tmp_path):
    _setup(feed_server)
    cfg = _config(tmp_path, feed_server, "full_text = false")
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert not [r for r in feed_server.requests if r.path.endswith(".html")]  # off by default: no page fetched
    assert all(len(s["articles"]) == 1 for s in _stories(cfg))


def test_full_text_publish_puts_the_page_text_in_the_published_item(feed_server, tmp_path):
    _setup(feed_server)
    cfg = _config(tmp_path, feed_server, "full_text = true\nfull_text_publish = true")
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    entries = {e.title: e for e in feedparser.parse((tmp_path / "public" / "all.atom").read_bytes()).entries}
    library = entries["Late nights at the library"]
    assert LIBRARY[2] in library.content[0].value and "<p>" in library.content[0].value
    assert "Subscribe to our newsletter" not in library.content[0].value
    assert "This teaser stays as it is." in entries["Broken page"].content[0].value  # the fallback
    before = (tmp_path / "public" / "all.atom").read_bytes()
    # The next refresh re-reads the same teasers (the channel's title changed): no page is fetched again,
    # and the items keep the pages' text, so no published file changes.
    feed_server.requests.clear()
    feed_server.resources["/teasers.xml"] = Resource(rss2(_teasers(feed_server), title="Coast News today"))
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert feed_server.requests_for("/teasers.xml")[0].status == 200
    assert not [r for r in feed_server.requests if r.path.endswith(".html")]
    assert (tmp_path / "public" / "all.atom").read_bytes() == before


def test_pages_on_a_rate_limited_host_wait_and_are_fetched_later(feed_server, tmp_path):
    # The pages live on another host name ("localhost") than the feed; that host answers 429 at first.
    busy = Resource(b"slow down", "text/plain", status=429, headers={"Retry-After": "1"})
    feed_server.resources["/harbour.html"] = feed_server.resources["/library.html"] = busy
    urls = {g: feed_server.url(p).replace("127.0.0.1", "localhost") for g, p in (("h", "/harbour.html"),
                                                                                 ("l", "/library.html"))}
    _serve_teasers(feed_server, [It("Harbour deal reached", urls["h"], "h", "Read our report from the port."),
                                 It("Late nights at the library", urls["l"], "l", "Students get more time.")])
    feed_server.resources["/wire.xml"] = Resource(rss2([]))
    cfg = _config(tmp_path, feed_server, "full_text = true")
    cfg.write_text(cfg.read_text().replace("[fetch]\n", "[fetch]\nper_host = 1\n"))
    out = syndicator("--config", str(cfg), "refresh")
    assert out.returncode == 0, out.stderr  # the source itself is fine
    pages = [r for r in feed_server.requests if r.path.endswith(".html")]
    assert len(pages) == 1  # the second page was not asked for while its host said to wait
    assert {a.full_text_status for a in _articles(cfg).values()} == {"deferred"}
    time.sleep(1.2)
    feed_server.resources["/harbour.html"] = Resource(page("Harbour deal", HARBOUR), "text/html")
    feed_server.resources["/library.html"] = Resource(page("Library hours", LIBRARY), "text/html")
    feed_server.requests.clear()
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    # The feed is read again in full (no 304) so that the waiting pages are fetched now.
    assert "if-none-match" not in feed_server.requests_for("/teasers.xml")[0].headers
    assert sorted(r.path for r in feed_server.requests if r.path.endswith(".html")) == ["/harbour.html",
                                                                                          "/library.html"]
    arts = _articles(cfg)
    assert arts["h"].full_text_status == "ok" and HARBOUR[3] in arts["h"].text
    feed_server.requests.clear()
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    assert feed_server.requests_for("/teasers.xml")[0].status == 304
    assert not [r for r in feed_server.requests if r.path.endswith(".html")]


def test_pages_beyond_the_per_refresh_limit_wait_for_the_next_refresh(feed_server, tmp_path, monkeypatch):
    from syndicator import fulltext
    from syndicator.config import load_config
    from syndicator.refresh import refresh

    monkeypatch.setattr(fulltext, "MAX_PAGES_PER_REFRESH", 1)
    _setup(feed_server)
    _serve_teasers(feed_server, _teasers(feed_server)[:2])  # harbour and library
    cfg = _config(tmp_path, feed_server, "full_text = true")
    config = load_config(cfg)
    with Store(config.database_url()) as store:
        refresh(config, store)
        assert sorted(a.full_text_status for a in _articles(cfg).values() if a.guid in "hl") == ["deferred", "ok"]
        assert len([r for r in feed_server.requests if r.path.endswith(".html")]) == 1
        refresh(config, store)
    arts = _articles(cfg)
    assert arts["h"].full_text_status == arts["l"].full_text_status == "ok"
    assert sorted(r.path for r in feed_server.requests if r.path.endswith(".html")) == ["/harbour.html",
                                                                                          "/library.html"]
