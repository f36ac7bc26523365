"""The human side of the output: ``index.html`` and ``feeds.opml``.

The index page is self-contained and static: one inline stylesheet, an inline
SVG chart, no script, nothing fetched from elsewhere (its own Content-Security-
Policy says so). Everything that came from a source is escaped, and its bytes
depend only on the store, so republishing an unchanged store rewrites nothing.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from syndicator.publish.items import Item
from syndicator.publish.stats import DailyActivity

FORMATS = (
    ("rss", "RSS 2.0", "application/rss+xml"),
    ("atom", "Atom 1.0", "application/atom+xml"),
    ("json", "JSON Feed 1.1", "application/feed+json"),
)
_SHORT = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}
# Fixed English names: strftime's %b and %a follow the process locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The chart's series: (field of DayCount, legend label, phrase for one bar, colour). Okabe-Ito colours,
# told apart with colour-blindness too, on light and dark backgrounds.
SERIES = (
    ("articles", "Articles in", "articles in", "#0072B2"),
    ("stories", "Stories out", "new stories", "#009E73"),
    ("merges", "Merges", "merged into a story", "#E69F00"),
)

@dataclass(frozen=True)
class FeedSummary:
    name: str
    title: str
    description: str
    items: Sequence[Item]


_STYLE = """
:root{color-scheme:light dark;--fg:#1d232a;--muted:#5d6670;--bg:#fbfaf7;--card:#fff;--line:#e3e0d8;--accent:#0b5cad}
@media (prefers-color-scheme:dark){:root{--fg:#e8e6e1;--muted:#a3a9b0;--bg:#16191d;--card:#1e2227;--line:#343a41;
--accent:#7db8f5}}
*{box-sizing:border-box}
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
margin:0;padding:0 1rem 3rem}
main,header{max-width:56rem;margin:0 auto}
header{padding:2.2rem 0 .6rem}
h1{font-size:2rem;line-height:1.2;margin:0 0 .3rem;letter-spacing:-.01em}
h2{font-size:1.15rem;margin:2.2rem 0 .8rem;padding-bottom:.3rem;border-bottom:2px solid var(--line)}
a{color:var(--accent)} a:hover{text-decoration-thickness:2px}
.lede{color:var(--muted);margin:0;max-width:40rem}
.feeds{list-style:none;padding:0;margin:0;display:grid;gap:.8rem;grid-template-columns:repeat(auto-fill,minmax(22rem,1fr))}
.feed{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.8rem 1rem}
.feed h3{font-size:1rem;margin:0}
.feed p{margin:.2rem 0 .5rem;color:var(--muted);font-size:.9rem}
.formats{display:flex;flex-wrap:wrap;gap:.35rem;margin:0;padding:0;list-style:none}
.formats a{display:inline-block;font-size:.8rem;font-weight:600;text-decoration:none;padding:.15rem .55rem;
border:1px solid var(--accent);border-radius:999px}
.formats a:hover{background:var(--accent);color:var(--card)}
.opml{font-size:.9rem;color:var(--muted)}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.8rem 1rem}
/* Narrow screens scroll the chart sideways, starting at its right end: the newest days. */
.chart{overflow-x:auto;direction:rtl}
.chart svg{direction:ltr;display:block;width:100%;min-width:32rem;height:auto}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.3rem}
details{margin-top:.5rem;font-size:.9rem}
summary{cursor:pointer;color:var(--accent)}
table{border-collapse:collapse;margin-top:.5rem;font-variant-numeric:tabular-nums}
th,td{padding:.15rem .8rem;text-align:right;border-bottom:1px solid var(--line)}
th:first-child{text-align:left}
.stories{list-style:none;padding:0;margin:0}
.story{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.8rem 1rem;margin:0 0 .8rem}
.story h3{font-size:1.1rem;line-height:1.35;margin:0}
.story h3 a{text-decoration:none} .story h3 a:hover{text-decoration:underline}
.meta{color:var(--muted);font-size:.85rem;margin:.2rem 0 0}
.more{font-size:.9rem;margin:.5rem 0 0;padding-top:.4rem;border-top:1px dashed var(--line)}
.more p{margin:0;font-weight:600;color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.04em}
.more ul{margin:.15rem 0 0;padding-left:1.1rem}
.src{color:var(--muted)}
.empty{color:var(--muted);font-style:italic}
"""
# The page's own policy: no script of any kind, nothing loaded from anywhere; the one inline stylesheet
# is allowed by its hash (SVG presentation attributes are not styles).
INDEX_CSP = _CSP = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
    + "'; img-src 'self'; base-uri 'none'; form-action 'none'"
)


def render_index(
    site_title: str,
    base_url: str,
    feeds: Sequence[FeedSummary],
    latest: int = 20,
    activity: DailyActivity | None = None,
) -> bytes:
    alternates = "\n".join(
        f'<link rel="alternate" type="{mime}" title={quoteattr(f"{f.title} ({label})")} '
        f'href="{escape(base_url + f.name + "." + ext)}">'
        for f in feeds
        for ext, label, mime in FORMATS
    )
    seen: set[str] = set()
    stories = []
    for f in feeds:
        for item in f.items:
            if item.id not in seen:
                seen.add(item.id)
                stories.append(item)
    stories.sort(key=lambda i: (i.published, i.id), reverse=True)
    shown = stories[:latest]
    story_rows = "\n".join(_story(i) for i in shown) or '<li class="empty">No stories yet.</li>'
    feed_rows = "\n".join(_feed(f) for f in feeds)
    site = escape(site_title)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{site}</title>
{alternates}
<link rel="outline" type="text/x-opml" title="All feeds (OPML)" href="feeds.opml">
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{site}</h1>
<p class="lede">Every story once, under a stable id, with the other headlines it was published under.
Subscribe to a feed in your reader, or to <a href="feeds.opml">all of them at once (OPML)</a>.</p>
</header>
<main>
<section aria-labelledby="feeds-h">
<h2 id="feeds-h">Feeds</h2>
<ul class="feeds">
{feed_rows}
</ul>
<p class="opml">All feeds in one file for your reader: <a href="feeds.opml">feeds.opml</a></p>
</section>
<section aria-labelledby="activity-h">
<h2 id="activity-h">Activity</h2>
{_activity(activity)}
</section>
<section aria-labelledby="stories-h">
<h2 id="stories-h">Latest stories</h2>
<ol class="stories">
{story_rows}
</ol>
</section>
</main>
</body>
</html>
"""
    return page.encode()


