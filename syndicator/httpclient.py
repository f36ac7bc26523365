"""httpx, imported without its command-line tool.

``import httpx`` also imports ``httpx._main`` (its ``httpx`` command) whenever click, rich and pygments
are installed, as they are here: 27 ms of a 40 ms import, in every process, for a tool Syndicator never
runs. A refresh where nothing changed takes little more than its imports, so the tool's module is stood
in for while httpx is imported, and removed again so that an explicit ``import httpx._main`` still works.
"""

from __future__ import annotations

import sys
import types

if "httpx" not in sys.modules:
    _stub = types.ModuleType("httpx._main")

    def _main() -> None:
        raise SystemExit("the httpx command is not loaded in Syndicator's process")

    _stub.main = _main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = _stub
    try:
        import httpx
    finally:
        if sys.modules.get("httpx._main") is _stub:
            del sys.modules["httpx._main"]
else:
    import httpx

__all__ = ["httpx"]
