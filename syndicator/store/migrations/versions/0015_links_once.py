"""Each related-story link stored once, not both ways: the lesser article id in ``article_id``.

A link is symmetric, and its second row was half of ``article_links`` (the table and its two indexes: 71 MB of a
189 MB benchmark store) and half of the rows every new article's linking wrote (docs/benchmarks.md, section 25).
An article's links are now the rows that name it in either column; the table and its indexes are unchanged.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A link whose lesser-first row is missing (written one way only: never by this code, but cheap to cover)
    # keeps its row, turned round; then every greater-first row goes. ON CONFLICT DO NOTHING: SQLite and
    # PostgreSQL alike (the WHERE clause lets SQLite parse the upsert after a SELECT).
    op.execute(
        "INSERT INTO article_links (article_id, other_id, score, reason, created_at) "
        "SELECT other_id, article_id, score, reason, created_at FROM article_links WHERE article_id > other_id "
        "ON CONFLICT DO NOTHING"
    )
    op.execute("DELETE FROM article_links WHERE article_id > other_id")


def downgrade() -> None:
    op.execute(
        "INSERT INTO article_links (article_id, other_id, score, reason, created_at) "
        "SELECT other_id, article_id, score, reason, created_at FROM article_links WHERE article_id < other_id "
        "ON CONFLICT DO NOTHING"
    )
