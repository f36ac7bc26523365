"""OPML in and out: ``sources import-opml`` and ``sources export-opml``.

Importing edits the configuration file itself (it is the one truth about
which sources exist) with tomlkit, which keeps the user's comments and layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from syndicator.config import Config, config_from_dict
from syndicator.errors import ConfigError, UsageError
from syndicator.publish.files import write_if_changed


@dataclass(frozen=True)
class Outline:
    title: str
    url: str


@dataclass(frozen=True)
class ImportResult:
    added: tuple[str, ...]
    skipped: tuple[str, ...]  # with the reason


def read_opml(data: bytes) -> list[Outline]:
    from lxml import etree

    # OPML files come from elsewhere: no entities, no network, no huge trees.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise UsageError(f"not a readable OPML file: {exc}") from None
    found = []
    for el in root.iter("outline"):
        url = (el.get("xmlUrl") or el.get("xmlurl") or "").strip()
        if url:
            title = (el.get("title") or el.get("text") or "").strip()
            found.append(Outline(title, url))
    return found


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48]
    return slug or "source"


def import_opml(config: Config, opml_path: Path, *, allow_private: bool = False) -> ImportResult:
    """Add the file's feeds as sources marked ``origin = "opml"``.

    An OPML file comes from outside, so its URLs are not trusted like the
    configuration's own: each must be http(s) to a public address
    (``syndicator.addresses``), unless ``allow_private``. A name that does not
    resolve now is kept: the same check runs again at every fetch and hop.
    """
    import tomlkit

    from syndicator.addresses import Refused, Unresolved, public_addresses

    try:
        outlines = read_opml(opml_path.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read {opml_path}: {exc.strerror or exc}") from None
    doc = tomlkit.parse(config.path.read_text(encoding="utf-8"))
    names = {s.name for s in config.sources}
    urls = {s.url for s in config.sources}
    added, skipped = [], []
    sources = doc.get("sources")
    if sources is None:
        sources = tomlkit.aot()
        doc.append("sources", sources)
    for o in outlines:
        if urlsplit(o.url).scheme not in ("http", "https"):
            skipped.append(f"{o.url}: refused, an imported source must be an http(s) URL")
            continue
        if not allow_private:
            try:
                public_addresses(o.url)
            except Unresolved:
                pass
            except Refused as exc:
                skipped.append(f"{o.url}: refused, not a public address ({exc}); --allow-private accepts it")
                continue
        if o.url in urls:
            skipped.append(f"{o.url}: already configured")
            continue
        base = _slug(o.title or urlsplit(o.url).hostname or "")
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        table = tomlkit.table()
        table["name"] = name
        table["url"] = o.url
        if o.title:
            table["title"] = o.title
        table["origin"] = "opml"  # not trusted like the file's own sources: see syndicator.addresses
        if allow_private:
            table["allow_private"] = True
        sources.append(table)
        names.add(name)
        urls.add(o.url)
        added.append(name)
    if added:
        text = tomlkit.dumps(doc)
        try:  # never write a file that would not load
            config_from_dict(tomlkit.parse(text).unwrap(), config.path)
        except ConfigError as exc:
            raise UsageError(f"the imported sources would break the configuration: {exc}") from None
        write_if_changed(config.path, text.encode("utf-8"))
    return ImportResult(tuple(added), tuple(skipped))


def export_opml(config: Config) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        f"  <head><title>{_esc(config.output.title)} sources</title></head>",
        "  <body>",
    ]
    for s in config.sources:
        title = s.title or s.name
        lines.append(
            f"    <outline type=\"rss\" text={quoteattr(title)} title={quoteattr(title)} "
            f"xmlUrl={quoteattr(config.source_url(s))}/>"
        )
    lines += ["  </body>", "</opml>"]
    return "\n".join(lines) + "\n"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
