"""Worker leases: which worker holds a source, and until when.

Revision ID: 0005
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, never batch mode: on SQLite, batch mode rebuilds "sources" (copy, drop, rename) and,
# with foreign keys on, dropping it cascades to every article (see 0006; test_admin's downgrade/upgrade).


def upgrade() -> None:
    op.add_column("sources", sa.Column("lease_owner", sa.String(128), nullable=False, server_default=""))
    op.add_column("sources", sa.Column("lease_until", sa.DateTime, nullable=True))


def downgrade() -> None:
    op.drop_column("sources", "lease_until")
    op.drop_column("sources", "lease_owner")
