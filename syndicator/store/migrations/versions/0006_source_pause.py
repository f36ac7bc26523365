"""Sources can be paused by hand (``sources pause NAME``).

Revision ID: 0006
Revises: 0007
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0007"  # re-chained after 0003 (related links) and 0007 (politeness) landed on main
branch_labels = None
depends_on = None


# Plain ALTER TABLE, never batch mode: on SQLite, batch mode rebuilds "sources" (copy, drop, rename) and,
# with foreign keys on, dropping it cascades to every article (found by test_admin's downgrade/upgrade).


def upgrade() -> None:
    op.add_column("sources", sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("sources", "paused")
