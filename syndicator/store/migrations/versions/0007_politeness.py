"""Politeness and full text: the feed's own schedule hints, hosts in backoff, article pages.

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        # <ttl>, <skipHours>, <skipDays> of the last document read: a 304 answer carries none of them.
        batch.add_column(sa.Column("feed_hints", sa.JSON, nullable=True))
    op.create_table(
        "hosts",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("retry_after_until", sa.DateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("full_text", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("full_text_html", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("full_text_status", sa.String(16), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("full_text_status")
        batch.drop_column("full_text_html")
        batch.drop_column("full_text")
    op.drop_table("hosts")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("feed_hints")
