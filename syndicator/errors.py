"""One error hierarchy for everything Syndicator raises on purpose.

Bad input (a configuration, an argument, a feed document) is also a
``ValueError``, so callers that do not know our types still catch it.
"""

from __future__ import annotations


class SyndicatorError(Exception):
    """Base of every error Syndicator raises deliberately."""


class ConfigError(SyndicatorError, ValueError):
    """The configuration file is missing, unreadable or wrong; names file and key."""


class UsageError(SyndicatorError, ValueError):
    """A command-line argument names something that does not exist."""


class FetchError(SyndicatorError):
    """A source could not be fetched (network, HTTP status, size or time limit)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ParseError(SyndicatorError, ValueError):
    """A fetched document held no feed we could read."""


class StoreError(SyndicatorError):
    """The store could not be opened or is not in the expected shape."""
