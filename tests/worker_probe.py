"""Run inside a spawned parse worker by tests/test_prepare.py: what the worker has imported."""

from __future__ import annotations

import sys


def loaded_modules() -> list[str]:
    return sorted(sys.modules)
