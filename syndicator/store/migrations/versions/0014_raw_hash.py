"""Each article's raw item hash (syndicator.parse.items): the items a source sends again as they were are not parsed.

A warm-incremental refresh parsed every item of every changed document to find the few new ones; an item whose
bytes hash as a stored article's item did is now cut out of the document before feedparser reads it
(docs/benchmarks.md, section 24).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and not backfilled: an article stored before has none, and its item is parsed once more, as
    # every item was before, which records it. Plain ALTER TABLE, never batch mode (see 0006).
    op.add_column("articles", sa.Column("raw_hash", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("articles", "raw_hash")
