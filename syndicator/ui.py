"""What the command line shows a person: a progress bar (rich), summaries, tables."""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

from syndicator.config import Config
from syndicator.refresh import RefreshReport, SourceReport
from syndicator.store import SourceRow


class ProgressBar:
    """A rich progress bar on a terminal; nothing at all otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None
        self._task = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, total: int) -> None:
        if not self.enabled or total == 0:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("fetching"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("", total=total)

    def advance(self, report: SourceReport) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=report.name)


def print_summary(report: RefreshReport, config: Config, out: TextIO) -> None:
    fetched, unchanged = report.count("fetched"), report.count("unchanged")
    failed, deferred = report.count("failed"), report.count("deferred")
    pub = report.published
    lines = [
        f"sources: {fetched} fetched, {unchanged} unchanged, {failed} failed"
        + (f", {deferred} deferred" if deferred else ""),
        f"articles: {report.ingest.new_articles} new",
        f"stories: {report.stories} in the store",
    ]
    if pub is not None:
        lines.append(
            f"feeds: {pub.feeds} published to {config.output_dir}, {len(pub.written)} file(s) written"
        )
    for s in report.sources:
        if s.outcome == "deferred":
            lines.append(f"  deferred {s.name}: {s.detail}")
        elif s.outcome == "failed":
            lines.append(f"  failed   {s.name}: {s.detail}")
    out.write("\n".join(lines) + "\n")


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = (value - now).total_seconds()
    span = abs(seconds)
    text = f"{span:.0f}s" if span < 90 else f"{span / 60:.0f}m" if span < 5400 else f"{span / 3600:.1f}h"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def print_sources(config: Config, rows: dict[str, SourceRow], now: datetime, out: TextIO) -> None:
    header = f"{'NAME':<20} {'LAST FETCH':<10} {'STATUS':<12} {'NEXT DUE':<10} {'ERRORS':>6}  DETAIL"
    out.write(header + "\n")
    for src in config.sources:
        row = rows[src.name]
        status = row.last_outcome or "never"
        if row.disabled or not src.enabled:
            status = "disabled"
        elif row.paused:
            status = "paused"
        detail = row.last_error or row.parse_warning or ""
        if row.disabled_reason:
            detail = row.disabled_reason
        due = _when(row.next_due_at, now) if row.next_due_at else "now"
        why = f" ({row.due_reason})" if row.due_reason else ""
        out.write(
            f"{src.name:<20} {_when(row.last_fetch_at, now):<10} {status:<12} {due:<10} "
            f"{row.consecutive_errors:>6}  {detail[:100]}{why}\n"
        )
