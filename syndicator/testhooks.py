"""Named pause points for the crash tests (tests/test_crash.py), free when unused.

``SYNDICATOR_TEST_PAUSE_AT=ingest-commit,publish-rename`` makes the process write
``syndicator-test-pause <point>`` to stderr and sleep at those points, so that a test can
``kill -9`` it exactly there: in the middle of a store transaction, or between writing a
feed's new file and renaming it over the old one. Unset (production), a pause is one lookup
in an empty set.
"""

from __future__ import annotations

import os
import sys
import time

_POINTS = frozenset(p.strip() for p in os.environ.get("SYNDICATOR_TEST_PAUSE_AT", "").split(",") if p.strip())


def pause(point: str) -> None:
    if point in _POINTS:
        sys.stderr.write(f"syndicator-test-pause {point}\n")
        sys.stderr.flush()
        time.sleep(float(os.environ.get("SYNDICATOR_TEST_PAUSE_SECONDS", "60")))
