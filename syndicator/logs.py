"""Logging: one line per event, as text or JSON lines, never a secret.

Events carry their subject as ``extra`` fields (``event``, ``source``,
``story``, ``feed``, ...) so that a JSON line can be filtered by source or
story without parsing the message; text lines show them as ``key=value``.
Values the configuration took from the environment (``${NAME}``) are
replaced by "***" in every record, whatever logged them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# The fields an event may carry, in the order text lines show them.
FIELDS = ("event", "source", "story", "article", "feed", "outcome", "status", "url", "rule", "elapsed", "files",
          "entries", "parsed")
_HANDLER_MARK = "_syndicator_handler"


def effective_level(configured: str, *, verbose: bool, quiet: bool, daemon: bool = False) -> int:
    """--verbose and --quiet win over ``[log] level``; the daemon reports its work at info at least."""
    if verbose:
        return logging.DEBUG
    if quiet:
        return logging.ERROR
    level = LEVELS[configured]
    return min(level, logging.INFO) if daemon else level


class _Access(logging.Filter):
    """uvicorn's access records as one readable line with the status phrase ("304 Not Modified"), as uvicorn's
    own formatter writes them (tests/test_readers.py reads them), and as fields for JSON lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            from http import HTTPStatus

            client, method, path, version, status = record.args
            try:
                phrase = HTTPStatus(int(status)).phrase
            except ValueError:
                phrase = ""
            record.msg, record.args = f'{client} - "{method} {path} HTTP/{version}" {status} {phrase}'.rstrip(), None
            record.event, record.status, record.url = "access", int(status), path
        return True


class _Redact(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
            for key in FIELDS:
                value = getattr(record, key, None)
                if isinstance(value, str):
                    for secret in self.secrets:
                        value = value.replace(secret, "***")
                    setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k}={getattr(record, k)}" for k in FIELDS if getattr(record, k, None) not in (None, "")]
        if extras and getattr(record, "event", "") != "access":  # an access line says it all, as uvicorn's did
            line += " [" + " ".join(extras) + "]"
        return line.replace("\n", "\\n") if record.exc_info is None else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value not in (None, ""):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class _Redacting(logging.Formatter):
    """The whole formatted line redacted once more: a traceback is formatted after the filters ran."""

    def __init__(self, inner: logging.Formatter, secrets: Sequence[str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for secret in self.secrets:
            line = line.replace(secret, "***").replace(json.dumps(secret)[1:-1], "***")
        return line


def setup(level: int, fmt: str = "text", secrets: Sequence[str] = ()) -> None:
    """Route every log record to stderr, one line each, in ``fmt`` ("text" or "json")."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _HANDLER_MARK, False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(_Redacting(JsonFormatter() if fmt == "json" else TextFormatter(), secrets))
    handler.addFilter(_Access())
    handler.addFilter(_Redact(secrets))
    root.addHandler(handler)
    # Our own records at the chosen level; libraries' chatter only from warnings up unless debugging.
    root.setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    logging.getLogger("syndicator").setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
