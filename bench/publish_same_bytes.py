"""The publisher's output is unchanged: this branch's code and another checkout's (main's by default)
publish the same store states, and every feed file must be byte-identical (RSS, Atom, JSON Feed).

One store, changed step by step (a new story, a variant merged into a story, the "latest" headline rule,
an unmerge, a related link gained, a changed headline, nothing changed). Before each of our publishes, a
consistent copy of the store is published by the other code in a process of its own (its own output
folder, the store's schema revision set to the one that code knows: the only difference is this
branch's extra partial index, which it does not read). Ours publishes in one long-lived process, as a
daemon does, so the entries it kept from earlier steps (publish/reuse.py) are what is being checked.

    .venv/bin/python bench/publish_same_bytes.py                          # against /work/main
    .venv/bin/python bench/publish_same_bytes.py --old-root DIR --old-python DIR/.venv/bin/python
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scale_feeds  # noqa: E402

from syndicator.config import load_config  # noqa: E402
from syndicator.model import Entry  # noqa: E402
from syndicator.publish import publish_all, reuse  # noqa: E402
from syndicator.store import Store  # noqa: E402
from syndicator.store.db import current_revision_fast  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SOURCES = 6
WINDOW = 72 * 3600
RELATED_WINDOW = 14 * 86400
FEED_FILES = [f"{name}.{ext}" for name in ("all", "some") for ext in ("rss", "atom", "json")]

# The other code publishes the copy: argv = config file, now (ISO).
OLD_SCRIPT = """
import sys
from datetime import datetime
from pathlib import Path
sys.path.insert(0, ".")
from syndicator.config import load_config
from syndicator.publish import publish_all
from syndicator.store import Store
config = load_config(Path(sys.argv[1]))
with Store(config.database_url(), backup=False) as store:
    publish_all(store, config, datetime.fromisoformat(sys.argv[2]))
