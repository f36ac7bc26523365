"""Source leases: which process is fetching a source, until when.

Revision ID: 0004
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(128), nullable=False, server_default=""))
        batch.add_column(sa.Column("lease_until", sa.DateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
