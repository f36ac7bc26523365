"""Loading and checking the TOML configuration.

The configuration file is the one truth about which sources and output feeds
exist; the store only keeps their state. Everything is checked when the file
is loaded, so a typo is reported with the file, the key and what is wrong
instead of surfacing as a strange failure an hour later in the daemon.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from syndicator.errors import ConfigError

DEFAULT_CANDIDATES = ("syndicator.toml", "config/syndicator.toml")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class StorageConfig:
    url: str = "sqlite:///syndicator.db"
    keep_days: int = 90  # articles and stories older than this, that no published feed holds, are pruned
    backup_on_upgrade: bool = True  # copy an SQLite file aside before a schema upgrade


@dataclass(frozen=True)
class LogConfig:
    level: str = "warning"  # "debug", "info", "warning", "error"; --verbose / --quiet override it
    format: str = "text"  # "text" or "json" (one JSON object per line)


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "public"
    base_url: str = "http://127.0.0.1:8080/"
    title: str = "Syndicator"
    max_age: int = 300  # seconds, the Cache-Control max-age of served feeds
    stale_after: float = 3 * 3600.0  # seconds since the last publish before /healthz reports 503
    websub_hub: str = ""  # a WebSub hub's URL: advertised in every feed and pinged when a feed changes
    strip_tracking_pixels: bool = True  # drop known tracking images (1x1 beacons) from republished HTML


@dataclass(frozen=True)
class FetchConfig:
    timeout: float = 30.0  # seconds for a whole download
    connect_timeout: float = 10.0
    max_bytes: int = 10_000_000
    concurrency: int = 32
    per_host: int = 2
    user_agent: str = ""  # empty: "Syndicator/<version> (+project URL)"
    default_interval: float = 3600.0
    max_redirects: int = 5
    # A floor on network sources' intervals (file sources are not a publisher's server); tests lower it.
    min_interval: float = 300.0
    max_server_wait: float = 24 * 3600.0  # cap on what Cache-Control, Expires, <ttl> or Retry-After ask for
    max_backoff: float = 24 * 3600.0  # cap on the exponential backoff after consecutive errors
    jitter: float = 0.10  # intervals and backoffs spread by up to ± this fraction


@dataclass(frozen=True)
class MergeConfig:
    headline: str = "first"  # "first" or "latest"
    window: float = 72 * 3600.0  # seconds around an article's publication time
    level: str = "article"  # "article" or "event"
    semantic: bool = True  # use the optional sentence-embedding model when it is installed


@dataclass(frozen=True)
class RelatedConfig:
    limit: int = 5  # related stories linked from each story; 0: none
    window: float = 14 * 86400.0  # seconds: related stories are published at most this far apart


@dataclass(frozen=True)
class SchedulerConfig:
    tick: float = 5.0  # seconds between looks for due sources
    # How long a process (worker, daemon, refresh by hand) holds the sources it fetches; pushed back every
    # third of it while it lives, so only a dead (or frozen) one's sources are taken over once it runs out
    # (at once by a process on the same host, which sees that the owner is gone).
    lease: float = 120.0
    batch: int = 64  # sources a worker claims at once


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str
    title: str = ""
    interval: float | None = None  # seconds; None: [fetch] default_interval
    enabled: bool = True
    # "opml": imported from outside, so only public http(s) addresses at every hop (see syndicator.addresses).
    origin: str = "config"
    allow_private: bool = False  # an imported source that may reach private addresses (import-opml --allow-private)
    headers: tuple[tuple[str, str], ...] = ()  # extra request headers
    username: str = ""  # HTTP basic auth
    password: str = ""
    proxy: str = ""
    user_agent: str = ""  # empty: [fetch] user_agent

    @property
    def guarded(self) -> bool:
        """Must every hop of this source's fetches go to a public address?"""
        return self.origin == "opml" and not self.allow_private
    full_text: bool = False  # fetch each new article's page and extract its text (trafilatura) for merging
    full_text_publish: bool = False  # ... and publish that text as the item's content


