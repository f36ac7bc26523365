"""The index page's merge counts come from the partial index of migration 0009, on SQLite and PostgreSQL.

The counts themselves are checked against a plain computation in tests/test_publish_cost.py; here: the
index exists with the predicate the query repeats, and the planner can use it for the counting statement.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from syndicator.model import Entry
from syndicator.publish import stats
from syndicator.store import Store
from syndicator.store.db import MIGRATIONS
from syndicator.store.schema import JOINED_SQL
from tests.conftest import ON_POSTGRES, store_url
from tests.feedmaker import long_body

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_migration_writes_the_predicate_the_models_and_the_query_use():
    path = MIGRATIONS / "versions" / "0009_joined_index.py"
    spec = importlib.util.spec_from_file_location("m0009", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.JOINED_SQL == JOINED_SQL


def _bounds() -> dict[str, datetime]:
    first = datetime(2026, 5, 19, tzinfo=UTC)
    return {f"b{k}": first + timedelta(days=k) for k in range(stats.DAYS + 1)}


def test_merge_counts_read_the_partial_index(tmp_path):
    with Store(store_url(tmp_path)) as store:
        store.sync_sources([("a", "https://a.example/"), ("b", "https://b.example/")])
        body = long_body("The accord")
        store.ingest("a", [Entry(guid="1", url="https://a.example/1", title="One", text=body, summary=body,
                                 published=NOW)], NOW, 72 * 3600)
        store.ingest("b", [Entry(guid="2", url="https://b.example/2", title="Two", text=body, summary=body,
                                 published=NOW)], NOW, 72 * 3600)
        with store.session() as s:
            activity = stats.daily_activity(s)
        assert (activity.articles, activity.stories, activity.merges) == (2, 1, 1)
        statement = stats._counts_statement(stats.DAYS).compile(store.engine)
        # The day bounds as the store keeps them (naive UTC), the other parameters as compiled.
        params = dict(statement.params, **{k: v.replace(tzinfo=None) for k, v in _bounds().items()})
        with store.engine.connect() as conn:
            if ON_POSTGRES:
                indexdef = conn.execute(text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_articles_joined_fetched_at'"
                )).scalar()
                assert indexdef is not None and " WHERE " in indexdef
                conn.exec_driver_sql("SET enable_seqscan = off")  # a table of two rows is scanned otherwise
                plan = [row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}", params)]
            else:
                ordered = tuple(params[name] for name in statement.positiontup)
                plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", ordered)]
        assert any("ix_articles_joined_fetched_at" in line for line in plan), plan
