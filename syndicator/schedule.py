"""When each source is next due: a pure decision, kept in the store.

Keeping the schedule in the database (not in APScheduler's job store) is
what lets several processes share one store: APScheduler only ticks.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_DELAY = timedelta(hours=24)
JITTER = 0.10
_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*(\d+)", re.I)


@dataclass(frozen=True)
class Due:
    at: datetime
    reason: str


def _jitter(key: str, seconds: float) -> float:
    """A spread of ±10% that is the same for the same source and time (testable, no RNG)."""
    digest = hashlib.sha256(key.encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF  # 0..1
    return seconds * JITTER * (2 * fraction - 1)


def server_delay(cache_headers: dict[str, str], ttl_minutes: int | None, now: datetime) -> float:
    """The longest wait the server asked for: Cache-Control max-age, Expires, RSS <ttl>."""
    delays = [0.0]
    m = _MAX_AGE.search(cache_headers.get("cache-control", ""))
    if m:
        delays.append(float(m.group(1)))
    expires = cache_headers.get("expires", "")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            delays.append((when - now).total_seconds())
        except (TypeError, ValueError):
            pass
    if ttl_minutes:
        delays.append(ttl_minutes * 60.0)
    return max(delays)


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
) -> Due:
    """The next fetch time after a fetch at ``now`` and the reason for it."""
    if not ok:
        backoff = min(interval * 2 ** max(consecutive_errors - 1, 0), MAX_DELAY.total_seconds())
        at = now + timedelta(seconds=backoff + _jitter(f"{name}@{now.isoformat()}", backoff))
        reason = f"backoff after {consecutive_errors} error(s)"
        if retry_after and retry_after > at:
            at = min(retry_after, now + MAX_DELAY)
            reason = "server's Retry-After"
        return Due(at, reason)
    asked = min(server_delay(cache_headers or {}, ttl_minutes, now), MAX_DELAY.total_seconds())
    if asked > interval:
        return Due(now + timedelta(seconds=asked), "server asked to wait (cache headers or ttl)")
    delay = interval + _jitter(f"{name}@{now.isoformat()}", interval)
    return Due(now + timedelta(seconds=delay), "interval")
