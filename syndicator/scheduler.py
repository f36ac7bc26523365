"""The daemon: an APScheduler job ticks and refreshes the sources that are due.

Each source's next due time lives in the store, not in APScheduler's job
store (which cannot be shared between processes): the job only looks at the
clock every few seconds. The HTTP server runs in the main thread, where
uvicorn handles SIGTERM and SIGINT; on either, the current refresh is told to
stop after the source it is storing, and the scheduler waits for it.

Any number of workers (``syndicator worker``, on any hosts; ``run`` is a
worker plus the server) may share one PostgreSQL store: each tick claims due
sources a batch at a time with a lease (``SELECT … FOR UPDATE SKIP LOCKED``),
pushed back while the worker lives, so a source is fetched by one worker at a
time and a killed worker's sources go to another once its leases run out (at
once when it ran on the same host). Then one of them publishes.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime

from syndicator import refresh as refresh_module
from syndicator.config import Config
from syndicator.publish import publish_all
from syndicator.refresh import Claim, publish_and_prune, refresh
from syndicator.store import Store, new_lease_owner

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, config: Config, store: Store, *, verbose: bool = False, quiet: bool = False) -> None:
        self.config = config
        self._log_flags = (verbose, quiet)
        self.store = store
        self.stop = threading.Event()
        self.reload_requested = threading.Event()  # set by SIGHUP; the reload thread does the work
        self._busy = threading.Lock()
        self._scheduler = None
        # Unique among all workers on all hosts, and readable in `sources list` and logs.
        self.owner = new_lease_owner()
        self._synced = False
        self._reloader: threading.Thread | None = None

    def reload(self) -> bool:
        """Read the configuration file again; a broken one is refused and the running one kept.

        Runs between refreshes (it takes the same lock as a tick), so a refresh
        never sees half of an old configuration and half of a new one.
        """
        from syndicator.config import load_config
        from syndicator.errors import ConfigError

        try:
            new = load_config(self.config.path)
        except ConfigError as exc:
            log.error("configuration reload refused, keeping the running one: %s", self.config.redact(str(exc)),
                      extra={"event": "reload", "outcome": "refused"})
            return False
        with self._busy:
            old, self.config = self.config, new
            try:
                self.store.sync_sources((s.name, new.source_url(s)) for s in new.sources)
                publish_all(self.store, new, datetime.now(UTC))
            except Exception:
                log.exception("publishing after the configuration reload failed")
            if self._scheduler is not None and new.scheduler.tick != old.scheduler.tick:
                self._scheduler.reschedule_job("tick", trigger="interval", seconds=new.scheduler.tick)
        from syndicator import logs

        verbose, quiet = self._log_flags
        level = logs.effective_level(new.log.level, verbose=verbose, quiet=quiet, daemon=True)
        logs.setup(level, new.log.format, new.secrets)
        before, after = {s.name for s in old.sources}, {s.name for s in new.sources}
        log.info(
            "configuration reloaded: %d source(s) (added: %s; removed: %s), %d feed(s)",
            len(after), ", ".join(sorted(after - before)) or "none", ", ".join(sorted(before - after)) or "none",
            len(new.feeds), extra={"event": "reload", "outcome": "ok"},
        )
        return True

    def _reload_loop(self) -> None:
        while not self.stop.is_set():
            if self.reload_requested.wait(0.5):
                self.reload_requested.clear()
                self.reload()

    def tick(self) -> None:
        if self.stop.is_set() or not self._busy.acquire(blocking=False):
            return  # the previous tick is still working; APScheduler also coalesces
        try:
            self._work()
        except Exception:  # a tick must never kill the daemon
            log.exception("scheduled refresh failed")
        finally:
            self._busy.release()

    def _work(self) -> None:
        """Claim due sources a batch at a time until none is left, then publish once."""
        claim = Claim(self.owner, self.config.scheduler.batch)
        fetched = new = failed = 0
        while not self.stop.is_set():
            report = refresh(
                self.config, self.store, due_only=True, stop=self.stop, claim=claim, publish=False,
                sync=not self._synced,
            )
            self._synced = True
            if not report.sources:
                break
            fetched += len(report.sources)
            new += report.ingest.new_articles
            failed += len(report.failed)
        if fetched and not self.stop.is_set():
            started = time.monotonic()
            published = publish_and_prune(self.store, self.config, after=self.store.clock())
            if refresh_module.observe is not None and not published.skipped:
                refresh_module.observe("publish", "", time.monotonic() - started)
            log.info(
                "refreshed %d source(s): %d new article(s), %d failed; %s",
                fetched, new, failed, "publish left to another worker" if published.skipped else "published",
            )

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        publish_all(self.store, self.config, datetime.now(UTC))  # something to serve at once
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_job(
            self.tick, "interval", seconds=self.config.scheduler.tick,
            next_run_time=datetime.now(UTC), max_instances=1, coalesce=True, id="tick",
        )
        self._scheduler.start()
        self._reloader = threading.Thread(target=self._reload_loop, name="reload", daemon=True)
        self._reloader.start()

    def shutdown(self) -> None:
        self.stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
        try:
            self.store.release_sources(self.owner)
        except Exception:
            log.exception("could not release leases")


def run_daemon(
    config: Config, host: str, port: int, *, serve: bool = True, access_log: bool = False, quiet: bool = False
) -> None:
    from syndicator.serve import run_server

    store = Store(config.database_url(), backup=config.storage.backup_on_upgrade)
    worker = Worker(config, store, verbose=access_log, quiet=quiet)
    worker.start()
    # SIGHUP: reload the configuration (the handler only asks; a signal handler must not take locks).
    signal.signal(signal.SIGHUP, lambda _signum, _frame: worker.reload_requested.set())
    try:
        if serve:
            run_server(
                config.output_dir, host, port, config.output.max_age, on_stop=worker.stop.set, access_log=access_log,
                config=config, store=store,
            )
        else:
            _wait_for_signal(worker.stop)
    finally:
        worker.shutdown()
        store.close()


def _wait_for_signal(stop: threading.Event) -> None:
    def handler(signum, _frame) -> None:
        log.info("received signal %d, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop.wait(1.0):
        pass
