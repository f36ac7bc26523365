"""Articles stored whose related-story links are not written yet (syndicator.store.linker).

A large refresh links its new articles in a process of its own, beside the one that merges and stores them;
an article is queued here in the transaction that stores it and leaves the queue in the one that writes its
links, so a refresh stopped or killed in between leaves the queue, not an article without links for good.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_links",
        sa.Column("article_id", sa.String(64), sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("queued_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_pending_links_owner_seq", "pending_links", ["owner", "seq"])


def downgrade() -> None:
    op.drop_index("ix_pending_links_owner_seq", "pending_links")
    op.drop_table("pending_links")