def _feed(f: FeedSummary) -> str:
    n = len(f.items)
    links = "".join(
        f'<li><a href="{escape(f.name)}.{ext}" type="{mime}">{_SHORT[ext]}</a></li>' for ext, _, mime in FORMATS
    )
    desc = escape(f.description) if f.description else f"{n} {'story' if n == 1 else 'stories'}"
    count = f" · {n} {'story' if n == 1 else 'stories'}" if f.description else ""
    return (
        f'<li class="feed"><h3>{escape(f.title)}</h3><p>{desc}{count}</p>'
        f'<ul class="formats" aria-label="Subscribe to {escape(f.title)}">{links}'
        f'<li><a href="feeds.opml" type="text/x-opml">OPML</a></li></ul></li>'
    )


def _story(item: Item) -> str:
    title = escape(item.title)
    href = _href(item.link)
    head = f'<a href="{href}">{title}</a>' if href else title
    when = item.published
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = f"{when.day} {_MONTHS[when.month - 1]} {when.year}, {when:%H:%M} UTC"
    extra = ""
    if item.variants:
        extra += _more(
            "Also published as",
            (_linked(v.title, v.url) + f' <span class="src">({escape(v.source)})</span>' for v in item.variants),
        )
    if item.related:
        extra += _more("Related", (_linked(r.title, r.url) for r in item.related))
    return (
        f'<li class="story"><article><h3>{head}</h3>'
        f'<p class="meta">{escape(item.source)} · <time datetime="{stamp}">{shown}</time></p>{extra}</article></li>'
    )


def _more(label: str, entries) -> str:
    lis = "".join(f"<li>{e}</li>" for e in entries)
    return f'<div class="more"><p>{label}</p><ul>{lis}</ul></div>'


def _linked(text: str, url: str) -> str:
    href = _href(url)
    return f'<a href="{href}">{escape(text)}</a>' if href else escape(text)


def _href(url: str) -> str:
    """An escaped http(s) URL for an href, or "" for anything else (javascript:, data:, relative)."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""
    return escape(url.strip()) if scheme in ("http", "https") else ""


# -- the chart -------------------------------------------------------------

_W, _H = 720, 270
# The y axis is on the right, next to the newest days: what a narrow screen shows first.
_LEFT, _RIGHT, _TOP, _BOTTOM = 10, 52, 38, 52


def _activity(activity: DailyActivity | None) -> str:
    if activity is None or not activity.days:
        return '<p class="empty">No articles fetched yet.</p>'
    days = activity.days
    first, last = days[0].day, days[-1].day
    totals = (
        f"{activity.articles} {_plural(activity.articles, 'article')} in, "
        f"{activity.stories} {_plural(activity.stories, 'story', 'stories')} out, "
        f"{activity.merges} {_plural(activity.merges, 'merge')}"
    )
    span = f"{_day(first)} to {_day(last)} {last.year}"
    rows = "\n".join(
        f'<tr><th scope="row"><time datetime="{d.day.isoformat()}">{_day(d.day)}</time></th>'
        f"<td>{d.articles}</td><td>{d.stories}</td><td>{d.merges}</td></tr>"
        for d in days
    )
    return f"""<figure>
