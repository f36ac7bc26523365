"""Publishing reads what it shows, not the whole store: indexes for the index page's per-day counts, and
each feed's render key (a publish skips rendering a feed whose inputs did not change).

Revision ID: 0008
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None

# Plain ALTER TABLE and CREATE INDEX, never batch mode (see 0006): feed_state is a table of its own, but
# the rule is kept everywhere.


def upgrade() -> None:
    # The index page asks for the newest fetch time and the last 14 days' articles and stories: without
    # these, both are full table scans (0.6-1.0 s of every publish over 10k-100k articles).
    op.create_index("ix_articles_fetched_at", "articles", ["fetched_at"])
    op.create_index("ix_stories_created_at", "stories", ["created_at"])
    op.add_column("feed_state", sa.Column("rendered", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("feed_state", "rendered")
    op.drop_index("ix_stories_created_at", "stories")
    op.drop_index("ix_articles_fetched_at", "articles")
