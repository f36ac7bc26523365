"""The merge index: article fingerprints, their keys, and user splits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("fingerprint", sa.JSON, nullable=True))
    op.create_table(
        "article_keys",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column(
            "article_id", sa.String(64), sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("published", sa.DateTime, nullable=False),
    )
    op.create_index("ix_article_keys_key_published", "article_keys", ["key", "published"])
    op.create_index("ix_article_keys_article_id", "article_keys", ["article_id"])
    op.create_table(
        "story_splits",
        sa.Column("story_a", sa.String(64), primary_key=True),
        sa.Column("story_b", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("story_splits")
    op.drop_index("ix_article_keys_article_id", "article_keys")
    op.drop_index("ix_article_keys_key_published", "article_keys")
    op.drop_table("article_keys")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("fingerprint")
