"""Full text for sources that publish only summaries (``full_text = true``).

Each NEW article's web page is fetched once, through the same ``Fetcher`` as
the feeds (so the same User-Agent, per-host and overall limits, host backoff,
size cap and timeouts), and its main text is extracted with trafilatura. The
text replaces the summary in what merging compares (the fingerprint); with
``full_text_publish = true`` its sanitised HTML is also the item's content.

Once per article: the outcome ("ok" or "failed") is stored on the article and
an article the store already holds is never fetched again; only "deferred"
(its host was in a 429/503 backoff, so nothing was asked of it) is tried at
the next refresh. A page that cannot be fetched or yields no text never fails
the source: the article keeps the feed's summary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from syndicator.fetch import Fetcher, FetchRequest
from syndicator.model import Entry
from syndicator.sanitize import html_to_text, sanitize_html

log = logging.getLogger(__name__)

# Shorter than this, what trafilatura found is a teaser or a cookie banner, not an article.
MIN_TEXT_CHARS = 200
# Pages fetched per source and refresh: the first read of a 500-item archive feed must not hold a refresh
# (and a daemon's shutdown) for the hour 250 slow pages two at a time would take. The rest wait their turn.
MAX_PAGES_PER_REFRESH = 100


@dataclass(frozen=True)
class PageText:
    status: str  # "ok", "failed" or "deferred"
    text: str = ""
    html: str = ""
    detail: str = ""

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.status, self.text, self.html)


@dataclass(frozen=True)
class Enriched:
    entries: tuple[Entry, ...]
    fetched: dict[str, tuple[str, str, str]]  # guid -> (status, text, html), the pages tried this time
    ok: int = 0
    failed: int = 0
    deferred: int = 0


def extract(body: bytes, url: str) -> PageText:
    """The main text of an HTML page (trafilatura), as plain text and sanitised HTML."""
    import trafilatura  # heavy (lxml, justext, htmldate): only sources with full_text pay for it

    try:
        found = trafilatura.extract(
            body, url=url, output_format="html", include_comments=False, include_tables=True,
            include_images=False, favor_precision=True,
        )
    except Exception as exc:  # trafilatura on hostile HTML: the page fails, never the source
        return PageText("failed", detail=f"extraction failed: {type(exc).__name__}: {exc}")
    if not found:
        return PageText("failed", detail="no article text found in the page")
    html = sanitize_html(found, url)
    text = html_to_text(html)
    if len(text) < MIN_TEXT_CHARS:
        return PageText("failed", detail=f"only {len(text)} characters of text found in the page")
    return PageText("ok", text=text, html=html)


def with_page_text(entry: Entry, status: str, text: str, html: str, publish: bool) -> Entry:
    """The entry as merged (and, with ``publish``, as published) once its page's text is known."""
    if status != "ok" or not text:
        return entry
    entry = replace(entry, text=text)
    return replace(entry, content=html) if publish and html else entry


def enrich(
    fetcher: Fetcher,
    entries: Sequence[Entry],
    stored: Mapping[str, tuple[str, str, str]],
    *,
    publish: bool,
    guard: bool = False,
) -> Enriched:
    """Entries with their pages' text: fetched for new articles, taken from the store for known ones.

    ``stored`` maps the guids the store already holds to their (status, text, html).
    """
    todo: dict[str, Entry] = {}
    fetched: dict[str, PageText] = {}
    for e in entries:
        known = stored.get(e.guid)
        wanted = known is None or known[0] == "deferred"
        if wanted and urlsplit(e.url).scheme in ("http", "https") and e.guid not in todo and e.guid not in fetched:
            if len(todo) < MAX_PAGES_PER_REFRESH:
                todo[e.guid] = e
            else:
                fetched[e.guid] = PageText("deferred", detail=f"over {MAX_PAGES_PER_REFRESH} pages in one refresh")
    if todo:
        # guard: the pages of a source from outside (OPML) are held to the same public-address rule as its feed.
        requests = [FetchRequest(guid, e.url, page=True, guard=guard) for guid, e in todo.items()]
        for result in fetcher.fetch_iter(requests):
            if result.outcome == "deferred" or result.http_status in (429, 503):
                # Not the page's fault: its host asked us to wait. Tried again at a later refresh.
                page = PageText("deferred", detail=result.error)
            elif result.outcome != "ok":
                page = PageText("failed", detail=result.error or result.outcome)
            else:
                page = extract(result.body, result.url)
            if page.status != "ok":
                log.info("full text of %s: %s (the feed's summary is kept)", todo[result.source].url, page.detail)
            fetched[result.source] = page
    out = []
    for e in entries:
        got = fetched[e.guid].as_tuple() if e.guid in fetched else stored.get(e.guid)
        out.append(with_page_text(e, *got, publish=publish) if got else e)
    counts = [p.status for p in fetched.values()]
    return Enriched(
        tuple(out), {g: p.as_tuple() for g, p in fetched.items()},
        ok=counts.count("ok"), failed=counts.count("failed"), deferred=counts.count("deferred"),
    )
