"""The command line: a thin shell around the pipeline.

``syndicator [--config PATH] [--verbose|--quiet] COMMAND``. Exit status: 0
when all went well, 1 when some source failed (the rest is still stored and
published), 2 for a bad configuration or bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
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
    sos.add_parser("export-opml", help="print the sources as OPML")
    return p


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "run":
        logging.getLogger("syndicator").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        config = load_config(args.config)
        return COMMANDS[args.command](config, args)
    except (ConfigError, UsageError) as exc:
        print(f"syndicator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"syndicator: store error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SyndicatorError as exc:
        print(f"syndicator: {exc}", file=sys.stderr)
        return EXIT_SOURCE_FAILED
    except KeyboardInterrupt:
        return 130


def _store(config: Config):
    from syndicator.store import Store

    return Store(config.database_url())


def cmd_refresh(config: Config, args: argparse.Namespace) -> int:
    from syndicator.refresh import refresh
    from syndicator.ui import ProgressBar, print_summary

    with _store(config) as store, ProgressBar(enabled=sys.stderr.isatty() and not args.quiet) as bar:
        report = refresh(config, store, args.source, progress=bar.advance, on_start=bar.start)
    print_summary(report, config, sys.stdout)
    for failed in report.failed:
        print(f"syndicator: source {failed.name} failed: {failed.detail}", file=sys.stderr)
    return EXIT_SOURCE_FAILED if report.failed else EXIT_OK


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from syndicator.scheduler import run_daemon

    run_daemon(config, args.host, args.port, access_log=args.verbose)
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

        result = import_opml(config, args.file)
        for name in result.added:
            print(f"added {name}")
        for reason in result.skipped:
            print(f"skipped {reason}", file=sys.stderr)
        print(f"{len(result.added)} source(s) added to {config.path}")
        return EXIT_OK
    from syndicator.ui import print_sources

    with _store(config) as store:
        store.sync_sources((s.name, config.source_url(s)) for s in config.sources)
        print_sources(config, store.sources(), datetime.now(UTC), sys.stdout)
    return EXIT_OK


COMMANDS = {
    "refresh": cmd_refresh,
    "run": cmd_run,
    "serve": cmd_serve,
    "stories": cmd_stories,
    "sources": cmd_sources,
    "unmerge": cmd_curate,
    "merge": cmd_curate,
}
