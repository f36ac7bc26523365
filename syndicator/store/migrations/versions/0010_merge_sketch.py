"""Each article's merge sketch (its body's hashed shingles), so that merging rejects a stored candidate
without decoding its fingerprint.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and not backfilled: an article stored before has none, and merging decodes its fingerprint as
    # it always did (syndicator.similarity.sketch_from_bytes). Plain ALTER TABLE, never batch mode (see 0006).
    op.add_column("articles", sa.Column("merge_sketch", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    op.drop_column("articles", "merge_sketch")
