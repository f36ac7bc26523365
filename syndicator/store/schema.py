"""The store's tables (SQLAlchemy 2.x declarative models).

The schema itself is created and upgraded only by the Alembic migrations in
``migrations/``; these models are what the code reads and writes, and a test
checks that they and the migrations agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database.

    SQLite has no time zones; storing naive UTC and re-attaching UTC on the
    way out keeps comparisons and RFC 3339 output right everywhere.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class SourceRow(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)  # as configured (resolved)
    # After the same permanent redirect was seen twice in a row, we fetch here.
    current_url: Mapped[str] = mapped_column(Text, default="", server_default="")
    redirect_candidate: Mapped[str] = mapped_column(Text, default="", server_default="")
    etag: Mapped[str] = mapped_column(Text, default="", server_default="")
    last_modified: Mapped[str] = mapped_column(Text, default="", server_default="")
    last_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_outcome: Mapped[str] = mapped_column(String(16), default="", server_default="")
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    parse_warning: Mapped[str] = mapped_column(Text, default="", server_default="")
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    due_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    retry_after_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    disabled_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    entries_seen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # `sources pause NAME`: not fetched until resumed; its stories stay in the feeds.
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The last document's own schedule hints ({"ttl": minutes, "skip_hours": [...], "skip_days": [...]}),
    # kept because a 304 answer repeats none of them.
    feed_hints: Mapped[dict | None] = mapped_column(JSON)

    # Which process is fetching this source ("host:pid:random"), until when (pushed back while it lives):
    # workers, the daemon and refreshes by hand sharing the store never fetch one source at the same time
    # (see Store.claim_due and Store.claim_sources).
    lease_owner: Mapped[str] = mapped_column(String(128), default="", server_default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HostRow(Base):
    """A host that answered 429/503: every source on it waits until ``retry_after_until``."""

    __tablename__ = "hosts"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    retry_after_until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class StoryRow(Base):
    __tablename__ = "stories"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # urn:uuid:…
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    published: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # When the published item's content last really changed (feeds' <updated>).
    updated: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(Text)
    chosen_article_id: Mapped[str] = mapped_column(String(64))
    item_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")


# An article that joined an existing story (its merge rule is neither "new" nor "unmerged"; a missing rule,
# NULL, is no merge). The same SQL text is the predicate of ix_articles_joined_fetched_at and the condition
# publish/stats.py counts merges with: a planner uses a partial index only for a query whose WHERE contains
# the index's own predicate. ``->>`` reads a JSON member as text on SQLite (>= 3.38) and PostgreSQL alike.
JOINED_SQL = "(merge_reason ->> 'rule') NOT IN ('', 'new', 'unmerged')"


class ArticleRow(Base):
    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("source_id", "guid", name="uq_articles_source_guid"),
        Index("ix_articles_canonical_url", "canonical_url"),
        Index("ix_articles_body_hash", "body_hash"),
        Index("ix_articles_story_id", "story_id"),
        # The index page's per-day merge counts, from the index alone (migration 0009).
        Index("ix_articles_joined_fetched_at", "fetched_at",
              sqlite_where=text(JOINED_SQL), postgresql_where=text(JOINED_SQL)),
    )

    # The columns that merging and linking read of many stored articles come first, the long texts last: SQLite
    # keeps a row's first bytes in its B-tree page and the rest in a chain of overflow pages, walked from the
    # start up to the column read; full_text_status, last, walked a whole row of ~14 KB for each candidate
    # (docs/benchmarks.md section 26). The order of a new store's table; an older store keeps its own.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # urn:uuid:…
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    story_id: Mapped[str] = mapped_column(ForeignKey("stories.id"))
    published: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    # of the article's page (sources with full_text = true): "ok", "failed" or "deferred" (host in backoff:
    # tried again); the page's text and sanitised HTML are full_text and full_text_html
    full_text_status: Mapped[str] = mapped_column(String(16), default="", server_default="")
    body_hash: Mapped[str | None] = mapped_column(String(64))
    # syndicator.parse.items: the hash of the item this article was last read from, as sent; an item sent
    # again byte for byte is not parsed again (migration 0014). None: not known (an unusual document, an older store).
    raw_hash: Mapped[str | None] = mapped_column(String(40))
    canonical_url: Mapped[str] = mapped_column(Text, default="", server_default="")
    guid: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(String(35), default="", server_default="")
    # similarity.sketch_bytes of the fingerprint (its body's hashed shingles), written with it: what merging
    # reads of a stored candidate first, without decoding the fingerprint (migration 0010).
    merge_sketch: Mapped[bytes | None] = mapped_column(LargeBinary)
    # relate.compact_bytes of the fingerprint's Compact, written with it: what linking reads of a stored
    # candidate, without decoding the fingerprint (migration 0011).
    relate_compact: Mapped[bytes | None] = mapped_column(LargeBinary)
    url: Mapped[str] = mapped_column(Text, default="", server_default="")
    title: Mapped[str] = mapped_column(Text, default="", server_default="")
    author: Mapped[str] = mapped_column(Text, default="", server_default="")
    image: Mapped[str] = mapped_column(Text, default="", server_default="")
    categories: Mapped[list] = mapped_column(JSON, default=list)
    enclosures: Mapped[list] = mapped_column(JSON, default=list)
    # Why this article joined its story: {"rule": ..., "with": article id, ...}.
    merge_reason: Mapped[dict] = mapped_column(JSON, default=dict)
    summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    content: Mapped[str] = mapped_column(Text, default="", server_default="")
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # syndicator.similarity's fingerprint, what merge decisions compare.
    fingerprint: Mapped[dict | None] = mapped_column(JSON)
    # Full text of the article's page (sources with full_text = true): plain text and sanitised HTML, fetched
    # once per article (full_text_status).
    full_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    full_text_html: Mapped[str] = mapped_column(Text, default="", server_default="")


class ArticleKeyRow(Base):
    """The merge index: postings of similarity keys, so candidates are found without a scan."""

    __tablename__ = "article_keys"
    __table_args__ = (
        # The postings of a key within a time window, with their article ids, read from the index alone (an
        # index of (key, published) sent every posting to the table for its article id: a random B-tree read
        # each, thousands an article; migration 0013).
        Index("ix_article_keys_postings", "key", "published", "article_id"),
        Index("ix_article_keys_article_id", "article_id"),
    )

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    published: Mapped[datetime] = mapped_column(UTCDateTime)


class ArticleLinkRow(Base):
    """Related-story links between articles (``syndicator.relate``): one row a link, the lesser article id in
    ``article_id`` (since 0015; both ways before), so an article's links are the rows that name it in either
    column (the primary key's index and ``ix_article_links_other_id`` find both).

    Kept per article, not per story: a story's links are its articles' links to
    articles of other stories, so merging, unmerging and pruning need no
    bookkeeping here.
    """

    __tablename__ = "article_links"
    __table_args__ = (Index("ix_article_links_other_id", "other_id"),)

    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    other_id: Mapped[str] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    # {"kind": "same event" | "same subject", "score": ..., "shared": [words]}
    reason: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PendingLinkRow(Base):
    """An article stored whose related-story links are not written yet (``syndicator.store.linker``).

    ``owner`` is the refresh's lease owner, ``seq`` the order the articles were stored in: the linker links
    an article only to those stored before it, as linking in the storing transaction did.
    """

    __tablename__ = "pending_links"
    __table_args__ = (Index("ix_pending_links_owner_seq", "owner", "seq"),)

    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(BigInteger)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StorySplitRow(Base):
    """Two stories a person split apart (``syndicator unmerge``): never joined again.

    Stored once per pair, ``story_a`` < ``story_b``.
    """

    __tablename__ = "story_splits"

    story_a: Mapped[str] = mapped_column(String(64), primary_key=True)
    story_b: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StoryAliasRow(Base):
    """A story absorbed into an older one keeps its id here (see ``stories --explain``)."""

    __tablename__ = "story_aliases"

    alias_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    story_id: Mapped[str] = mapped_column(ForeignKey("stories.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedStateRow(Base):
    """Per output feed: the hash of its items and when that last changed."""

    __tablename__ = "feed_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    updated: Mapped[datetime] = mapped_column(UTCDateTime)
    # Hash of everything the feed's files were last rendered from (syndicator.publish.render_key): a
    # publish whose key is unchanged, with the files in place, skips rendering them. "" = unknown.
    rendered: Mapped[str] = mapped_column(String(64), default="", server_default="")
