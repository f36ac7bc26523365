"""Each article's related-story compact (syndicator.relate.Compact as bytes), so that linking reads a stored
candidate without decoding its fingerprint.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and not backfilled: an article stored before has none, and linking decodes its fingerprint as
    # it always did (syndicator.relate.compact_from_bytes). Plain ALTER TABLE, never batch mode (see 0006).
    op.add_column("articles", sa.Column("relate_compact", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    op.drop_column("articles", "relate_compact")
