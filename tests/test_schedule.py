"""The pure scheduling decision (syndicator/schedule.py): interval with jitter, the server's own waits
(the largest of Cache-Control max-age, Expires, <ttl>, Retry-After, capped), exponential backoff
(capped), RSS skipHours/skipDays; and the [fetch] min_interval floor."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from syndicator.config import config_from_dict
from syndicator.fetch import parse_retry_after
from syndicator.parse import parse_document
from syndicator.schedule import next_due, skip_forward, skip_hints

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday
HOUR = 3600.0


def _wait(due) -> float:
    return (due.at - NOW).total_seconds()


def test_interval_has_a_deterministic_jitter_of_at_most_ten_percent():
    waits = [_wait(next_due(f"s{i}", NOW, HOUR, ok=True)) for i in range(200)]
    assert all(0.9 * HOUR <= w <= 1.1 * HOUR for w in waits)
    assert min(waits) < 0.95 * HOUR and max(waits) > 1.05 * HOUR  # spread over the whole ±10%
    assert len({round(w) for w in waits}) > 150  # sources configured alike do not fire together
    assert _wait(next_due("s1", NOW, HOUR, ok=True)) == waits[1]  # same source and time: same answer
    assert "interval 60m ±10%" in next_due("s1", NOW, HOUR, ok=True).reason
    assert _wait(next_due("s1", NOW, HOUR, ok=True, jitter=0.0)) == HOUR
    wide = [_wait(next_due(f"s{i}", NOW, HOUR, ok=True, jitter=0.5)) for i in range(200)]
    assert min(wide) < 0.6 * HOUR and max(wide) > 1.4 * HOUR


@pytest.mark.parametrize(
    ("headers", "ttl", "retry", "expected", "why"),
    [
        ({"cache-control": "public, max-age=7200"}, None, None, 7200, "Cache-Control max-age=7200"),
        ({"expires": email.utils.format_datetime(NOW + timedelta(hours=3), usegmt=True)}, None, None, 3 * HOUR,
         "Expires"),
        ({}, 240, None, 4 * HOUR, "<ttl>240</ttl>"),
        ({}, None, NOW + timedelta(hours=5), 5 * HOUR, "Retry-After"),
        # The largest wins, whichever it is.
        ({"cache-control": "max-age=7200", "expires": email.utils.format_datetime(NOW + timedelta(hours=6),
                                                                                   usegmt=True)},
         120, NOW + timedelta(hours=2), 6 * HOUR, "Expires"),
        ({"cache-control": "s-maxage=1, max-age=36000"}, 300, NOW + timedelta(hours=2), 10 * HOUR, "max-age=36000"),
    ],
)
def test_never_earlier_than_the_largest_wait_the_server_asked_for(headers, ttl, retry, expected, why):
    due = next_due("s", NOW, HOUR, ok=True, cache_headers=headers, ttl_minutes=ttl, retry_after=retry)
    assert _wait(due) == pytest.approx(expected)
    assert "server asked to wait" in due.reason and why in due.reason


def test_a_wait_just_above_the_jittered_interval_is_still_honoured():
    # Jitter may bring the interval down to 54 minutes; a max-age of 58 minutes must still win.
    for i in range(100):
        due = next_due(f"s{i}", NOW, HOUR, ok=True, cache_headers={"cache-control": "max-age=3480"})
        assert _wait(due) >= 3480


def test_server_waits_are_capped_and_short_ones_ignored():
    far = {"cache-control": "max-age=999999999"}
    due = next_due("s", NOW, HOUR, ok=True, cache_headers=far)
    assert _wait(due) == 24 * HOUR and "capped at 24h" in due.reason
    assert _wait(next_due("s", NOW, HOUR, ok=True, cache_headers=far, max_server_wait=2 * HOUR)) == 2 * HOUR
    short = next_due("s", NOW, HOUR, ok=True, cache_headers={"cache-control": "max-age=60", "expires": "0"})
    assert short.reason.startswith("interval")
    assert _wait(next_due("s", NOW, HOUR, ok=True, retry_after=NOW + timedelta(days=400))) == 24 * HOUR


def test_errors_back_off_exponentially_up_to_the_cap():
    waits = [_wait(next_due("s", NOW, HOUR, ok=False, consecutive_errors=n)) for n in range(1, 8)]
    for n, w in enumerate(waits[:5], start=1):
        base = min(HOUR * 2 ** (n - 1), 24 * HOUR)
        assert 0.9 * base <= w <= 1.1 * base, (n, w)
    assert all(w <= 1.1 * 24 * HOUR for w in waits)
    capped = next_due("s", NOW, HOUR, ok=False, consecutive_errors=6)
    assert "backoff after 6 error(s): 24h (the cap)" in capped.reason
    assert _wait(next_due("s", NOW, HOUR, ok=False, consecutive_errors=10_000, max_backoff=3 * HOUR)) <= 3.3 * HOUR
    # Retry-After longer than the backoff wins; cache headers of an error page do not count.
    ra = next_due("s", NOW, HOUR, ok=False, consecutive_errors=1, retry_after=NOW + timedelta(hours=7))
    assert _wait(ra) == 7 * HOUR and "Retry-After" in ra.reason
    page = next_due("s", NOW, HOUR, ok=False, consecutive_errors=1, cache_headers={"cache-control": "max-age=99999"})
    assert _wait(page) <= 1.1 * HOUR


def test_skip_hours_and_days_push_the_time_out():
    at = datetime(2026, 3, 4, 22, 30, tzinfo=UTC)  # Wednesday 22:30
    assert skip_forward(at, [22, 23, 0], []) == datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
    assert skip_forward(at, [], ["wednesday", "thursday"]) == datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    assert skip_forward(at, [1], ["friday"]) == at  # not in a skipped hour or day
    assert skip_forward(at, range(24), []) == at  # skipping every hour says nothing usable
    due = next_due("s", NOW, HOUR, ok=True, skip_hours=[10, 11, 12], skip_days=["saturday"])
    assert due.at == datetime(2026, 3, 4, 13, 0, tzinfo=UTC) and "skipHours/skipDays" in due.reason


SKIPPY = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.example/</link>
<description>d</description><ttl>90</ttl>
<skipHours><hour>0</hour><hour>1</hour><hour> 2 </hour><hour>24</hour><hour>99</hour></skipHours>
<skipDays><day>Saturday</day><day>Sunday</day><day>Caturday</day></skipDays>
<item><title>a</title><link>https://x.example/a</link></item></channel></rss>"""