<div class="chart">{_chart(activity, totals, span)}</div>
<figcaption>Per UTC day, {span}: {totals}. Articles and merges count by the day an article was fetched,
stories by the day they were created.</figcaption>
<details>
<summary>The numbers, day by day</summary>
<table class="activity">
<caption class="meta">{len(days)} days, {span}</caption>
<thead><tr><th scope="col">Day (UTC)</th><th scope="col">Articles in</th><th scope="col">Stories out</th>
<th scope="col">Merges</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</details>
</figure>"""


def _chart(activity: DailyActivity, totals: str, span: str) -> str:
    days = activity.days
    peak = max((getattr(d, field) for d in days for field, *_ in SERIES), default=0)
    step, top = _scale(peak)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    base_y = _TOP + plot_h
    group = plot_w / len(days)
    bar = min(12.0, (group - 8) / len(SERIES))

    def y(v: float) -> float:
        return base_y - plot_h * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        'aria-labelledby="chart-title chart-desc" font-family="system-ui,sans-serif" font-size="11" '
        'fill="currentColor">',
        '<title id="chart-title">Articles in, stories out and merges per day</title>',
        f'<desc id="chart-desc">Bar chart of the {len(days)} UTC days {span}: {totals}. '
        "The same numbers are in the table below the chart.</desc>",
    ]
    # Grid and y axis ticks.
    parts.append('<g class="y-axis" text-anchor="start">')
    for k in range(int(top / step) + 1):
        v = k * step
        parts.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_n(y(v))}" y2="{_n(y(v))}" stroke="currentColor" '
            f'stroke-opacity="{".5" if v == 0 else ".15"}"/>'
            f'<text x="{_W - _RIGHT + 6}" y="{_n(y(v) + 4)}">{v}</text>'
        )
    parts.append("</g>")
    parts.append(
        f'<text class="axis-label" transform="translate({_W - 10} {_n(_TOP + plot_h / 2)}) rotate(90)" '
        'text-anchor="middle">Count per day</text>'
    )
    # Bars, one group per day.
    parts.append('<g class="bars">')
    for i, d in enumerate(days):
        x0 = _LEFT + i * group + (group - bar * len(SERIES)) / 2
        label = _day(d.day)
        for j, (field, _, phrase, colour) in enumerate(SERIES):
            v = getattr(d, field)
            if v:
                parts.append(
                    f'<rect class="{field}" x="{_n(x0 + j * bar)}" y="{_n(y(v))}" width="{_n(bar - 1)}" '
                    f'height="{_n(base_y - y(v))}" fill="{colour}"><title>{label}: {v} {phrase}</title></rect>'
                )
    parts.append("</g>")
    # X axis: every day, the month named where it starts.
    parts.append('<g class="x-axis" text-anchor="middle">')
    for i, d in enumerate(days):
        cx = _n(_LEFT + (i + 0.5) * group)
        parts.append(f'<text x="{cx}" y="{base_y + 15}">{d.day.day}</text>')
        if i == 0 or d.day.day == 1:
            parts.append(f'<text x="{cx}" y="{base_y + 28}" fill-opacity=".7">{_MONTHS[d.day.month - 1]}</text>')
    parts.append("</g>")
    parts.append(
        f'<text class="axis-label" x="{_n(_LEFT + plot_w / 2)}" y="{_H - 6}" text-anchor="middle">'
        "Day (UTC)</text>"
    )
    # Legend, with the totals, ending at the plot's right edge.
    entries = [(f"{name} ({getattr(activity, field)})", colour) for field, name, _, colour in SERIES]
    x = _W - _RIGHT - sum(17 + 7 * len(text) for text, _ in entries) - 20 * (len(entries) - 1)
    parts.append('<g class="legend">')
    for text, colour in entries:
        parts.append(
            f'<rect x="{x}" y="12" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text x="{x + 17}" y="22">{text}</text>'
        )
        x += 17 + 7 * len(text) + 20
    parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


def _scale(peak: int) -> tuple[int, int]:
    """A round tick step and the axis top (a multiple of it, at least ``peak``) for about 4 ticks."""
    if peak <= 0:
        return 1, 4
    raw = peak / 4
    mag = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    step = max(1, int(step))
    return step, step * math.ceil(peak / step)


def _n(v: float) -> str:
    """A coordinate with at most one decimal, always written the same way."""
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _day(d: date | datetime) -> str:
    return f"{_MONTHS[d.month - 1]} {d.day}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return one if n == 1 else (many or one + "s")


def render_opml(site_title: str, base_url: str, feeds: Sequence[FeedSummary]) -> bytes:
    outlines = "\n".join(
        f"    <outline type=\"rss\" text={quoteattr(f.title)} title={quoteattr(f.title)} "
        f"xmlUrl={quoteattr(base_url + f.name + '.rss')} htmlUrl={quoteattr(base_url)}/>"
        for f in feeds
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n'
        f"  <head><title>{escape(site_title)}</title></head>\n  <body>\n{outlines}\n  </body>\n</opml>\n"
    ).encode()
