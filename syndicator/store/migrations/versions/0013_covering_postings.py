"""The merge index's postings read from one index: (key, published, article_id) instead of (key, published).

Finding an article's merge and related-story candidates reads every posting of its keys within a window
(``syndicator.store.sql.KEY_POSTINGS``, ``KEY_POSTINGS_AT``, ``NEAREST_BEFORE``/``AFTER``): thousands of
postings an article. With (key, published) SQLite found them in the index and then read the table once per
posting for its article id; with the article id in the index it reads the index alone (EXPLAIN QUERY PLAN:
"USING COVERING INDEX"). The stores' postings queries over a replayed 4,000-article store: 2.5-3x less CPU;
merging over a 1M-article store 0.89x the CPU an article (docs/benchmarks.md, section 20).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain CREATE / DROP INDEX, never batch mode (see 0006). Built before the old one goes, so that a store
    # is never without an index on its postings.
    op.create_index("ix_article_keys_postings", "article_keys", ["key", "published", "article_id"])
    op.drop_index("ix_article_keys_key_published", "article_keys")


def downgrade() -> None:
    op.create_index("ix_article_keys_key_published", "article_keys", ["key", "published"])
    op.drop_index("ix_article_keys_postings", "article_keys")
