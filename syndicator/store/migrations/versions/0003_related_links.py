"""Related-story links between articles, and their index keys for stored articles.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    op.create_table(
        "article_links",
        sa.Column("article_id", sa.String(64), sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("other_id", sa.String(64), sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("reason", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_article_links_other_id", "article_links", ["other_id"])
    _backfill_keys()


def _backfill_keys() -> None:
    """Give articles stored before this revision their ``r:`` keys, so that new
    articles find them as related candidates (links themselves appear as new
    articles arrive; nothing is published differently until then)."""
    from syndicator import relate, similarity

    conn = op.get_bind()
    articles = sa.table(
        "articles", sa.column("id"), sa.column("fingerprint", sa.JSON), sa.column("published", sa.DateTime)
    )
    keys = sa.table("article_keys", sa.column("key"), sa.column("article_id"), sa.column("published"))
    last = ""
    while True:
        rows = conn.execute(
            sa.select(articles.c.id, articles.c.fingerprint, articles.c.published)
            .where(articles.c.id > last, articles.c.fingerprint.is_not(None))
            .order_by(articles.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        values = []
        for aid, fpd, published in rows:
            fp = similarity.fingerprint_from_dict(fpd) if fpd else None
            if fp is not None:
                values += [{"key": k, "article_id": aid, "published": published} for k in relate.index_keys(fp)]
        if values:
            conn.execute(keys.insert(), values)
        last = rows[-1][0]


def downgrade() -> None:
    op.execute("DELETE FROM article_keys WHERE key LIKE 'r:%'")
    op.drop_index("ix_article_links_other_id", "article_links")
    op.drop_table("article_links")
