"""URL normalisation: one canonical form per article page.

Two items whose links differ only by scheme, host case, ``www.``, a trailing
slash, a fragment or tracking parameters point at the same page (an A/B test
or a feed proxy such as FeedBurner appends ``utm_*`` to every link), so they
are one article for merging.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Query parameters that only track the reader, never select content.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "matomo_", "hsa_", "_hs")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "igshid", "mkt_tok", "_ga", "_gl", "oly_anon_id", "oly_enc_id", "vero_id",
        "wt.mc_id", "ncid", "cmpid", "ocid", "sr_share", "smid", "rss", "track",
        "ref_src", "ref_url", "xtor", "__twitter_impression", "s_cid", "cid_rss",
        "ref", "source", "cmp", "feed", "feedtype",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def absolute(url: str, base: str) -> str:
    """``url`` resolved against ``base``; empty stays empty."""
    url = (url or "").strip()
    if not url:
        return ""
    try:
        return urljoin(base, url) if base else url
    except ValueError:
        return url


def clean_url(url: str) -> str:
    """The link as published: the same page without tracking parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _is_tracking(k)]
    if len(kept) == len(pairs):
        return url  # leave the publisher's own encoding untouched
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))


def canonical_url(url: str) -> str:
    """The comparison key of a page URL, or "" when it is not an http(s) URL.

    The result is a key, not a link to publish: the scheme is dropped, so
    http and https versions of one page compare equal.
    """
    try:
        # A backslash-escaped "\?" (seen in the UCI News Aggregator's URLs) is a plain "?".
        parts = urlsplit((url or "").strip().replace("\\?", "?"))
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if port and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _is_tracking(k)
    ]
    query.sort()
    return urlunsplit(("", host, path, urlencode(query), "")).lstrip("/")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
