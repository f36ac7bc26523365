"""Opening the store: engine settings and schema migrations."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import Column, Engine, MetaData, PrimaryKeyConstraint, String, Table, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from syndicator.errors import StoreError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# Long enough that the daemon and a manual refresh wait for each other's
# short write transactions instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 60_000


def create_store_engine(url: str, *, reader: bool = False) -> Engine:
    """The store's engine. ``reader``: for a process that only reads (syndicator.store.linker): each
    transaction one consistent snapshot, and on SQLite no write lock taken, so it never waits for a writer
    nor makes one wait."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"[storage] url: not a database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling would defer BEGIN and break
        # SAVEPOINT; take control as the SQLAlchemy docs recommend.
        begin = "BEGIN" if reader else "BEGIN IMMEDIATE"  # a deferred BEGIN: a WAL snapshot at the first read
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    if parsed.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg2; the one installed with us is psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        # A worker uses a few connections at once (fetch results are stored one at a time,
        # leases are renewed beside it, publishing holds one for its lock).
        if reader:  # READ COMMITTED would let each statement see a later commit than the one before
            return create_engine(parsed, pool_pre_ping=True, isolation_level="REPEATABLE READ")
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5)
    except Exception as exc:  # a missing driver, for example
        raise StoreError(f"[storage] url: cannot use {parsed.render_as_string()}: {exc}") from None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # Takes effect on a new file only (an old one switches at its first prune): see store.retention.
    cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


# The newest migration's revision; a test checks it against Alembic's own head.
# Knowing it here lets an up-to-date store open without importing Alembic.
SCHEMA_HEAD = "0015"


def migrate(engine: Engine, *, backup: bool = True) -> str | None:
    """Bring the schema to the newest revision (Alembic), creating it if new (:func:`create_new`).

    Before upgrading an existing SQLite store, its file is copied to
    ``<file>.bak-<old revision>`` (``backup``): a migration that fails half-way
    on a months-old store must not cost the months. Returns the backup's path
    when one was made.
    """
    made = None
    try:
        existing = has_schema(engine)
        current = current_revision_fast(engine) if existing else None
        if current == SCHEMA_HEAD:
            return None
        if not existing and create_new(engine):
            return None
    except OperationalError as exc:
        raise StoreError(f"cannot open the store: {exc.orig}") from None
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    if existing and backup and path:
        made = f"{path}.bak-{current or 'none'}"
        backup_sqlite(engine, made)
        log.warning("store %s: upgrading the schema from %s to %s (backup: %s)", path, current, SCHEMA_HEAD, made)
    alembic_upgrade(engine)
    return made


def alembic_upgrade(engine: Engine) -> None:
    """Run Alembic's migrations from the store's revision (none: an empty database) to the newest."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            from syndicator.store.locks import lock_migrations

            lock_migrations(conn)  # the second of two workers starting at once finds the schema made
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StoreError(f"cannot open the store: {exc.orig}") from None


def create_new(engine: Engine) -> bool:
    """Make the newest schema in an empty database from the models, without Alembic; ``False`` (nothing done)
    when the database holds any table, ours made meanwhile by another worker or someone else's.

    Alembic and its templates are 10 MB of RSS that a refresh kept to its end once loaded: a cold refresh of a
    new store, the largest a store ever sees, paid them (docs/benchmarks.md section 23). The models are the
    schema the migrations make: tests/test_store.py compares a store made each way, table by table."""
    from syndicator.store.locks import lock_migrations
    from syndicator.store.schema import Base

    with engine.begin() as conn:
        lock_migrations(conn)  # two workers starting at once: the second finds the first's tables
        if inspect(conn).get_table_names():
            return False
        Base.metadata.create_all(conn)
        _ALEMBIC_VERSION.create(conn)
        conn.execute(_ALEMBIC_VERSION.insert(), {"version_num": SCHEMA_HEAD})
    return True


# Alembic's own version table, as it creates it (alembic.runtime.migration.MigrationContext._version).
_ALEMBIC_VERSION = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False),
                         PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


def backup_sqlite(engine: Engine, target: str | os.PathLike[str]) -> None:
    """A consistent copy of the SQLite store, taken with SQLite's online backup API.

    It copies pages while other connections (the daemon) keep reading and
    writing; a write during the copy makes SQLite restart it, so the result is
    always one committed state.
    """
    import sqlite3

    target = Path(target)
    if target.exists():
        raise StoreError(f"{target} already exists; not overwriting it")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    raw = engine.raw_connection()
    try:
        dest = sqlite3.connect(partial)
        try:
            raw.driver_connection.backup(dest)
        finally:
            dest.close()
        os.replace(partial, target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"backup to {target} failed: {exc}") from None
    finally:
        raw.close()


def current_revision_fast(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def has_schema(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def sqlite_path(url: str) -> str | None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return os.fspath(parsed.database)
    return None


def known_revisions() -> set[str]:
    """Every revision id among this version's migrations (read from their file names' prefixes)."""
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py")}


def upgrade(url: str, *, backup: bool = True) -> tuple[str | None, str, str | None]:
    """``db upgrade``: (revision before, revision after, backup path or None)."""
    engine = create_store_engine(url)
    try:
        before = current_revision_fast(engine) if has_schema(engine) else None
        made = migrate(engine, backup=backup)
        return before, current_revision_fast(engine), made
    finally:
        engine.dispose()
