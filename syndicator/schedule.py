"""When each source is next due: a pure decision, kept in the store.

Keeping the schedule in the database (not in APScheduler's job store) is
what lets several processes share one store: APScheduler only ticks.

The rules (issue 6, "Polite scheduling"): a source is fetched every
``interval`` with ±10% jitter (so that sources configured alike do not all
hit the network in the same second); never earlier than the server asked,
the largest of Cache-Control max-age, Expires, RSS ``<ttl>`` and
Retry-After, capped at ``max_server_wait``; consecutive errors back off
exponentially up to ``max_backoff``; RSS ``<skipHours>``/``<skipDays>`` push
the time out of the hours and days the publisher asked us to leave alone.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_DELAY = timedelta(hours=24)
JITTER = 0.10
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d+)", re.I)
_HOUR = re.compile(rb"<hour\b[^>]*>\s*(\d{1,2})\s*</hour\s*>", re.I)
_DAY = re.compile(rb"<day\b[^>]*>\s*([A-Za-z]+)\s*</day\s*>", re.I)


@dataclass(frozen=True)
class Due:
    at: datetime
    reason: str


def _jitter(key: str, seconds: float, spread: float = JITTER) -> float:
    """A spread of ±``spread`` that is the same for the same source and time (testable, no RNG)."""
    digest = hashlib.sha256(key.encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF  # 0..1
    return seconds * spread * (2 * fraction - 1)


def server_waits(
    cache_headers: dict[str, str], ttl_minutes: int | None, now: datetime, retry_after: datetime | None = None
) -> list[tuple[float, str]]:
    """Every wait the server asked for, in seconds, each with where it came from."""
    waits: list[tuple[float, str]] = []
    m = _MAX_AGE.search(cache_headers.get("cache-control", ""))
    if m:
        waits.append((float(m.group(1)), f"Cache-Control max-age={m.group(1)}"))
    expires = cache_headers.get("expires", "")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires)
        except (TypeError, ValueError, IndexError):
            when = None  # "Expires: 0" and other junk mean "already expired" (RFC 9111 5.3)
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            waits.append(((when - now).total_seconds(), "Expires"))
    if ttl_minutes and ttl_minutes > 0:
        waits.append((ttl_minutes * 60.0, f"<ttl>{ttl_minutes}</ttl>"))
    if retry_after is not None:
        waits.append(((retry_after - now).total_seconds(), "Retry-After"))
    return waits


def server_delay(
    cache_headers: dict[str, str], ttl_minutes: int | None, now: datetime, retry_after: datetime | None = None
) -> float:
    """The longest wait the server asked for (0 when it asked for none)."""
    return max([0.0, *(w for w, _ in server_waits(cache_headers, ttl_minutes, now, retry_after))])


def next_due(
    name: str,
    now: datetime,
    interval: float,
    *,
    ok: bool,
    consecutive_errors: int = 0,
    retry_after: datetime | None = None,
    cache_headers: dict[str, str] | None = None,
    ttl_minutes: int | None = None,
    skip_hours: Iterable[int] = (),
    skip_days: Iterable[str] = (),
    max_server_wait: float = MAX_DELAY.total_seconds(),
    max_backoff: float = MAX_DELAY.total_seconds(),
    jitter: float = JITTER,
) -> Due:
    """The next fetch time after a fetch at ``now`` and the reason for it.

    After an error only Retry-After counts among the server's hints: the cache
    headers of an error page say nothing about the feed.
    """
    key = f"{name}@{now.isoformat()}"
    if ok:
        delay = interval + _jitter(key, interval, jitter)
        reason = f"interval {_span(interval)} ±{jitter * 100:.0f}%"
        waits = server_waits(cache_headers or {}, ttl_minutes, now, retry_after)
    else:
        errors = max(consecutive_errors, 1)
        # 2 ** a large count overflows float: cap the exponent first (2**40 intervals is past any cap).
        backoff = interval * 2 ** min(errors - 1, 40)
        capped = backoff >= max_backoff
        backoff = min(backoff, max_backoff)
        delay = backoff + _jitter(key, backoff, jitter)
        reason = f"backoff after {errors} error(s): {_span(backoff)}" + (" (the cap)" if capped else "")
        waits = server_waits({}, None, now, retry_after)
    if waits:
        asked, why = max(waits, key=lambda w: w[0])
        if asked > max_server_wait:
            asked, why = max_server_wait, f"{why}, capped at {_span(max_server_wait)}"
        if asked > delay:
            delay, reason = asked, f"server asked to wait: {why}"
    at = now + timedelta(seconds=delay)
    moved = skip_forward(at, skip_hours, skip_days)
    if moved != at:
        at, reason = moved, f"{reason}; then the feed's skipHours/skipDays"
    return Due(at, reason)


def skip_forward(at: datetime, skip_hours: Iterable[int], skip_days: Iterable[str]) -> datetime:
    """The first moment from ``at`` on outside the feed's skipHours (UTC) and skipDays.

    A feed that skips every hour or every day said nothing usable: ignored.
    """
    hours = {h % 24 for h in skip_hours}
    days = {DAYS.index(d.lower()) for d in skip_days if d.lower() in DAYS}
    if len(hours) >= 24 or len(days) >= 7 or not (hours or days):
        return at
    at = at.astimezone(UTC)
    for _ in range(24 * 8):
        if at.hour not in hours and at.weekday() not in days:
            return at
        at = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return at


def skip_hints(body: bytes) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """RSS ``<skipHours>`` and ``<skipDays>`` read from the document itself.

    feedparser keeps only the last ``<hour>`` and ``<day>`` of these lists (as
    ``feed.hour``/``feed.day``; checked with feedparser 6.0), so they are read
    here. RSS 0.91 numbered hours 1-24: 24 is midnight, hour 0.
    """
    hours = {int(h) % 24 for h in _HOUR.findall(_element(body, b"skipHours")) if int(h) <= 24}
    days = {d.decode().lower() for d in _DAY.findall(_element(body, b"skipDays"))}
    return tuple(sorted(hours)), tuple(d for d in DAYS if d in days)


def _element(body: bytes, tag: bytes, limit: int = 4000) -> bytes:
    """The inside of the document's first ``<tag>`` (a channel has one), at most ``limit`` bytes.

    Only the first: a hostile body of a million unclosed tags stays one linear scan.
    """
    start = body.find(b"<" + tag)
    if start < 0:
        return b""
    end = body.find(b"</" + tag, start, start + limit)
    return body[start:end] if end > 0 else b""


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h".replace(".0h", "h")
