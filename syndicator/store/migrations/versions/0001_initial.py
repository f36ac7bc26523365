"""The first schema: sources, stories, articles, aliases, feed state.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("current_url", sa.Text, nullable=False, server_default=""),
        sa.Column("redirect_candidate", sa.Text, nullable=False, server_default=""),
        sa.Column("etag", sa.Text, nullable=False, server_default=""),
        sa.Column("last_modified", sa.Text, nullable=False, server_default=""),
        sa.Column("last_fetch_at", sa.DateTime),
        sa.Column("last_success_at", sa.DateTime),
        sa.Column("last_outcome", sa.String(16), nullable=False, server_default=""),
        sa.Column("last_http_status", sa.Integer),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("parse_warning", sa.Text, nullable=False, server_default=""),
        sa.Column("consecutive_errors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_due_at", sa.DateTime, index=True),
        sa.Column("due_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("retry_after_until", sa.DateTime),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("disabled_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("entries_seen", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "stories",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("published", sa.DateTime, nullable=False, index=True),
        sa.Column("updated", sa.DateTime, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("chosen_article_id", sa.String(64), nullable=False),
        sa.Column("item_hash", sa.String(64), nullable=False, server_default=""),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
        sa.Column("guid", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("canonical_url", sa.Text, nullable=False, server_default=""),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("content", sa.Text, nullable=False, server_default=""),
        sa.Column("text", sa.Text, nullable=False, server_default=""),
        sa.Column("author", sa.Text, nullable=False, server_default=""),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("enclosures", sa.JSON, nullable=False),
        sa.Column("image", sa.Text, nullable=False, server_default=""),
        sa.Column("language", sa.String(35), nullable=False, server_default=""),
        sa.Column("published", sa.DateTime, nullable=False, index=True),
        sa.Column("updated", sa.DateTime),
        sa.Column("fetched_at", sa.DateTime, nullable=False),
        sa.Column("body_hash", sa.String(64)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("story_id", sa.String(64), sa.ForeignKey("stories.id"), nullable=False),
        sa.Column("merge_reason", sa.JSON, nullable=False),
        sa.UniqueConstraint("source_id", "guid", name="uq_articles_source_guid"),
    )
    op.create_index("ix_articles_canonical_url", "articles", ["canonical_url"])
    op.create_index("ix_articles_body_hash", "articles", ["body_hash"])
    op.create_index("ix_articles_story_id", "articles", ["story_id"])
    op.create_table(
        "story_aliases",
        sa.Column("alias_id", sa.String(64), primary_key=True),
        sa.Column("story_id", sa.String(64), sa.ForeignKey("stories.id"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "feed_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("feed_state", "story_aliases", "articles", "stories", "sources"):
        op.drop_table(table)
