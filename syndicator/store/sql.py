"""The statements an ingest runs for every new article, built once.

Building a statement from ORM attributes and running it through the ORM costs more Python than the query
costs SQLite: a py-spy profile of a cold refresh's store side (bench/scale_replay.py, 40 x 50) had a quarter
of the ingest in SQLAlchemy's statement building, cache-key generation and ORM execution, for about twenty
queries an article. These are Core statements on the tables, with bound parameters (``expanding`` for the
IN lists), built at import: each execution only binds values, and the compiled form comes from the engine's
cache. The SQL is what the ORM statements rendered (same text, same plans, rows in the same order).

Core statements run through a Session do not autoflush: a caller that reads rows the session may hold
modified flushes first (``ingest._candidates`` does).
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func, insert, or_, select, union_all

from syndicator.store.schema import (
    ArticleKeyRow,
    ArticleLinkRow,
    ArticleRow,
    PendingLinkRow,
    StoryRow,
    StorySplitRow,
)

_K = ArticleKeyRow.__table__
_A = ArticleRow.__table__
_S = StoryRow.__table__
_L = ArticleLinkRow.__table__
_SPLIT = StorySplitRow.__table__
_P = PendingLinkRow.__table__


def _many(name: str):  # an IN list's values: one bound parameter, expanded at execution
    return bindparam(name, expanding=True)


def _in_window(column):
    return column.between(bindparam("lo"), bindparam("hi"))


# -- the merge index (article_keys) ------------------------------------------------------------------
# key -> postings within [lo, hi], for :keys
KEY_COUNTS = select(_K.c.key, func.count()).where(_K.c.key.in_(_many("keys")), _in_window(_K.c.published)).group_by(
    _K.c.key
)
# (article id, key) of every posting of :keys within [lo, hi]
KEY_POSTINGS = select(_K.c.article_id, _K.c.key).where(_K.c.key.in_(_many("keys")), _in_window(_K.c.published))
# the same with each posting's article's publication time (a posting carries its article's)
KEY_POSTINGS_AT = KEY_POSTINGS.add_columns(_K.c.published)
# the postings of :key nearest to :at, before it (newest first) and after it (oldest first); LIMIT :n
NEAREST_BEFORE = (
    select(_K.c.article_id)
    .where(_K.c.key == bindparam("key"), _K.c.published.between(bindparam("lo"), bindparam("at")))
    .order_by(_K.c.published.desc())
    .limit(bindparam("n"))
)
NEAREST_AFTER = (
    select(_K.c.article_id)
    .where(_K.c.key == bindparam("key"), _K.c.published > bindparam("at"), _K.c.published <= bindparam("hi"))
    .order_by(_K.c.published)
    .limit(bindparam("n"))
)
# how many of :keys each of :ids carries (any time)
SHARED_KEYS = (
    select(_K.c.article_id, func.count())
    .where(_K.c.article_id.in_(_many("ids")), _K.c.key.in_(_many("keys")))
    .group_by(_K.c.article_id)
)
DELETE_KEYS = delete(_K).where(_K.c.article_id == bindparam("article_id"))
INSERT_KEYS = insert(_K)

# -- articles ----------------------------------------------------------------------------------------
SAME_URL = select(_A.c.id).where(_A.c.canonical_url == bindparam("url")).limit(50)
MERGE_CANDIDATES = (
    select(_A.c.id, _A.c.story_id, _S.c.created_at, _A.c.content_hash, _A.c.full_text_status, _A.c.source_id,
           _A.c.published, _A.c.canonical_url, _A.c.merge_sketch)
    .select_from(_A.join(_S, _S.c.id == _A.c.story_id))
    .where(_A.c.id.in_(_many("ids")))
)
SAME_BODY = select(func.count()).select_from(_A).where(
    _A.c.source_id == bindparam("source_id"), _in_window(_A.c.published), _A.c.body_hash == bindparam("body_hash")
)
RELATED_CANDIDATES = select(_A.c.id, _A.c.story_id, _A.c.content_hash, _A.c.full_text_status).where(
    _A.c.id.in_(_many("ids"))
)
COMPACTS = select(_A.c.id, _A.c.content_hash, _A.c.full_text_status, _A.c.relate_compact).where(
    _A.c.id.in_(_many("ids"))
)
FINGERPRINTS = select(_A.c.id, _A.c.content_hash, _A.c.full_text_status, _A.c.fingerprint, _A.c.merge_sketch).where(
    _A.c.id.in_(_many("ids"))
)

# -- stories and links -------------------------------------------------------------------------------
SPLITS = select(_SPLIT.c.story_a, _SPLIT.c.story_b).where(
    _SPLIT.c.story_a.in_(_many("ids")), _SPLIT.c.story_b.in_(_many("ids_b"))
)
DELETE_LINKS = delete(_L).where(
    or_(_L.c.article_id == bindparam("article_id"), _L.c.other_id == bindparam("article_id"))
)
# (article id, kind, first shared word) of every link of :ids: what relate.subject_word reads of a reason,
# extracted by the database (json_extract, #>>). Decoding the whole reason of every link in Python was a
# quarter of the ingest on headline-only streams (UCI headlines: 40 links an article, py-spy).
# A link is one row, its two articles in either column (``article_id`` < ``other_id``): each article's links
# are those of both columns (see schema.ArticleLinkRow).
_SUBJECT = (_L.c.reason["kind"].as_string(), _L.c.reason[("shared", 0)].as_string())
LINK_SUBJECTS = union_all(
    select(_L.c.article_id, *_SUBJECT).where(_L.c.article_id.in_(_many("ids"))),
    select(_L.c.other_id, *_SUBJECT).where(_L.c.other_id.in_(_many("ids"))),
)
# the same with each link's other article: a linker lays the links it has not written yet over them
LINK_SUBJECT_PAIRS = union_all(
    select(_L.c.article_id, _L.c.other_id, *_SUBJECT).where(_L.c.article_id.in_(_many("ids"))),
    select(_L.c.other_id, _L.c.article_id, *_SUBJECT).where(_L.c.other_id.in_(_many("ids"))),
)
# every link of :ids, at either end
DELETE_LINKS_OF = delete(_L).where(or_(_L.c.article_id.in_(_many("ids")), _L.c.other_id.in_(_many("ids_b"))))
INSERT_LINKS = insert(_L)
# -- articles waiting for their links (pending_links, syndicator.store.linker) ---------------------------
PENDING_OF = select(_P.c.article_id, _P.c.seq).where(_P.c.owner == bindparam("owner"))
QUEUED_OF = select(_P.c.article_id).where(_P.c.owner == bindparam("owner"), _P.c.article_id.in_(_many("ids")))
LINKED_ROWS = select(_A.c.id, _A.c.story_id, _A.c.published, _A.c.content_hash, _A.c.full_text_status).where(
    _A.c.id.in_(_many("ids"))
)
