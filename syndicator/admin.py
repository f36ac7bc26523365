"""Administration: ``syndicator check`` and the ``db`` commands' logic.

``check`` reads, never writes: it does not create a store nor upgrade one,
so it is safe to run against the daemon's live configuration before a reload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from syndicator.config import Config, FeedConfig, SourceConfig


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def changed_settings(config: Config) -> list[tuple[str, str]]:
    """``("[section] key", value)`` for every setting that differs from its default."""
    out = []
    for section in ("storage", "output", "fetch", "merge", "scheduler", "log"):
        current = getattr(config, section)
        default = type(current)()
        for f in fields(current):
            value = getattr(current, f.name)
            if value != getattr(default, f.name):
                out.append((f"[{section}] {f.name}", config.redact(_show(f.name, value, config))))
    return out


def _show(key: str, value: object, config: Config) -> str:
    """A setting's value as shown; a database URL without its password."""
    if key == "url" and isinstance(value, str):
        from sqlalchemy.engine import make_url

        try:
            return make_url(value).render_as_string(hide_password=True)
        except Exception:
            return "(not a database URL)"
    return repr(value) if isinstance(value, str) else str(value)


def describe_source(config: Config, src: SourceConfig) -> str:
    parts = [config.redact(_hide_userinfo(config.source_url(src))), f"every {_duration(config.interval(src))}"]
    if not src.enabled:
        parts.append("disabled")
    if src.origin != "config":
        parts.append(f"from {src.origin}" + (", private addresses allowed" if src.allow_private else ""))
    if src.headers:
        parts.append("headers: " + ", ".join(name for name, _ in src.headers))  # names only, never values
    if src.username or src.password:
        parts.append("basic auth")
    if src.proxy:
        parts.append("via a proxy")
    if src.user_agent:
        parts.append(f"User-Agent {config.redact(src.user_agent)!r}")
    return f"{src.name}: " + "; ".join(parts)


def describe_feed(config: Config, feed: FeedConfig) -> str:
    sources = "every source" if "*" in feed.sources else ", ".join(feed.sources)
    files = ", ".join(f"{feed.name}.{ext}" for ext in ("rss", "atom", "json"))
    extra = f"; archive up to {feed.archive_pages} page(s)" if feed.archive else ""
    return f"{feed.name}: {feed.title or feed.name!r}, newest {feed.limit} of {sources} -> {files}{extra}"


def _hide_userinfo(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return parts._replace(netloc=f"{parts.username}:***@{parts.hostname}" + (
            f":{parts.port}" if parts.port else "")).geturl()
    return url


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def check(config: Config) -> CheckReport:
    """What the configuration would do, and every problem found (a non-empty ``problems`` means exit 2)."""
    report = CheckReport()
    report.lines.append(f"configuration {config.path}: valid")
    report.lines += store_lines(config, report.problems)
    out = config.output_dir
    probe = out if out.exists() else _existing_parent(out)
    if not os.access(probe, os.W_OK):
        report.problems.append(f"[output] dir: {out} is not writable")
    report.lines.append(f"output: {out} (served as {config.output.base_url})")
    report.lines.append(f"sources ({len(config.sources)}):")
    report.lines += [f"  {describe_source(config, s)}" for s in config.sources]
    report.lines.append(f"feeds ({len(config.feeds)}):")
    report.lines += [f"  {describe_feed(config, f)}" for f in config.feeds]
    changed = changed_settings(config)
    report.lines.append("settings that differ from the defaults:" if changed else "all settings at their defaults")
    report.lines += [f"  {k} = {v}" for k, v in changed]
    return report


def store_lines(config: Config, problems: list[str]) -> list[str]:
    """The store's schema revision against this version's, without creating or upgrading anything."""
    from sqlalchemy.engine import make_url

    from syndicator.errors import StoreError
    from syndicator.store import db

    url = config.database_url()
    shown = make_url(url).render_as_string(hide_password=True)
    path = db.sqlite_path(url)
    if path and not Path(path).exists():
        return [f"store {shown}: not created yet (the first command that needs it creates it)"]
    try:
        engine = db.create_store_engine(url)
    except StoreError as exc:
        problems.append(str(exc))
        return [f"store {shown}: cannot be opened"]
    try:
        current = db.current_revision_fast(engine) if db.has_schema(engine) else None
    except Exception as exc:
        problems.append(f"store {shown}: {type(exc).__name__}: {config.redact(str(exc))}")
        return [f"store {shown}: cannot be read"]
    finally:
        engine.dispose()
    if current == db.SCHEMA_HEAD:
        return [f"store {shown}: schema {current}, up to date"]
    if current is None:
        return [f"store {shown}: empty, the schema is created on first use"]
    if current not in db.known_revisions():
        problems.append(
            f"store {shown}: schema revision {current} is unknown to this version (newest known: "
            f"{db.SCHEMA_HEAD}); a newer Syndicator wrote it"
        )
        return [f"store {shown}: schema {current}, unknown"]
    return [f"store {shown}: schema {current}, will be upgraded to {db.SCHEMA_HEAD} on start (or `db upgrade`)"]


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
