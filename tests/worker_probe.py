"""Run inside a spawned parse worker by tests/test_prepare.py: what the worker has imported."""

from __future__ import annotations

import sys


def loaded_modules() -> list[str]:
    return sorted(sys.modules)


def serve_linker(inbox, outbox, *args) -> None:
    """syndicator.linking.serve, then what that process imported and the size of its fingerprint cache, sent on
    its outbox."""
    from syndicator import linking

    linking.serve(inbox, outbox, *args)
    outbox.put(("modules", sorted(sys.modules), linking._FP_CACHE.size))
