"""Make source HTML safe to republish, and reduce HTML to plain text for matching.

Pure functions, no I/O. Sanitising is done by ``nh3`` (bindings to the Rust
``ammonia`` crate, which parses with html5ever, the same HTML5 algorithm as
browsers) so that what we check is what a browser would actually build; we only
add the policy (allow-lists, URL rules, tracking pixels) around it.

Policy decisions worth knowing:

* Only ``http``, ``https`` and ``mailto`` URLs survive, plus ``data:image/png|gif|
  jpeg|webp`` in ``<img src>``: small inline images are legitimate in feeds and a
  raster image in ``<img>`` cannot run script.  ``data:image/svg+xml`` is refused
  (SVG is a document format) and so is every other ``data:`` URL.
* ``style`` is kept only as a small subset (colours, alignment, font weight/style,
  decoration) with plain values; anything that can load URLs, position content
  over our page (``position``, ``z-index``...) or use CSS escapes is dropped.
* Links get ``rel="noopener noreferrer nofollow"``; source ``rel``/``target``
  are dropped.  ``class`` and ``id`` are dropped so source markup cannot hook
  into our own CSS/JS (or clobber DOM ids).
"""

from __future__ import annotations

import html as _html
import re
from urllib.parse import urlsplit

import nh3

__all__ = ["html_to_text", "plain_title", "sanitize_html"]

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
    "dd", "del", "div", "dl", "dt", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
    "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
}  # fmt: skip
# Elements whose *content* is code, text a browser never shows (iframe, noembed,
# the <title> of a pasted document...) or form chrome: dropping only the tag
# would leak it into the text.
# <object>/<applet>/<embed> are merely unwrapped: their children are the fallback
# a browser shows when the plugin cannot run, which is our situation.
_DROP_WITH_CONTENT = {
    "script", "style", "iframe", "frame", "frameset", "noframes", "noembed",
    "template", "title", "select", "textarea", "button",
}  # fmt: skip
_ALLOWED_ATTRS = {
    "*": {"title", "style"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
_URL_SCHEMES = {"http", "https", "mailto", "data"}  # data: narrowed in _filter_attr
_LINK_REL = "noopener noreferrer nofollow"
_DATA_IMAGE = re.compile(r"data:image/(?:png|gif|jpeg|webp)[;,]", re.I)

_STYLE_PROPS = {
    "color", "background-color", "text-align", "font-weight", "font-style",
    "text-decoration", "vertical-align",
}  # fmt: skip
# Keywords, numbers with units, #hex and rgb()/rgba(): no url(), expression(),
# quotes or backslash escapes, which is where CSS attacks live.
_STYLE_VALUE = re.compile(r"(?:[#\w.%-]+|rgba?\([\d\s,.%]*\)|[\s,])+", re.A)

# Known tracking-pixel sources, seen in the shared corpus (/work/shared/data/feeds):
#   feeds.feedburner.com/~r/...  FeedBurner item-view beacon (feed-rs fixtures
#       rss2/rss_2.0_rps.xml, atom/atom_example_3.xml; rss-parser feedburner.atom)
#   ads.pheedo.com/img.phdo      Pheedo feed-ad beacon (node-feedparser wapowellness.xml)
#   pixel.wp.com, stats.wordpress.com  WordPress.com / Jetpack stats beacon (b.gif)
_TRACKERS: tuple[tuple[str, str], ...] = (
    ("feeds.feedburner.com", "/~r/"),
    ("feedproxy.google.com", "/~r/"),  # FeedBurner's other host, same beacon
    ("ads.pheedo.com", "/img.phdo"),
    ("pixel.wp.com", "/"),
    ("stats.wordpress.com", "/"),
)
# nh3's serialiser always writes name="value" with &, " and > escaped, so on
# its output a void <img> tag is matched exactly by this (no tag soup left).
_IMG_TAG = re.compile(r'<img(?:\s+[^\s=>]+(?:="[^"]*")?)*\s*/?>')
_IMG_ATTR = re.compile(r'([^\s=>]+)="([^"]*)"')


def _filter_style(value: str) -> str | None:
    kept = []
    for decl in value.split(";"):
        prop, sep, val = decl.partition(":")
        prop, val = prop.strip().lower(), val.strip()
        if sep and prop in _STYLE_PROPS and val and _STYLE_VALUE.fullmatch(val):
            kept.append(f"{prop}: {val}")
    # Same "p: v; p: v;" shape on every pass keeps sanitize_html idempotent.
    return "; ".join(kept) + ";" if kept else None


def _filter_attr(tag: str, attr: str, value: str) -> str | None:
    """Called by nh3 for each allowed attribute, after its own URL-scheme check."""
    if attr == "style":
        return _filter_style(value)
    if attr in ("href", "src"):
        # Defence in depth: nh3 already refused javascript:/vbscript:; we narrow
        # the data: scheme we had to let through for inline images.
        squashed = re.sub(r"[\x00-\x20]+", "", value).lower()
        if squashed.startswith("data:"):
            ok = tag == "img" and attr == "src" and _DATA_IMAGE.match(squashed)
            return value if ok else None
    return value


def _is_valid_base(base_url: str) -> bool:
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _to_px(value: str | None) -> float | None:
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*$", value or "")
    return float(m.group(1)) if m else None


def _is_tracking_pixel(attrs: dict[str, str]) -> bool:
    width, height = _to_px(attrs.get("width")), _to_px(attrs.get("height"))
    if width is not None and height is not None and width <= 1 and height <= 1:
        return True
    try:
        src = urlsplit(_html.unescape(attrs.get("src", "")))
        host = (src.hostname or "").lower()
    except ValueError:
        return False
    return any(host == h and src.path.startswith(p) for h, p in _TRACKERS)


def _drop_images(clean: str, strip_tracking_pixels: bool) -> str:
    def repl(m: re.Match[str]) -> str:
        attrs = dict(_IMG_ATTR.findall(m.group(0)))
        # An <img> whose src we refused would only render as a broken-image icon.
        if not attrs.get("src") or (strip_tracking_pixels and _is_tracking_pixel(attrs)):
            return ""
        return m.group(0)

    return _IMG_TAG.sub(repl, clean)


def sanitize_html(html: str, base_url: str = "", *, strip_tracking_pixels: bool = True) -> str:
    """Return ``html`` reduced to safe formatting markup (see the module docstring).

    Relative ``href``/``src`` are resolved against ``base_url`` when it is an
    absolute http(s) URL; otherwise they are left relative.  Idempotent:
    ``sanitize_html(sanitize_html(x)) == sanitize_html(x)``.
    """
    if not html:
        return ""
    options = {
        "tags": _ALLOWED_TAGS,
        "clean_content_tags": _DROP_WITH_CONTENT,
        "attributes": _ALLOWED_ATTRS,
        "attribute_filter": _filter_attr,
        "strip_comments": True,
        "link_rel": _LINK_REL,
        "url_schemes": _URL_SCHEMES,
    }
    try:
        base = ("rewrite_with_base", base_url) if _is_valid_base(base_url) else None
        clean = nh3.clean(html, url_relative=base, **options)
    except ValueError:  # base_url that the WHATWG URL parser rejects (bad host, port...)
        clean = nh3.clean(html, **options)
    if "<img" in clean:
        clean = _drop_images(clean, strip_tracking_pixels)
    return clean.strip()


_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
}  # fmt: skip
# Only strings that contain something an HTML author would write are parsed as
# HTML; "x<y and y>z" or "AT&T <3" stay as they are instead of losing text to
# the HTML tokenizer (which would read "<y and y>" as a tag).
_HTML_HINT = re.compile(
    r"<!--|&(?:#\d+|#x[\da-f]+|[a-z][a-z\d]*);|</[a-z][\w-]*\s*>|<[a-z][\w-]*(?:\s[^<>]*)?/>"
    r"|</?(?:"
    + "|".join(sorted(_ALLOWED_TAGS | _BLOCK_TAGS | _DROP_WITH_CONTENT))
    + r"|html|head|body|font|center|form|input|meta|link|base|object|embed|applet|svg|math)"
    r"(?:[\s/>])",
    re.I,
)
_TAG = re.compile(r"<[^>]*>")  # on nh3 output only tags contain "<"


def _lines(text: str) -> str:
    """Collapse runs of whitespace (including NBSP) per line; drop empty lines."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(html: str) -> str:
    """Visible text of ``html``: one line per block element, whitespace collapsed.

    Markup is tokenised by html5ever (via nh3), so broken HTML, unclosed comments
    and stray ``<`` behave as in a browser; script/style content is dropped and
    entities are decoded exactly once.  Input that does not look like HTML is
    treated as plain text.
    """
    if not html:
        return ""
    if not _HTML_HINT.search(html):
        return _lines(html.replace("\r", "\n"))
    # Keeping only block tags (no attributes) gives a canonical string in which
    # every literal "<" of the text is escaped, so a regex can split it safely.
    skeleton = nh3.clean(
        html,
        tags=_BLOCK_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes={},
        link_rel=None,
    )
    flat = " ".join(skeleton.split())  # source newlines are not visible in HTML
    text = _TAG.sub("\n", flat)
    return _lines(_html.unescape(text))


def plain_title(text_or_html: str) -> str:
    """A single-line plain-text title from feedparser's title value.

    feedparser gives HTML-typed titles as HTML, so tags are stripped and
    entities decoded once: ``"&lt;b&gt;Hi&lt;/b&gt;"`` is the literal text
    ``"<b>Hi</b>"``.  For titles feedparser reports as ``text/plain``, callers
    should pass ``html.escape(title)`` if the title can contain ``<tag>`` text.

    What still looks like markup after that (an escaped ``&lt;script&gt;``
    decoded to ``<script>``) is stripped once more: many readers render RSS
    titles as HTML, so a title must never carry a tag, even as text.
    """
    text = " ".join(html_to_text(text_or_html).split())
    if _TAG_LIKE.search(text):
        text = " ".join(_ANY_TAG.sub(" ", html_to_text(text)).split())
    return text


_TAG_LIKE = re.compile(r"<\s*[a-zA-Z!/?]")
_ANY_TAG = re.compile(r"<\s*[a-zA-Z!/?][^>]*>?")