"""


def _toml(db: Path, out: Path, headline: str) -> str:
    lines = ["[storage]", f'url = "sqlite:///{db}"', "[output]", f'dir = "{out}"',
             'base_url = "http://127.0.0.1:8080/"', "[merge]", "semantic = false", f'headline = "{headline}"']
    for i in range(SOURCES):
        lines += ["[[sources]]", f'name = "s{i}"', f'url = "http://127.0.0.1/{i}"']
    lines += ["[[sources]]", 'name = "wire"', 'url = "http://127.0.0.1/wire"']
    lines += ["[[feeds]]", 'name = "all"', 'sources = ["*"]', "limit = 40"]
    lines += ["[[feeds]]", 'name = "some"', 'sources = ["s1", "wire"]', "limit = 10"]
    return "\n".join(lines) + "\n"


def _entries(source: int, first: int, n: int, at: datetime) -> list[Entry]:
    out = []
    for j in range(n):
        seq = first + j
        item = scale_feeds.make_item(3, SOURCES, source, seq, first + n)
        out.append(Entry(guid=item.guid, url=item.link, title=item.title, summary=item.body, text=item.body,
                         published=at - timedelta(minutes=7 * (n - j))))
    return out


class Bench:
    def __init__(self, work: Path, old_root: Path, old_python: str) -> None:
        self.work, self.old_root, self.old_python = work, old_root, old_python
        self.db = work / "store.db"
        self.headline = "first"
        self.store = Store(f"sqlite:///{self.db}", backup=False)
        self.store.sync_sources([(f"s{i}", f"http://127.0.0.1/{i}") for i in range(SOURCES)]
                                + [("wire", "http://127.0.0.1/wire")])
        self.step_no = 0
        self.failures: list[str] = []

    def ingest(self, source: str, entries: list[Entry], now: datetime) -> None:
        self.store.ingest(source, entries, now, WINDOW, "article", None, RELATED_WINDOW)

    def config(self, db: Path, out: Path):
        cfg = self.work / f"{out.name}.toml"
        cfg.write_text(_toml(db, out, self.headline))
        return cfg

    def step(self, label: str, change: Callable[[datetime], None]) -> None:
        self.step_no += 1
        now = NOW + timedelta(hours=self.step_no)
        change(now)
        # The other code, over a consistent copy of the store as it is now.
        copy = self.work / f"old-{self.step_no}.db"
        with sqlite3.connect(self.db) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        old_out = self.work / f"old-out-{self.step_no}"
        with sqlite3.connect(copy) as con:
            old_head = self._old_head()
            con.execute("UPDATE alembic_version SET version_num = ?", (old_head,))
        proc = subprocess.run([self.old_python, "-c", OLD_SCRIPT, str(self.config(copy, old_out)), now.isoformat()],
                              cwd=self.old_root, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"the other code failed at step {label}:\n{proc.stderr}")
        # Ours, in this process, over the store itself.
        new_out = self.work / "new-out"
        before = dict(reuse.stats)
        publish_all(self.store, load_config(self.config(self.db, new_out)), now)
        hits, misses = (reuse.stats[k] - before[k] for k in ("hits", "misses"))
        differ = [n for n in FEED_FILES if (old_out / n).read_bytes() != (new_out / n).read_bytes()]
        others = [n for n in ("index.html", "feeds.opml") if (old_out / n).read_bytes() != (new_out / n).read_bytes()]
        sizes = sum((new_out / n).stat().st_size for n in FEED_FILES)
        verdict = "identical" if not differ else f"DIFFER: {', '.join(differ)}"
        print(f"{self.step_no:>2} {label:<34} {len(FEED_FILES)} feed files, {sizes:>8,} bytes: {verdict}; "
              f"entries reused {hits}, rendered {misses}; index/opml {others or 'identical'}",
              flush=True)
        if differ:
            self.failures.append(label)
        copy.unlink()

    def _old_head(self) -> str:
        heads = sorted(p.name.split("_")[0] for p in (self.old_root / "syndicator/store/migrations/versions")
                       .glob("0*.py"))
        return heads[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old-root", default="/work/main")
    ap.add_argument("--old-python", default="")
    ap.add_argument("--workdir", default="")
    args = ap.parse_args()
    old_root = Path(args.old_root)
    old_python = args.old_python or str(old_root / ".venv" / "bin" / "python")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="syndicator-same-bytes-"))
    work.mkdir(parents=True, exist_ok=True)
    b = Bench(work, old_root, old_python)
    print(f"# ours: {ROOT} (schema {current_revision_fast(b.store.engine)}); theirs: {old_root}; work {work}")
    from syndicator.sanitize import html_to_text
    from tests.test_related import MACRON_ROLE, MAIN, VARIANT, ZELENSKY  # real texts that relate

    def it(x, at):
        return Entry(guid=x.guid, url=x.link, title=x.title, summary=x.body, text=html_to_text(x.body), published=at)

    def initial(now):
        for i in range(SOURCES):
            b.ingest(f"s{i}", _entries(i, 1000 * i, 12, now), now)
        b.ingest("wire", [it(MAIN, now - timedelta(hours=2)), it(ZELENSKY, now - timedelta(hours=1))], now)

    def new_story(now):
        b.ingest("s1", _entries(1, 50_000 + b.step_no, 1, now), now)

    def variant(now):
        # Another outlet's copy of a stored story's body under its own headline: merged, a variant.
        stored = _entries(2, 2000, 12, NOW + timedelta(hours=1))[5]  # one of s2's first bodies
        b.ingest("s3", [replace(stored, guid="copy-1", url="https://copy.example/1", title="A copy, retitled",
                                published=now)], now)

    def latest(now):
        b.headline = "latest"

    def unmerge(now):
        from sqlalchemy import select

        from syndicator.store.curate import unmerge as split
        from syndicator.store.schema import ArticleRow

        with b.store.session() as s:
            article = s.scalars(select(ArticleRow).where(ArticleRow.guid == "copy-1")).one()
            split(s, article.id, now)

    def related(now):
        b.ingest("wire", [it(MACRON_ROLE, now - timedelta(minutes=30))], now)

    def variant_again(now):
        b.ingest("wire", [it(VARIANT, now - timedelta(minutes=20))], now)

    def retitle(now):
        from sqlalchemy import select, update

        from syndicator.store.schema import ArticleRow, StoryRow

        with b.store.session() as s:
            story = s.scalars(select(StoryRow).order_by(StoryRow.published.desc())).first()
            s.execute(update(ArticleRow).where(ArticleRow.id == story.chosen_article_id)
                      .values(title="A headline changed in place"))

    def nothing(now):
        pass

    for label, change in [("initial", initial), ("new story", new_story), ("variant merged", variant),
                          ('headline = "latest"', latest), ("unmerge", unmerge), ("related link gained", related),
                          ("variant of a related story", variant_again), ("headline changed in place", retitle),
                          ("nothing changed", nothing), ("new story again", new_story)]:
        b.step(label, change)
    b.store.close()
    print("all identical" if not b.failures else f"DIFFERENT at: {b.failures}")
    return 1 if b.failures else 0


if __name__ == "__main__":
    sys.exit(main())