def test_skip_hints_are_read_from_the_document_because_feedparser_keeps_only_the_last():
    feed = feedparser.parse(SKIPPY).feed
    assert feed.get("hour") == "99" and not feed.get("skiphours")  # what feedparser gives: not usable
    assert skip_hints(SKIPPY) == ((0, 1, 2), ("saturday", "sunday"))
    parsed = parse_document(SKIPPY, "https://x.example/feed", "application/rss+xml")
    assert parsed.ttl_minutes == 90 and parsed.skip_hours == (0, 1, 2) and parsed.skip_days == ("saturday", "sunday")
    # Hostile: a body of unclosed tags is scanned in linear time (a quadratic scan would take minutes).
    assert skip_hints(b"<skipHours><hour>1</hour>" * 200_000) == ((), ())


def test_min_interval_floors_network_sources_only(tmp_path: Path):
    raw = {
        "sources": [
            {"name": "web", "url": "https://example.org/feed.xml", "interval": "30s"},
            {"name": "default", "url": "https://example.org/other.xml"},
            {"name": "local", "url": "feeds/a.xml", "interval": "30s"},
        ]
    }
    cfg = config_from_dict(raw, tmp_path / "s.toml")
    assert cfg.interval(cfg.source("web")) == 300  # the 5-minute floor
    assert cfg.interval(cfg.source("default")) == 3600  # the 60-minute default
    assert cfg.interval(cfg.source("local")) == 30  # a file is no publisher's server
    lowered = config_from_dict({**raw, "fetch": {"min_interval": "1s"}}, tmp_path / "s.toml")
    assert lowered.interval(lowered.source("web")) == 30


def test_retry_after_as_seconds_or_date_and_absurd_values():
    assert parse_retry_after("120", NOW) == NOW + timedelta(seconds=120)
    assert parse_retry_after("Wed, 04 Mar 2026 12:00:00 GMT", NOW) == NOW + timedelta(hours=2)
    assert parse_retry_after("99999999999999999999", NOW) == NOW + timedelta(days=366)
    assert parse_retry_after("soon", NOW) is None and parse_retry_after("", NOW) is None
