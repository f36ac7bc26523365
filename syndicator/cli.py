"""The command line: a thin shell around the pipeline.

``syndicator [--config PATH] [--verbose|--quiet] COMMAND``. Exit status: 0
when all went well, 1 when some source failed (the rest is still stored and
published), 2 for a bad configuration or bad usage; 128 + the signal's number when a refresh
was stopped by SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from syndicator import __version__
from syndicator.config import Config, load_config
from syndicator.errors import ConfigError, StoreError, SyndicatorError, UsageError

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="syndicator",
        description="Poll news feeds, keep each story once, republish clean RSS, Atom and JSON Feed.",
    )
    p.add_argument("--config", metavar="PATH", help="configuration file (default: $SYNDICATOR_CONFIG, "
                   "./syndicator.toml, config/syndicator.toml)")
    p.add_argument("--verbose", "-v", action="store_true", help="log every step")
    p.add_argument("--quiet", "-q", action="store_true", help="only errors")
    p.add_argument("--version", action="version", version=f"syndicator {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser("refresh", help="fetch sources now, merge, store and publish")
    r.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")

    for name, text in (("run", "the daemon: scheduled refreshes and the HTTP server"),
                       ("serve", "serve the published feeds only")):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=8080)
    sub.add_parser("worker", help="scheduled refreshes only, no server (many may share one PostgreSQL store)")

    st = sub.add_parser("stories", help="list stories, newest first")
    st.add_argument("--json", action="store_true", help="one JSON array (the documented contract)")
    st.add_argument("--feed", metavar="NAME", help="only the stories of this output feed")
    st.add_argument("--limit", type=_non_negative, default=50, help="how many (0: all; default 50)")
    st.add_argument("--explain", metavar="STORY_ID", help="why this story's articles were merged")

    um = sub.add_parser("unmerge", help="split an article out of its story, for good")
    um.add_argument("article_id")
    mg = sub.add_parser("merge", help="merge an article into a story by hand")
    mg.add_argument("article_id")
    mg.add_argument("story_id")

    so = sub.add_parser("sources", help="list, import or export sources")
    sos = so.add_subparsers(dest="sources_command", metavar="ACTION", required=True)
    sos.add_parser("list", help="each source's last fetch, status, next due time, errors")
    imp = sos.add_parser("import-opml", help="add an OPML file's feeds to the configuration")
    imp.add_argument("file", type=Path)
    imp.add_argument("--allow-private", action="store_true",
                     help="also accept loopback, private and link-local addresses (you trust this file)")
    sos.add_parser("export-opml", help="print the sources as OPML")
    for action, text in (("pause", "stop fetching a source (its stories stay in the feeds)"),
                         ("resume", "fetch a paused source again"),
                         ("reset", "forget a source's errors, backoff and disabled state; due at once")):
        sos.add_parser(action, help=text).add_argument("name")

    sub.add_parser("check", help="validate the configuration and the store; print what would be done")

    dbp = sub.add_parser("db", help="the store: schema upgrades, backups, retention")
    dbs = dbp.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dbs.add_parser("upgrade", help="run pending schema migrations (an SQLite file is backed up first)")
    dbs.add_parser("current", help="print the store's schema revision and this version's")
    bk = dbs.add_parser("backup", help="a consistent copy of an SQLite store, safe while the daemon runs")
    bk.add_argument("file", type=Path)
    dbs.add_parser("prune", help="apply [storage] keep_days now (also done after every refresh)")
    return p


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _few_malloc_arenas() -> None:
    """At most two glibc malloc arenas (``MALLOC_ARENA_MAX=2``) unless the environment sets it.

    glibc gives a thread that finds the arenas busy one of its own, up to eight per core, and keeps what is
    freed in each for that arena's later use: the 32 fetch threads' response bodies could be spread over
    sixteen arenas on a two-core machine. Two took 7 MB off the process tree of a cold 200 x 50 refresh
    (bench/scale_run.py, docs/benchmarks.md section 23), as they do for long-running threaded services.
    Before any thread starts; not glibc, nothing."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    _few_malloc_arenas()
    args = build_parser().parse_args(argv)
    from syndicator import logs

    # Until the configuration is read, its [log] settings are unknown: its errors are printed, not logged.
    logs.setup(logs.effective_level("warning", verbose=args.verbose, quiet=args.quiet))
    redact = str
    try:
        config = load_config(args.config)
        redact = config.redact
        daemon = args.command in ("run", "worker")
        level = logs.effective_level(config.log.level, verbose=args.verbose, quiet=args.quiet, daemon=daemon)
        logs.setup(level, config.log.format, config.secrets)
        return COMMANDS[args.command](config, args)
    except (ConfigError, UsageError) as exc:
        if args.command == "check":
            print(f"syndicator check: configuration is wrong:\n  {redact(str(exc))}", file=sys.stderr)
        else:
            print(f"syndicator: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"syndicator: store error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except SyndicatorError as exc:
        print(f"syndicator: {redact(str(exc))}", file=sys.stderr)
        return EXIT_SOURCE_FAILED
    except KeyboardInterrupt:
        return 130


def _store(config: Config):
    from syndicator.store import Store

    store = Store(config.database_url(), backup=config.storage.backup_on_upgrade)
    if store.backup_made:
        print(f"syndicator: store upgraded; the previous file is kept as {store.backup_made}", file=sys.stderr)
    return store


def cmd_refresh(config: Config, args: argparse.Namespace) -> int:
    from syndicator.refresh import refresh
    from syndicator.ui import ProgressBar, print_summary

    with (_store(config) as store, ProgressBar(enabled=sys.stderr.isatty() and not args.quiet) as bar,
          _stop_on_signal() as stopped):
        report = refresh(config, store, args.source, progress=bar.advance, on_start=bar.start, stop=stopped.event)
    print_summary(report, config, sys.stdout)
    for failed in report.failed:
        print(f"syndicator: source {failed.name} failed: {failed.detail}", file=sys.stderr)
    if stopped.signum:
        stored = sum(1 for s in report.sources if s.outcome != "deferred")
        print(f"syndicator: stopped by {signal.Signals(stopped.signum).name} after {stored} source(s); the rest "
              "is left for the next refresh, which also publishes what this one stored", file=sys.stderr)
        return 128 + stopped.signum
    return EXIT_SOURCE_FAILED if report.failed else EXIT_OK


class _Stopped:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum = 0


@contextmanager
def _stop_on_signal() -> Iterator[_Stopped]:
    """The first SIGINT or SIGTERM asks the refresh to stop after the source it is storing: its transaction
    commits, the leases are released, the pool's workers are shut down, nothing half-done is published.
    Killed at once instead (the default), a long cold refresh lost the source in progress and left its leases
    to expire. A second signal stops at once, as without this handler."""
    stopped = _Stopped()
    signals = (signal.SIGINT, signal.SIGTERM)

    def handler(signum: int, _frame: object) -> None:
        for sig in signals:  # the next one, either of them, is the default again
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        stopped.signum = signum
        stopped.event.set()
        print("syndicator: stopping after the source being stored (signal again to stop at once)", file=sys.stderr)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield stopped
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from syndicator.scheduler import run_daemon

    run_daemon(config, args.host, args.port, access_log=args.verbose, quiet=args.quiet)
    return EXIT_OK


def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    from syndicator.scheduler import run_daemon

    run_daemon(config, "", 0, serve=False, access_log=args.verbose, quiet=args.quiet)
    return EXIT_OK


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from syndicator.serve import run_server

    config.output_dir.mkdir(parents=True, exist_ok=True)
    run_server(
        config.output_dir, args.host, args.port, config.output.max_age, access_log=args.verbose, config=config
    )
    return EXIT_OK


def cmd_stories(config: Config, args: argparse.Namespace) -> int:
    from syndicator.store import queries

    with _store(config) as store, store.session() as s:
        if args.explain:
            found = queries.explain(s, args.explain, config.related.limit, config.merge.headline)
            if found is None:
                raise UsageError(f"no story with id {args.explain!r}")
            print(json.dumps(found, indent=2, ensure_ascii=False))
            return EXIT_OK
        names = None
        if args.feed:
            feed = next((f for f in config.feeds if f.name == args.feed), None)
            if feed is None:
                raise UsageError(f"no output feed named {args.feed!r} in {config.path}")
            names = [src.name for src in config.sources if feed.includes(src.name)]
        ids = queries.newest_story_ids(s, args.limit, names)
        stories = queries.story_dicts(s, ids, config.merge.headline, config.related.limit, config.merge.level)
    if args.json:
        json.dump(stories, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    for st in stories:
        others = len(st["articles"]) - 1
        extra = f"  (+{others} more)" if others > 0 else ""
        print(f"{st['published'][:16].replace('T', ' ')}  {st['title']}{extra}\n    {st['url']}  {st['id']}")
    return EXIT_OK


def cmd_curate(config: Config, args: argparse.Namespace) -> int:
    from syndicator.publish import publish_all
    from syndicator.store import curate

    now = datetime.now(UTC)
    with _store(config) as store:
        with store.session() as s:
            if args.command == "unmerge":
                story = curate.unmerge(s, args.article_id, now)
                print(f"article {args.article_id} is now story {story}")
            else:
                story = curate.merge_by_hand(s, args.article_id, args.story_id, now)
                print(f"article {args.article_id} is now part of story {story}")
        published = publish_all(store, config, now)
    print(f"feeds: {published.feeds} published, {len(published.written)} file(s) written")
    return EXIT_OK


def cmd_sources(config: Config, args: argparse.Namespace) -> int:
    if args.sources_command == "export-opml":
        from syndicator.opml import export_opml

        sys.stdout.write(export_opml(config))
        return EXIT_OK
    if args.sources_command == "import-opml":
        from syndicator.opml import import_opml

        result = import_opml(config, args.file, allow_private=args.allow_private)
        for name in result.added:
            print(f"added {name}")
        for reason in result.skipped:
            print(f"skipped {reason}", file=sys.stderr)
        print(f"{len(result.added)} source(s) added to {config.path}")
        return EXIT_OK
    if args.sources_command in ("pause", "resume", "reset"):
        return _source_state(config, args.sources_command, args.name)
    from syndicator.ui import print_sources

    with _store(config) as store:
        store.sync_sources((s.name, config.source_url(s)) for s in config.sources)
        print_sources(config, store.sources(), datetime.now(UTC), sys.stdout)
    return EXIT_OK


def _source_state(config: Config, action: str, name: str) -> int:
    if name not in {s.name for s in config.sources}:
        raise UsageError(f"no source named {name!r} in {config.path}")
    with _store(config) as store:
        store.sync_sources((s.name, config.source_url(s)) for s in config.sources)
        if action == "reset":
            host = store.reset_source(name)
            print(f"{name}: errors, backoff and disabled state cleared; due now")
            if host:
                print(f"{name}: the backoff of its host {host} (429/503) is lifted too, for every source on it")
        else:
            store.set_paused(name, action == "pause")
            print(f"{name}: {'paused (its stories stay in the feeds)' if action == 'pause' else 'resumed'}")
    return EXIT_OK


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    from syndicator.admin import check

    report = check(config)
    for line in report.lines:
        print(line)
    if report.problems:
        print("syndicator check: problems found:", file=sys.stderr)
        for problem in report.problems:
            print(f"  {config.redact(problem)}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_db(config: Config, args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from syndicator.store import db

    url = config.database_url()
    shown = make_url(url).render_as_string(hide_password=True)
    if args.db_command == "upgrade":
        before, after, made = db.upgrade(url, backup=config.storage.backup_on_upgrade)
        if before == after:
            print(f"store {shown}: schema {after}, already up to date")
        else:
            print(f"store {shown}: schema {before or '(new)'} -> {after}")
        if made:
            print(f"backup of the previous file: {made}")
        return EXIT_OK
    if args.db_command == "current":
        engine = db.create_store_engine(url)
        try:
            current = db.current_revision_fast(engine) if db.has_schema(engine) else None
        finally:
            engine.dispose()
        state = "up to date" if current == db.SCHEMA_HEAD else f"this version's is {db.SCHEMA_HEAD}"
        print(f"{current or '(empty)'} ({state})")
        return EXIT_OK
    if args.db_command == "backup":
        if db.sqlite_path(url) is None:
            print(
                f"syndicator: {shown} is not SQLite; use PostgreSQL's own consistent dump, e.g.\n"
                f"  pg_dump --format=custom --file={args.file} '{shown}'",
                file=sys.stderr,
            )
            return EXIT_USAGE
        if not Path(db.sqlite_path(url)).exists():
            raise UsageError(f"no store at {db.sqlite_path(url)} yet: nothing to back up")
        engine = db.create_store_engine(url)  # as it is: a backup never upgrades the store first
        try:
            db.backup_sqlite(engine, args.file)
        finally:
            engine.dispose()
        print(f"store copied to {args.file}")
        return EXIT_OK
    from syndicator.store.retention import prune

    with _store(config) as store:
        result = prune(store, config, datetime.now(UTC))
    print(f"pruned {result.articles} article(s) and {result.stories} story(ies) older than "
          f"{config.storage.keep_days} day(s)")
    return EXIT_OK


COMMANDS = {
    "check": cmd_check,
    "db": cmd_db,
    "refresh": cmd_refresh,
    "run": cmd_run,
    "worker": cmd_worker,
    "serve": cmd_serve,
    "stories": cmd_stories,
    "sources": cmd_sources,
    "unmerge": cmd_curate,
    "merge": cmd_curate,
}
