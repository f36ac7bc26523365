"""Publish stage: render every output feed in three formats, plus the index and OPML.

Dates are taken from the store, never from the clock at render time: a
story's ``updated`` moves only when its item's content hash changes, and a
feed's only when the list of its items does. So publishing the same store
twice gives byte-identical files, and files are rewritten only when changed.
A feed whose inputs (items, dates, settings, this version's renderers) are
those its files were last written from is not even rendered again.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from syndicator import __version__
from syndicator.config import Config, FeedConfig
from syndicator.publish import archive, reuse
from syndicator.publish.feedext import ping_hub
from syndicator.publish.files import publish_lock, remove_stale_temp_files, write_changed
from syndicator.publish.items import Item, build_items, feed_story_ids, load_stories
from syndicator.publish.jsonfeed import render_json
from syndicator.publish.pages import FeedSummary, render_index, render_opml
from syndicator.publish.stats import read_daily_activity
from syndicator.publish.xmlfeeds import render_xml
from syndicator.store import Store
from syndicator.store.locks import publish_lock as store_publish_lock
from syndicator.store.schema import FeedStateRow

log = logging.getLogger(__name__)

FEED_NAMESPACE = uuid.UUID("0b6f3e0e-4f4c-4a53-8f7e-6a1f7f1c2b3d")
# A feed_state row (no feed name starts with ".") stamped at the end of every publish, whether or not a
# file changed: /healthz and /metrics read when the last one ran.
LAST_PUBLISH = ".last-publish"
# Stamped when a publish starts reading the store: a worker whose writes were committed before that
# need not publish again (another worker's publish already included them).
PUBLISH_STARTED = ".publish-started"


@dataclass
class PublishResult:
    written: list[str] = field(default_factory=list)  # file names that changed
    feeds: int = 0
    skipped: bool = False  # another worker's publish already covered this one's writes


def feed_id(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(FEED_NAMESPACE, name)}"


def publish_all(store: Store, config: Config, now: datetime, *, after: datetime | None = None) -> PublishResult:
    """Publish every feed, one process at a time, whichever worker on whichever host it is.

    With ``after`` (the store's clock when the caller's writes were committed), a publish that
    another process started since covers them, and this one is skipped.
    """
    with publishing(store, config):
        return publish_locked(store, config, now, after=after)


@contextmanager
def publishing(store: Store, config: Config) -> Iterator[None]:
    """The publisher's locks: on PostgreSQL an advisory lock (store/locks.py), which any worker can take
    once the holder is done or dead; then, as on SQLite, a lock on the output folder."""
    with store_publish_lock(store.engine), publish_lock(config.output_dir):
        yield


def publish_locked(
    store: Store, config: Config, now: datetime, *, after: datetime | None = None, signature: str = ""
) -> PublishResult:
    """``publish_all`` for a caller that holds ``publishing``; ``signature`` says what the files are made
    from besides the store (refresh.publish_signature), "" when the caller does not know."""
    if after is not None and _started_since(store, after):
        return PublishResult(feeds=len(config.feeds), skipped=True)
    return _publish_all(store, config, now, signature)


def _started_since(store: Store, when: datetime) -> bool:
    with store.session() as s:
        row = s.get(FeedStateRow, PUBLISH_STARTED)
        return row is not None and row.updated >= when


def _publish_all(store: Store, config: Config, now: datetime, signature: str = "") -> PublishResult:
    with store.session() as s:
        s.merge(FeedStateRow(name=PUBLISH_STARTED, content_hash="", updated=store.clock()))
    # Before reading the store: an ingest committed from now on clears it again (Store.record_publish).
    store.begin_publish(signature)
    summaries, updated, archived, settled = _settle(store, config, now)
    out = config.output_dir
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    base = config.output.base_url
    result = PublishResult(feeds=len(summaries))
    changed_feeds: list[str] = []  # public URLs of the feed files rewritten, for the WebSub hub
    rendered: dict[str, str] = {}  # feed name -> render key of the files just written
    for feed, summary in zip(config.feeds, summaries, strict=True):
        common = dict(
            title=summary.title, description=summary.description, home_url=base,
            author=feed.author or config.output.title, language=feed.language or _language(summary.items),
            hub_url=config.output.websub_hub, icon=feed.icon,
        )
        key = _render_key(feed, base, common, updated[feed.name], summary.items, archived[feed.name], settled.hashes)
        if key == settled.rendered.get(feed.name) and all(
            (out / n).is_file() for n in _file_names(feed, archived[feed.name])
        ):
            continue  # rendered from exactly these inputs last time, and its files are in place
        # Each item's entry rendered once per process and content (publish/reuse.py): same bytes.
        files = {
            f"{feed.name}.rss": reuse.render_xml_reusing(
                "rss", feed_id=feed_id(feed.name), self_url=f"{base}{feed.name}.rss",
                updated=updated[feed.name], items=summary.items, hashes=settled.hashes, **common,
            ),
            f"{feed.name}.atom": reuse.render_xml_reusing(
                "atom", feed_id=feed_id(feed.name), self_url=f"{base}{feed.name}.atom",
                updated=updated[feed.name], items=summary.items, hashes=settled.hashes, **common,
            ),
            f"{feed.name}.json": reuse.render_json_reusing(
                self_url=f"{base}{feed.name}.json", items=summary.items, hashes=settled.hashes, **common,
            ),
        }
        if feed.archive:
            files.update(_archive_files(feed, summary, archived[feed.name], base, common, files))
            for stale in archive.stale_pages(out, feed.name, set(files)):
                stale.unlink(missing_ok=True)
        written = write_changed(out, files)  # a feed's files flushed together
        result.written += written
        changed_feeds += [f"{base}{name}" for name in written]
        rendered[feed.name] = key
        if written:
            log.info("published feed %s: %d item(s), %s rewritten", feed.name, len(summary.items),
                     ", ".join(written), extra={"event": "publish", "feed": feed.name, "files": written})
    result.written += write_changed(out, {
        "index.html": render_index(config.output.title, base, summaries, activity=read_daily_activity(store)),
        "feeds.opml": render_opml(config.output.title, base, summaries),
    })
    _record_publish(store, datetime.now(UTC), rendered)
    if config.output.websub_hub:
        ping_hub(config.output.websub_hub, changed_feeds)
    return result


def _record_publish(store: Store, when: datetime, rendered: dict[str, str]) -> None:
    store.record_publish(when)  # and confirms the signature noted when this publish started
    with store.session() as s:
        # Only now, with every file of these feeds in place: a publish that died half-way renders them again.
        for name, key in rendered.items():
            state = s.get(FeedStateRow, name)
            if state is not None:
                state.rendered = key


def _render_key(
    feed: FeedConfig, base: str, common: dict, updated: datetime, items: tuple[Item, ...], older: list[Item],
    hashes: dict[str, str],
) -> str:
    """A hash of everything a feed's files are rendered from: the code that renders, the feed's settings,
    its date, and each item (its content hash and date), archived ones included."""
    parts = [
        _code_digest(), feed.name, base, repr(sorted(common.items())), updated.isoformat(),
        repr((feed.archive, feed.archive_pages, feed.limit)),
        *(f"{i.id} {hashes[i.id]} {i.updated.isoformat()}" for i in (*items, *older)),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _file_names(feed: FeedConfig, older: list[Item]) -> list[str]:
    names = [f"{feed.name}.{ext}" for ext in archive.EXTENSIONS]
    if feed.archive:
        pages = archive.pages(older, feed.archive_pages)
        names += [archive.page_name(feed.name, p.key, ext) for p in pages for ext in archive.EXTENSIONS]
    return names


_CODE_DIGEST: list[str] = []


def _code_digest() -> str:
    """This version's renderers (their source and feedgen's version): an upgrade renders every feed again."""
    if not _CODE_DIGEST:
        from importlib.metadata import PackageNotFoundError, version

        h = hashlib.sha256(__version__.encode())
        try:
            h.update(version("feedgen").encode())
        except PackageNotFoundError:
            pass
        for path in sorted(Path(__file__).parent.glob("*.py")):
            h.update(path.read_bytes())
        _CODE_DIGEST.append(h.hexdigest())
    return _CODE_DIGEST[0]


@dataclass
class _Settled:
    hashes: dict[str, str]  # story id -> its item's content hash
    rendered: dict[str, str]  # feed name -> render key of its files as last written


def _settle(
    store: Store, config: Config, now: datetime
) -> tuple[list[FeedSummary], dict[str, datetime], dict[str, list[Item]], _Settled]:
    """Build every feed's items (archive pages' too) and fix their dates in the store, in one transaction."""
    with store.session() as s:
        per_feed = {f.name: feed_story_ids(s, config, archive.window(f), now) for f in config.feeds}
        wanted = list(dict.fromkeys(i for ids in per_feed.values() for i in ids))
        stories = load_stories(s, wanted)  # once: the items are made from them and their dates settled here
        items = {i.id: i for i in build_items(
            s, wanted, config.merge.headline, config.merge.level, config.related.limit, stories=stories
        )}
        hashes: dict[str, str] = {}
        for sid, item in list(items.items()):
            story = stories[sid]
            digest = hashes[sid] = item.content_hash()
            if story.item_hash != digest:
                # A new story dates from its publication; a changed one from now.
                story.updated = story.published if not story.item_hash else max(now, story.published)
                story.item_hash = digest
            items[sid] = replace(item, updated=story.updated)
        summaries, updated, archived, rendered = [], {}, {}, {}
        for feed in config.feeds:
            all_items = [items[i] for i in per_feed[feed.name] if i in items]
            feed_items, archived[feed.name] = all_items[: feed.limit], all_items[feed.limit:]
            summaries.append(_summary(feed, feed_items))
            updated[feed.name], rendered[feed.name] = _feed_updated(s, feed, feed_items, now, hashes)
    return summaries, updated, archived, _Settled(hashes, rendered)


def _archive_files(
    feed: FeedConfig, summary: FeedSummary, older: list[Item], base: str, common: dict,
    current: dict[str, bytes],
) -> dict[str, bytes]:
    """RFC 5005 archive pages of ``feed`` and its subscription documents with their prev-archive link."""
    pages = archive.pages(older, feed.archive_pages)
    out: dict[str, bytes] = {}
    if not pages:
        return out
    names = [[archive.page_name(feed.name, p.key, ext) for ext in archive.EXTENSIONS] for p in pages]
    for ext_index, ext in enumerate(archive.EXTENSIONS):
        main = f"{feed.name}.{ext}"
        out[main] = archive.add_links(
            current[main], ext, {"prev-archive": base + names[0][ext_index]}, is_archive=False
        )
        for n, page in enumerate(pages):
            name = names[n][ext_index]
            page_common = {**common, "title": f"{summary.title} (archive, week {page.key})"}
            page_updated = max(i.updated for i in page.items)
            if ext == "json":
                data = render_json(self_url=base + name, items=page.items, **page_common)
            else:
                data = render_xml(
                    ext, feed_id=feed_id(f"{feed.name}/archive/{page.key}"), self_url=base + name,
                    updated=page_updated, items=page.items, **page_common,
                )
            links = {
                "current": base + main,
                "prev-archive": base + names[n + 1][ext_index] if n + 1 < len(pages) else "",
                "next-archive": base + names[n - 1][ext_index] if n > 0 else "",
            }
            out[name] = archive.add_links(data, ext, links, is_archive=True)
    return out


def _summary(feed: FeedConfig, items: list[Item]) -> FeedSummary:
    return FeedSummary(feed.name, feed.title or feed.name, feed.description, tuple(items))


def _feed_updated(
    s, feed: FeedConfig, items: list[Item], now: datetime, hashes: dict[str, str]
) -> tuple[datetime, str]:
    """The feed's date (moved only when its items change), and the render key its files were written with."""
    # The newer settings count only when set, so an existing feed's hash (and <updated>) stays put.
    head = [feed.title, feed.description, *(x for x in (feed.icon, feed.author, feed.language) if x)]
    blob = "\n".join([*head, *(f"{i.id} {hashes[i.id]}" for i in items)])
    digest = hashlib.sha256(blob.encode()).hexdigest()[:32]
    state = s.get(FeedStateRow, feed.name)
    if state is None:
        newest = max((i.updated for i in items), default=now)
        s.add(FeedStateRow(name=feed.name, content_hash=digest, updated=newest, rendered=""))
        return newest, ""
    if state.content_hash != digest:
        state.content_hash = digest
        state.updated = max(now, state.updated)
    return state.updated, state.rendered


def _language(items: list[Item] | tuple[Item, ...]) -> str:
    """The feed's language when all its items agree on one."""
    langs = {i.language for i in items}
    return langs.pop() if len(langs) == 1 else ""
