"""The scale benchmark's generator (bench/scale_feeds.py) over the small real data in tests/fixtures/bench, for
the tests that use it (tests/fixtures/bench/README.md says where the data comes from)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import scale_feeds

__all__ = ["scale_feeds", "small_data"]


@contextmanager
def small_data() -> Iterator[None]:
    """The generator draws from 40 UCI headlines and 3 ECB+ texts while the block runs."""
    before = (scale_feeds.DATA, scale_feeds.UCI_FILE, scale_feeds.ECB_FILE)
    scale_feeds.use_data(Path(__file__).parent / "fixtures" / "bench", "uci_news_head40.csv",
                         "ecbplus_documents3.jsonl")
    try:
        yield
    finally:
        scale_feeds.use_data(*before)
