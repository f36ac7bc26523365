"""The index page's per-day merge counts from an index: a partial index on the fetch time of the articles
that joined an existing story.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# schema.JOINED_SQL as of this revision, written out: a migration must not change when the models do
# (tests/test_store.py checks the two agree while they should).
JOINED_SQL = "(merge_reason ->> 'rule') NOT IN ('', 'new', 'unmerged')"


def upgrade() -> None:
    # Counting a day's merges read every article row of the window for its merge_reason JSON (random reads
    # into the largest table, most of an unchanged publish at 1M articles); this index holds just the fetch
    # times of the joined ones. Plain CREATE INDEX, never batch mode (see 0006).
    op.create_index("ix_articles_joined_fetched_at", "articles", ["fetched_at"],
                    sqlite_where=sa.text(JOINED_SQL), postgresql_where=sa.text(JOINED_SQL))


def downgrade() -> None:
    op.drop_index("ix_articles_joined_fetched_at", "articles")
