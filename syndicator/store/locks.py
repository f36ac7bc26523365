"""Coordination between processes sharing one store, done by the database itself.

PostgreSQL: advisory locks (transaction-scoped for merging, session-scoped for
publishing) and row locks taken with ``FOR UPDATE SKIP LOCKED`` for claiming
sources. SQLite: every write transaction starts with ``BEGIN IMMEDIATE``, which
already lets one writer in at a time, so only publishing needs a lock of its
own (a lock on the output folder, publish/files.py: SQLite works on one machine only).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# Lock classes: the first argument of PostgreSQL's two-key advisory locks, so
# our locks never collide with another application's on the same server.
MIGRATE = 0x5359_0001
MERGE_KEY = 0x5359_0002
PUBLISH = 0x5359_0003

# SQLSTATEs after which a whole transaction may simply run again:
# serialization_failure and deadlock_detected.
RETRYABLE = {"40001", "40P01"}

T = TypeVar("T")


def is_postgres(bind: Engine | Connection | Session) -> bool:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "postgresql"


def key_number(key: str) -> int:
    """A text key as a signed 32-bit number (the second key of a two-key advisory lock)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big", signed=True)


# Merge keys are locked by bucket: a transaction holds at most this many advisory locks, however many
# articles it stores (PostgreSQL's shared lock table holds max_locks_per_transaction × max_connections
# entries, 6,400 by default, for every transaction at once; a first fetch of a 1,000-item feed would want
# some 6,000 key locks). Two keys in one bucket only make two transactions queue when they need not.
KEY_BUCKETS = 512


def lock_keys(s: Session, keys: Iterable[str]) -> int:
    """Hold the advisory lock of each key's bucket until this transaction ends (PostgreSQL; a no-op on SQLite).

    Taken all at once and in sorted order, so two transactions wanting
    overlapping keys queue one behind the other and never deadlock on them.
    """
    if not is_postgres(s):
        return 0
    numbers = sorted({key_number(k) % KEY_BUCKETS for k in keys})
    for start in range(0, len(numbers), 1000):
        chunk = numbers[start : start + 1000]
        # One round trip per chunk; ORDER BY makes the acquisition order the sorted one.
        s.execute(
            text("SELECT pg_advisory_xact_lock(:cls, k) FROM unnest(CAST(:keys AS integer[])) AS k ORDER BY k"),
            {"cls": MERGE_KEY, "keys": chunk},
        )
    return len(numbers)


def lock_migrations(conn: Connection) -> None:
    """Two workers starting on a new database must not both create the schema."""
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:cls, 0)"), {"cls": MIGRATE})


@contextmanager
def publish_lock(engine: Engine, name: str = "feeds") -> Iterator[None]:
    """One publisher at a time for the store's output feeds, whichever process or host it runs on.

    PostgreSQL: a session advisory lock on a connection of its own, released when the block ends
    or, if the process dies, when its connection closes. Elsewhere a no-op: SQLite works on one
    machine, where the lock on the output folder (publish/files.py) is enough.

    One lock covers every feed, not one per feed: a publish settles all feeds' items in one
    transaction (a story shown in several feeds gets one ``updated`` date), so it holds them all.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    number = key_number("publish:" + name)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:cls, :k)"), {"cls": PUBLISH, "k": number})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:cls, :k)"), {"cls": PUBLISH, "k": number})
            conn.commit()


def retryable(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return isinstance(exc, DBAPIError) and getattr(orig, "sqlstate", None) in RETRYABLE


def with_retry(work: Callable[[], T], attempts: int = 8) -> T:
    """Run a whole transaction again after a deadlock or serialization failure (PostgreSQL aborts one side)."""
    for attempt in range(attempts):
        try:
            return work()
        except DBAPIError as exc:
            if not retryable(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