@dataclass(frozen=True)
class FeedConfig:
    name: str
    title: str = ""
    description: str = ""
    sources: tuple[str, ...] = ("*",)
    limit: int = 100
    include: tuple[str, ...] = ()  # regular expressions on headlines and content: keep a story matching any
    exclude: tuple[str, ...] = ()  # ... drop a story matching any
    categories: tuple[str, ...] = ()  # keep a story with any of these categories
    max_age: float | None = None  # seconds: drop stories published longer ago
    language: str = ""  # empty: the items' language when they all agree
    icon: str = ""  # an image URL: RSS <image>, Atom <icon>, JSON Feed icon
    author: str = ""  # empty: [output] title
    archive: bool = False  # RFC 5005 archive pages of `limit` stories each, linked by rel="prev-archive"
    archive_pages: int = 10  # at most this many archive pages

    def includes(self, source_name: str) -> bool:
        return "*" in self.sources or source_name in self.sources


@dataclass(frozen=True)
class Config:
    path: Path
    storage: StorageConfig = field(default_factory=StorageConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    merge: MergeConfig = field(default_factory=MergeConfig)
    related: RelatedConfig = field(default_factory=RelatedConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    log: LogConfig = field(default_factory=LogConfig)
    sources: tuple[SourceConfig, ...] = ()
    feeds: tuple[FeedConfig, ...] = ()
    # Values that came from ${NAME} in the file: never printed (see redact()).
    secrets: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        """``text`` with every value taken from the environment replaced by "***"."""
        return _redact(text, self.secrets)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def output_dir(self) -> Path:
        return (self.base_dir / self.output.dir).resolve()

    def source(self, name: str) -> SourceConfig:
        return self._sources_by_name[name]

    @cached_property
    def _sources_by_name(self) -> dict[str, SourceConfig]:
        # A refresh looks each source up several times: a scan of the tuple each time was quadratic
        # (a million comparisons at 1,000 sources). Built once: the dataclass is frozen.
        by_name: dict[str, SourceConfig] = {}
        for s in self.sources:
            by_name.setdefault(s.name, s)  # the first of a name, as the scan found
        return by_name

    def source_url(self, source: SourceConfig) -> str:
        """The source's location as a URL: local paths become file:// URLs."""
        return resolve_source_url(source.url, self.base_dir)

    def interval(self, source: SourceConfig) -> float:
        """The source's interval; a network source's never below ``[fetch] min_interval``."""
        value = source.interval if source.interval is not None else self.fetch.default_interval
        if urlsplit(self.source_url(source)).scheme in ("http", "https"):
            value = max(value, self.fetch.min_interval)
        return value

    def database_url(self) -> str:
        return resolve_database_url(self.storage.url, self.base_dir)


# -- value parsers: each returns the value or raises ValueError with a reason --


def parse_duration(value: Any) -> float:
    """ "90s", "30m", "2h", "1d" (or a number of seconds) to seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (use 90s, 30m, 2h or 1d)")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration (use 90s, 30m, 2h or 1d)")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    return seconds


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def _nonempty(value: Any) -> str:
    if not _str(value).strip():
        raise ValueError("must not be empty")
    return value


def _name(value: Any) -> str:
    if not _NAME_RE.match(_str(value)):
        raise ValueError(
            f"{value!r} is not a valid name (letters, digits, '.', '_', '-'; at most 64)"
        )
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{value!r} is not a whole number above zero")
    return value


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a whole number, zero or above")
    return value


def _positive_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{value!r} is not a number above zero")
    return float(value)


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{value!r} is not a fraction from 0 up to (not including) 1")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _http_url(value: Any) -> str:
    parts = urlsplit(_str(value))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value if value.endswith("/") else value + "/"


def _optional_http_url(value: Any) -> str:
    """An http(s) URL kept exactly as written (a hub's address is not a folder), or empty."""
    text = _str(value).strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL (or empty)")
    return text


def _source_url(value: Any) -> str:
    text = _nonempty(value).strip()
    scheme = urlsplit(text).scheme
    if scheme and len(scheme) > 1 and scheme not in ("http", "https", "file"):
        raise ValueError(f"{value!r}: only http, https, file URLs or local paths are allowed")
    return text


def _regex_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{value!r} is not a list of regular expressions")
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    return tuple(value)


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{value!r} is not a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(map(repr, choices))}")
        return value

    return check


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise ValueError("must be a table of header names and values, e.g. { X-Api-Key = \"${API_KEY}\" }")
    out = []
    for name, text in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not an HTTP header name")
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            raise ValueError(f"{name}: the value must be a one-line string")
        out.append((name, text))
    return tuple(out)


def _proxy_url(value: Any) -> str:
    text = _str(value).strip()
    if text and urlsplit(text).scheme not in ("http", "https", "socks5", "socks5h"):
        raise ValueError("a proxy is an http://, https:// or socks5:// URL (or empty)")
    return text


def _language(value: Any) -> str:
    text = _str(value).strip()
    if text and not re.match(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$", text):
        raise ValueError(f"{value!r} is not a language tag such as \"en\" or \"pt-BR\"")
    return text


def _names_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{value!r} is not a non-empty list of source names (or [\"*\"])")
    return tuple(v if v == "*" else _name(v) for v in value)


_SECTIONS: dict[str, tuple[type, dict[str, Callable[[Any], Any]]]] = {
    "storage": (
        StorageConfig, {"url": _nonempty, "keep_days": _non_negative_int, "backup_on_upgrade": _bool}
    ),
    "log": (LogConfig, {"level": _one_of("debug", "info", "warning", "error"), "format": _one_of("text", "json")}),
    "output": (
        OutputConfig,
        {
            "dir": _nonempty,
            "base_url": _http_url,
            "title": _nonempty,
            "max_age": _non_negative_int,
            "stale_after": parse_duration,
            "websub_hub": _optional_http_url,
            "strip_tracking_pixels": _bool,
        },
    ),
    "fetch": (
        FetchConfig,
        {
            "timeout": _positive_float,
            "connect_timeout": _positive_float,
            "max_bytes": _positive_int,
            "concurrency": _positive_int,
            "per_host": _positive_int,
            "user_agent": _str,
            "default_interval": parse_duration,
            "max_redirects": _non_negative_int,
            "min_interval": parse_duration,
            "max_server_wait": parse_duration,
            "max_backoff": parse_duration,
            "jitter": _fraction,
        },
    ),
    "merge": (
        MergeConfig,
        {
            "headline": _one_of("first", "latest"),
            "window": parse_duration,
            "level": _one_of("article", "event"),
            "semantic": _bool,
        },
    ),
    "related": (RelatedConfig, {"limit": _non_negative_int, "window": parse_duration}),
    "scheduler": (SchedulerConfig, {"tick": parse_duration, "lease": parse_duration, "batch": _positive_int}),
}
_SOURCE_KEYS: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "url": _source_url,
    "title": _str,
    "interval": parse_duration,
    "enabled": _bool,
    "origin": _one_of("config", "opml"),
    "allow_private": _bool,
    "headers": lambda v: _headers(v),
    "username": _str,
    "password": _str,
    "proxy": lambda v: _proxy_url(v),
    "user_agent": _str,
    "full_text": _bool,
    "full_text_publish": _bool,
}
_FEED_KEYS: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "title": _str,
    "description": _str,
    "sources": _names_list,
    "limit": _positive_int,
    "include": _regex_list,
    "exclude": _regex_list,
    "categories": _str_list,
    "max_age": parse_duration,
    "language": lambda v: _language(v),
    "icon": _optional_http_url,
    "author": _str,
    "archive": _bool,
    "archive_pages": _positive_int,
}


def _build(cls: type, table: Mapping[str, Any], checks: Mapping[str, Callable], where: str, ctx: str):
    if not isinstance(table, Mapping):
        raise ConfigError(f"{ctx}: {where} must be a table")
    values = {}
    for key, raw in table.items():
        if key not in checks:
            known = ", ".join(sorted(checks))
            raise ConfigError(f"{ctx}: {where}.{key}: unknown key (known keys: {known})")
        try:
            values[key] = checks[key](raw)
        except ValueError as exc:
            raise ConfigError(f"{ctx}: {where}.{key}: {exc}") from None
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    for key in required:
        if key not in values:
            raise ConfigError(f"{ctx}: {where}.{key}: missing (required)")
    return cls(**values)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and check the configuration; raises ConfigError naming file and key."""
    cfg_path = find_config(path)
    ctx = str(cfg_path)
    try:
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{ctx}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{ctx}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{ctx}: not valid TOML: {exc}") from None
    secrets: list[str] = []
    raw = _substitute(raw, ctx, "", secrets)
    try:
        return config_from_dict(raw, cfg_path, tuple(secrets))
    except ConfigError as exc:  # a value that came from the environment is never printed, even when wrong
        raise ConfigError(_redact(str(exc), secrets)) from None


_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _substitute(value: Any, ctx: str, where: str, secrets: list[str]) -> Any:
    """``${NAME}`` in any string becomes the environment variable NAME ("$$" is a literal "$")."""
    if isinstance(value, dict):
        return {k: _substitute(v, ctx, f"{where}.{k}" if where else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, ctx, f"{where}[{i}]", secrets) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(f"{ctx}: {where}: environment variable {name} is not set")
        found = os.environ[name]
        if found:
            secrets.append(found)
        return found

    return _ENV_RE.sub(one, value)


def _redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def config_from_dict(raw: Mapping[str, Any], cfg_path: Path, secrets: tuple[str, ...] = ()) -> Config:
    ctx = str(cfg_path)
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECTIONS:
            cls, checks = _SECTIONS[key]
            sections[key] = _build(cls, value, checks, f"[{key}]", ctx)
        elif key not in ("sources", "feeds"):
            known = ", ".join(sorted([*_SECTIONS, "sources", "feeds"]))
            raise ConfigError(f"{ctx}: {key}: unknown key (known: {known})")
    sources = _build_list(raw.get("sources", []), SourceConfig, _SOURCE_KEYS, "sources", ctx)
    feeds = _build_list(raw.get("feeds", []), FeedConfig, _FEED_KEYS, "feeds", ctx)
    for i, src in enumerate(sources):
        if src.full_text_publish and not src.full_text:
            raise ConfigError(f"{ctx}: [[sources]][{i}].full_text_publish: needs full_text = true")
    known_sources = {s.name for s in sources}
    for i, feed in enumerate(feeds):
        for name in feed.sources:
            if name != "*" and name not in known_sources:
                raise ConfigError(f"{ctx}: [[feeds]][{i}].sources: no source named {name!r}")
    if not feeds:
        feeds = (FeedConfig(name="all", title="All stories"),)
    return Config(path=cfg_path.resolve(), sources=sources, feeds=feeds, secrets=secrets, **sections)


def _build_list(items: Any, cls: type, checks: Mapping[str, Callable], key: str, ctx: str) -> tuple:
    if not isinstance(items, list):
        raise ConfigError(f"{ctx}: {key}: must be an array of tables ([[{key}]])")
    built, seen = [], set()
    for i, item in enumerate(items):
        obj = _build(cls, item, checks, f"[[{key}]][{i}]", ctx)
        if obj.name in seen:
            raise ConfigError(f"{ctx}: [[{key}]][{i}].name: duplicate name {obj.name!r}")
        seen.add(obj.name)
        built.append(obj)
    return tuple(built)


def find_config(path: str | os.PathLike[str] | None = None) -> Path:
    """--config, else $SYNDICATOR_CONFIG, else ./syndicator.toml, else config/syndicator.toml."""
    if path:
        return Path(path)
    env = os.environ.get("SYNDICATOR_CONFIG")
    if env:
        return Path(env)
    for candidate in DEFAULT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise ConfigError(
        "no configuration found: give --config PATH, set SYNDICATOR_CONFIG, "
        "or create ./syndicator.toml or config/syndicator.toml"
    )


def resolve_source_url(url: str, base_dir: Path) -> str:
    """http(s) and file URLs stay; a local path resolves against the configuration's folder."""
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https", "file"):
        return url
    return (base_dir / url).resolve().as_uri()


def resolve_database_url(url: str, base_dir: Path) -> str:
    """A relative SQLite path is relative to the configuration file, like every other path."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix):]
        if rest and not rest.startswith(":memory:") and not os.path.isabs(rest):
            return prefix + str((base_dir / rest).resolve())
    return url
