"""Related stories: which other stories a reader of this one should see.

The merge stage decides "same story"; this stage decides "worth reading
next": other coverage of the same event, and stories on the same subject.
Like :mod:`syndicator.similarity` it is pure (no I/O, no state learned at
run time), so a link depends only on the two articles (and, for a tentative
link, on links the store already holds) and the same store always publishes
the same links.

Two articles are related when their tf-idf profiles (headline words weigh
more than body words) are close AND they share several informative words.
The second condition is what keeps "stories that only share a common word"
apart: two stories that both say "Ukraine" or "Trump" share one word, not a
subject. When only headlines are known (no informative body on either side),
the bar is higher, because a headline holds a handful of words and two of
them can be shared by chance (UCI headlines: "Apple" + "iPhone" is a
subject, "Apple" + "shares" is not).

A sparse stream is the hard case: most stories have no relative at all, and
ranking alone would still fill every slot with the best of the weak. So a
link must clear an absolute bar, and a story with no candidate above it shows
no link rather than a weak one.

Evidence below those bars can still make a link when the stream itself
vouches for the word it rests on (:func:`tentative`): the word must already
be the heaviest shared word of several links of either article, and a single
shared word must be a name that is rare both in the reference table and in
the stream's window, or lead both headlines.

A headline-only article's URL slug counts as more headline words
(:func:`slug_words`): "Share this on:" says nothing, ".../merger-makes-chiquitafyffes-top-banana" does.

Candidates come from an index, never a scan: :func:`index_keys` gives an
article's most informative words as ``r:`` keys, stored beside the merge
index's keys; the store looks up articles sharing a key within the window.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
import struct
import sys
from array import array
from dataclasses import dataclass, field
from datetime import datetime

from syndicator import similarity
from syndicator.similarity import STOPWORDS, Fingerprint, idf

WINDOW_DAYS = 14.0  # related stories are published at most this far apart ([related] window's default)

KEY_PREFIX = "r:"
KEY_TERMS = 10  # an article's N heaviest informative words are its keys
MIN_KEY_IDF = 4.0  # never a key for a common word ("said", "new", "report")
MIN_TERM_IDF = 1.5  # words more common than this carry no subject at all
TITLE_WEIGHT = 2.0  # a headline word counts this much more than a body word
MAX_BODY_TERMS = 400  # the fingerprint keeps the first 400 body tokens anyway

# With informative bodies on both sides (ECB+ documents; dev half):
MIN_COSINE = 0.12  # weighted cosine of the profiles, at least
MIN_SHARED = 3  # informative words (idf >= MIN_SHARED_IDF) in common, at least
MIN_SHARED_IDF = 4.0
# Headlines only (UCI headlines; dev half): few words, so a higher bar.
MIN_TITLE_COSINE = 0.25
MIN_TITLE_SHARED = 2  # never one shared word, however rare: "Trump" alone is no subject
MIN_TITLE_SHARED_IDF = 3.0
MIN_TITLE_SHARED_INFO = 6.0  # idf mass of the shared headline words
EVENT_BONUS = 1.0  # same event (the merge stage's event rule) ranks above same subject
# Ranking only: a link's score is divided by (1 + hours apart / RECENCY_HOURS). On the UCI
# headlines most false links were yesterday's story on the same subject, 20-30 hours apart
# ("US stocks dip on weak China data" / "US stocks slip after discouraging figures..."):
# precision@3 0.922 -> 0.950 at 6 hours, with no change on ECB+.
RECENCY_HOURS = 6.0

SHOWN_WORDS = 4  # shared words named in a link's reason

# Tentative links: evidence too weak on its own, accepted when the stream shows that the word it rests
# on names a subject: that word is the heaviest shared word of at least SUBJECT_SUPPORT links of either
# article (the store counts them among the links it holds; see :func:`subject_word`). A common word
# ("Ukraine", "market") is the heaviest shared word of many links too, so that alone would not keep it
# out. A tentative link is one of:
# - two shared informative headline words, the headline cosine below MIN_TITLE_COSINE but at least
#   LOW_TITLE_COSINE (a long headline: "Even Adjusting For Anomalies, China's Exports Slowed"): a
#   "same subject" link;
# - one shared headline word, and it is a name (capitalised inside a sentence-case headline, or a
#   word the reference table never saw; never a date word) and no common word (idf >= NAME_MIN_IDF):
#   a "same name" link, shown only to a story that has no other link ("JetBlue adds nonstop service
#   to Washington, DC"), and only the best NAME_SHOWN of them.
# UCI headlines, dev half (bench/related_offline.py): hit rate 0.917 -> 0.931, precision@3 unchanged.
SUBJECT_SUPPORT = 3
LOW_TITLE_COSINE = 0.15
NAME_KIND = "same name"
NAME_MIN_IDF = 6.0
# A name that more articles in the window carry than this is a common word in this stream, whatever the
# reference table says ("Trump" in a year's news): never a name link. The same bar as the postings the
# store reads in full for one key.
NAME_MAX_POSTINGS = 200
NAME_SCALE = 0.01  # a name link's score is this share of the headline cosine: below every other kind
NAME_SHOWN = 1
# A "same name" link may also rest on a word that leads both headlines, the subject's place ("Snowden: I
# would do it again" / "Snowden Speaks at SXSW", "Titanfall Review"): rare in the reference table
# (idf >= LEAD_MIN_IDF, so never "Ukraine", "Obama", "China") and, like a name, not common in the stream.
# UCI headlines, dev half: 9 such links among the first 3, all right; at idf >= 4 ("Ukraine at Crossroads")
# 20 of 24 were right.
LEAD_MIN_IDF = 5.5
LEAD_WORD_IDF = 3.0  # the first word counts as a lead only when it is informative at all ("Watch …" is not)
_ARTICLES = frozenset({"the", "a", "an"})

# Headline-only articles also count the words of their URL's slug as headline words: most news URLs name
# the story in words ("…/merger-makes-chiquitafyffes-top-banana"), and a headline may not ("Share this on:",
# "(click the phrases to see a list)"). A segment of fewer words is an id or a section, never a slug.
# UCI headlines, dev half: hit rate 0.931 -> 0.943, precision@3 0.950 -> 0.953; ECB+ (bodies) unchanged.
SLUG_MIN_WORDS = 3
# Two adjacent headline words match one word of the other headline spelt as their compound ("Mt. Gox" /
# "MtGox", "FTSE 100" / "FTSE100"); shorter compounds are chance ("a" + "t").
JOIN_MIN_CHARS = 5


@dataclass(frozen=True)
class Link:
    """Why two articles are related."""

    score: float
    kind: str  # "same event" or "same subject"
    shared: tuple[str, ...] = field(default=())  # the heaviest shared words (stems), best first

    def reason(self) -> dict:
        return {"kind": self.kind, "score": round(self.score, 4), "shared": list(self.shared)}


class Profile(dict):
    """A profile (word -> weight) that remembers its norm: one article is scored against dozens."""

    norm: float | None = None


def profile(fp: Fingerprint) -> dict[str, float]:
    """Informative words with their weight: (1 + log tf) * idf, headline words boosted.

    Computed once per Fingerprint object (its keys, then its links ask for it)."""
    return similarity._derived(fp, "relate_profile", lambda: _profile(fp))


def _profile(fp: Fingerprint) -> dict[str, float]:
    counts: dict[str, float] = {}
    for t in fp.body[:MAX_BODY_TERMS]:
        if _word(t):
            counts[t] = counts.get(t, 0.0) + 1.0
    weights = Profile((t, (1.0 + math.log(c)) * idf(t)) for t, c in counts.items())
    for t in set(fp.title):
        if _word(t):
            weights[t] = weights.get(t, 0.0) + TITLE_WEIGHT * idf(t)
    for t in slug_words(fp):  # a slug word not in the headline weighs as one body occurrence
        weights.setdefault(t, idf(t))
    return weights


def slug_words(fp: Fingerprint) -> frozenset[str]:
    """Informative words of the article URL's slug ("…/merger-makes-chiquitafyffes-top-banana"), for an
    article without an informative body; empty when the URL has no slug of SLUG_MIN_WORDS words."""
    return similarity._derived(fp, "relate_slug", lambda: _slug_words(fp))


_SLUG_EXT_RE = re.compile(r"\.[a-z]{2,5}$", re.IGNORECASE)


def _slug_words(fp: Fingerprint) -> frozenset[str]:
    if not fp.url or similarity.body_informative(fp):
        return frozenset()
    path = fp.url.split("?", 1)[0].split("#", 1)[0]
    segments = path.split("/")[1:]  # the host first
    best: list[str] = []
    for seg in segments:
        words = [w for w in re.split(r"[-_+]+", _SLUG_EXT_RE.sub("", seg)) if w.isalpha()]
        if len(words) > len(best):
            best = words
    if len(best) < SLUG_MIN_WORDS:
        return frozenset()
    return frozenset(t for t in similarity.tokens(" ".join(best)) if _word(t))


def _word(t: str) -> bool:
    # Memoised per word: asked for every body token of every profile (400 a fingerprint), and profiles are
    # made again for every stored fingerprint decoded (py-spy, warm-incremental refresh).
    known = _WORDS.get(t)
    if known is None:
        known = t not in STOPWORDS and len(t) > 1 and not t.isdigit() and idf(t) >= MIN_TERM_IDF
        similarity.memo_word(_WORDS, t, known)
    return known


_WORDS: dict[str, bool] = {}


def index_keys(fp: Fingerprint) -> frozenset[str]:
    """The article's heaviest informative words, as ``r:`` keys (computed once per Fingerprint object)."""
    return similarity._derived(fp, "relate_keys", lambda: _index_keys(fp))


def _index_keys(fp: Fingerprint) -> frozenset[str]:
    weights = profile(fp)
    ranked = sorted((t for t in weights if idf(t) >= MIN_KEY_IDF), key=lambda t: (-weights[t], t))
    return frozenset(KEY_PREFIX + t for t in ranked[:KEY_TERMS])


@dataclass(frozen=True, slots=True, eq=False)
class Compact:
    """What :func:`relate` and :func:`tentative` read of a candidate article: about 4 KB (tracemalloc).

    A decoded fingerprint with its memoised sets takes about 80 KB, so the store can keep only ~1,500 of
    them, while the related window (14 days) holds every article of a 10,000-article store: most related
    candidates were decoded and profiled again for every new article (py-spy, bench/scale_replay.py 80 x 50).
    The profile is kept as its words, sorted (interned: shared by every compact that has them), and their
    weights in the same order, which is the order :func:`_cosine` sums in, so the scores are the same bits."""

    words: tuple[str, ...]  # the profile's words, sorted
    weights: array  # their weights ("d"), in the same order
    norm: float  # the profile's norm, as _norm computes it
    informative: bool  # similarity.body_informative
    title: tuple[str, ...]  # the headline's tokens (for compounds)
    # informative headline words and the slug's words (_headlines' sets), sorted: a tuple, not a frozenset,
    # 0.6 of the ~4.7 KB a cached compact took with its hash table (tracemalloc, bench/scale_feeds.py items)
    title_words: tuple[str, ...]
    title_names: tuple[str, ...]
    lead: str | None  # _lead
    published: datetime | None  # None when unknown or unreadable (hours_apart says None then)

    def __reduce__(self) -> tuple:
        # made by a parse worker (syndicator.prepare), unpickled in the store's process: interned again there,
        # or 16,384 cached compacts would each hold their own copy of every word
        return (_unpickle_compact, (self.words, self.weights, self.norm, self.informative, self.title,
                                    self.title_words, self.title_names, self.lead, self.published))


def _unpickle_compact(words: tuple[str, ...], weights: array, norm: float, informative: bool,
                      title: tuple[str, ...], title_words: tuple[str, ...], title_names: tuple[str, ...],
                      lead: str | None, published: datetime | None) -> Compact:
    return Compact(
        words=tuple(map(sys.intern, words)), weights=weights, norm=norm, informative=informative,
        title=tuple(map(sys.intern, title)), title_words=tuple(map(sys.intern, title_words)),
        title_names=tuple(map(sys.intern, title_names)), lead=None if lead is None else sys.intern(lead),
        published=published,
    )


def compact(fp: Fingerprint) -> Compact:
    """The :class:`Compact` of ``fp`` (computed once per Fingerprint object)."""
    return similarity._derived(fp, "relate_compact", lambda: _make_compact(fp))


def _make_compact(fp: Fingerprint) -> Compact:
    weights = profile(fp)
    words = sorted(weights)
    published = None
    if fp.published:
        try:
            published = datetime.fromisoformat(fp.published)
        except ValueError:
            published = None
    # strings interned: a compact outlives its fingerprint, and its words are every compact's words
    title_words = tuple(sorted(map(sys.intern, {t for t in fp.title if _word(t)} | slug_words(fp))))
    lead = _lead(fp)
    return Compact(
        words=tuple(map(sys.intern, words)),
        weights=array("d", [weights[w] for w in words]),  # from a list: allocated to size
        norm=_norm(weights),
        informative=similarity.body_informative(fp),
        title=tuple(map(sys.intern, fp.title)),
        title_words=title_words,
        title_names=tuple(map(sys.intern, fp.title_names)),
        lead=None if lead is None else sys.intern(lead),
        published=published,
    )


# A Compact as bytes, stored with the article (``articles.relate_compact``, migration 0011): a related candidate
# that misses the compact cache (in a new process: all of them) was read from its fingerprint's JSON, decoded and
# profiled again (~0.5 ms); from these bytes it is a split and an array. Header: magic (the format's version),
# norm, informative, how many words, headline tokens, headline words and names, whether there is a lead; then
# the weights ("d"), then the strings, UTF-8, NUL-separated: words, headline tokens, headline words (sorted),
# names, lead, publication time (ISO 8601, "" when unknown).
_COMPACT_HEAD = struct.Struct("<4sd?IIII?")
_COMPACT_MAGIC = b"RC01"


def compact_bytes(c: Compact) -> bytes | None:
    """``c`` as bytes (:func:`compact_from_bytes` reads them); ``None`` when a string holds a NUL (never seen:
    tokens are words), and then the article is read from its fingerprint as before."""
    title_words = c.title_words
    strings = [*c.words, *c.title, *title_words, *c.title_names, c.lead or "",
               c.published.isoformat() if c.published is not None else ""]
    if any("\x00" in x for x in strings):
        return None
    head = _COMPACT_HEAD.pack(_COMPACT_MAGIC, c.norm, c.informative, len(c.words), len(c.title), len(title_words),
                              len(c.title_names), c.lead is not None)
    return head + c.weights.tobytes() + "\x00".join(strings).encode("utf-8")


def compact_from_bytes(data: bytes | None) -> Compact | None:
    """The :class:`Compact` that :func:`compact_bytes` stored; ``None`` when absent or of another format."""
    if not data or len(data) < _COMPACT_HEAD.size or data[:4] != _COMPACT_MAGIC:
        return None
    _magic, norm, informative, n_words, n_title, n_title_words, n_names, has_lead = _COMPACT_HEAD.unpack_from(data)
    start = _COMPACT_HEAD.size
    end = start + 8 * n_words
    weights = array("d")
    weights.frombytes(data[start:end])
    strings = list(map(sys.intern, data[end:].decode("utf-8").split("\x00")))
    a = n_words
    b = a + n_title
    c = b + n_title_words
    d = c + n_names
    if len(strings) != d + 2:
        return None
    published = strings[d + 1]
    return Compact(
        words=tuple(strings[:a]), weights=weights, norm=norm, informative=informative, title=tuple(strings[a:b]),
        title_words=tuple(sorted(strings[b:c])), title_names=tuple(strings[c:d]),
        lead=strings[d] if has_lead else None,
        published=datetime.fromisoformat(published) if published else None,
    )


def unrelated(me: Compact, mine: dict[str, float], other: Compact) -> bool:
    """A cheap test that :func:`relate` and :func:`tentative` both say ``None`` for the articles of ``me``
    (whose profile is ``mine``) and ``other``. Sound, never a guess: with informative bodies on both sides
    it is relate's own cosine bar, computed without the shared words (tentative links need a headline-only
    side); otherwise no headline word in common, even through a compound (both need one). ``False`` says
    nothing: the full score decides. ``tests/test_compact_bounds.py`` checks it on fixtures and random texts."""
    if me.informative and other.informative:
        return _dot_cosine(mine, me.norm, other) < MIN_COSINE
    mine_words, theirs = frozenset(me.title_words), frozenset(other.title_words)
    return (
        mine_words.isdisjoint(theirs)
        and not _compounds(me.title, theirs)
        and not _compounds(other.title, mine_words)
    )


def assess(me: Compact, mine: dict[str, float], other: Compact) -> tuple[Link | None, bool]:
    """:func:`score` of a candidate, or when it has none :func:`tentative_score`'s: ``(link, tentative)``;
    ``(None, False)`` when :func:`unrelated` proves both ``None``. With informative bodies on both sides the
    bound is score's own first test (the cosine) and a tentative link needs a headline-only side, so score
    alone decides: the cosine was computed twice for every candidate passing the bound (``_dot_cosine``, 8%
    of a cold replay's samples, bench/scale_replay.py 200 x 50)."""
    if me.informative and other.informative:
        return score(me, mine, other), False
    if unrelated(me, mine, other):
        return None, False
    link = score(me, mine, other)
    if link is not None:
        return link, False
    link = tentative_score(me, mine, other)
    return link, link is not None


def _compounds(title: tuple[str, ...], theirs: frozenset[str]) -> bool:
    """Whether two adjacent words of ``title`` make a word of ``theirs``: the only way :func:`_joined` adds
    a word (not kept in the Compact: a new string per pair, most of them never used)."""
    return any(x + y in theirs for x, y in itertools.pairwise(title))


def _dot_cosine(mine: dict[str, float], norm: float, other: Compact) -> float:
    """``_cosine(mine, other's profile)`` to the last bit: the products of the shared words added in the
    words' sorted order, as _cosine does (a word ``mine`` lacks adds an exact 0.0), all in C."""
    dot = sum(map(operator.mul, map(mine.get, other.words, itertools.repeat(0.0)), other.weights))
    return dot / (norm * other.norm) if norm and other.norm else 0.0


def _weights(mine: dict[str, float], other: Compact) -> dict[str, float]:
    """``other``'s weights of the words both profiles hold."""
    return {w: x for w, x in zip(other.words, other.weights, strict=True) if w in mine}


def relate(
    a: Fingerprint, b: Fingerprint, va: dict[str, float] | None = None, vb: dict[str, float] | None = None,
    *, event: bool = True,
) -> Link | None:
    """How ``a`` and ``b`` are related, or ``None``. Symmetric; the caller keeps
    an article's own story (its variants) out. ``va``: ``a``'s profile, when the
    caller already has it (``vb`` is accepted for the same reason; ``b`` is read
    through its :class:`Compact`). ``event=False`` leaves out the (costly)
    same-event check: every link is "same subject", and :func:`with_event` can
    check the best ones afterwards."""
    link = score(compact(a), profile(a) if va is None else va, compact(b))
    return with_event(link, a, b) if event and link is not None else link


def score(me: Compact, mine: dict[str, float], other: Compact) -> Link | None:
    """:func:`relate` without the same-event check, for an article (``me``, its profile ``mine``) and a
    candidate known by its :class:`Compact` alone."""
    if not mine or not other.words:
        return None
    cosine = _dot_cosine(mine, me.norm, other)
    informative = me.informative and other.informative
    if informative:
        if cosine < MIN_COSINE:
            return None  # before the shared words are sorted: most of the 60 candidates stop here
    else:
        title_cosine, title_shared = _headlines(me, other)
        if (
            title_cosine < MIN_TITLE_COSINE
            or len(title_shared) < MIN_TITLE_SHARED
            or sum(idf(t) for t in title_shared) < MIN_TITLE_SHARED_INFO
        ):
            return None
    theirs = _weights(mine, other)
    shared = sorted(  # over the common words only: a profile holds hundreds of words
        (t for t in theirs if idf(t) >= MIN_SHARED_IDF), key=lambda t: (-(mine[t] * theirs[t]), t)
    )
    if informative and len(shared) < MIN_SHARED:
        return None
    return Link(round(cosine / _decay(me, other), 6), "same subject", tuple(shared[:SHOWN_WORDS]))


def _headlines(a: Fingerprint | Compact, b: Fingerprint | Compact) -> tuple[float, list[str]]:
    """Cosine of the headlines' informative words (with their URL slugs' words, compounds matched), and
    their shared words (idf >= MIN_TITLE_SHARED_IDF), the heaviest first."""
    a = a if isinstance(a, Compact) else compact(a)
    b = b if isinstance(b, Compact) else compact(b)
    ta, tb = set(a.title_words), set(b.title_words)
    ta, tb = _joined(a.title, ta, tb), _joined(b.title, tb, ta)
    shared = sorted((t for t in ta & tb if idf(t) >= MIN_TITLE_SHARED_IDF), key=lambda t: (-idf(t), t))
    return _cosine(_title_profile(ta), _title_profile(tb)), shared


def _joined(title: tuple[str, ...], mine: set[str], theirs: set[str]) -> set[str]:
    """``mine`` with two adjacent headline words replaced by their compound when the other headline
    has the compound as one word ("Mt. Gox" / "MtGox", "FTSE 100" / "FTSE100")."""
    out = mine
    for x, y in itertools.pairwise(title):
        joined = x + y
        if joined in theirs and joined not in mine and len(joined) >= JOIN_MIN_CHARS and _word(joined):
            out = (out - {x, y}) | {joined}
    return out


def tentative(
    a: Fingerprint, b: Fingerprint, va: dict[str, float] | None = None, vb: dict[str, float] | None = None,
) -> Link | None:
    """A link between two headlines that :func:`relate` does not link, to be kept only when the word
    it rests on (its first shared word) names a subject in the stream (:data:`SUBJECT_SUPPORT`);
    ``None`` when there is not even that. Symmetric. ``va``/``vb`` as for :func:`relate`."""
    return tentative_score(compact(a), profile(a) if va is None else va, compact(b))


def tentative_score(me: Compact, mine: dict[str, float], other: Compact) -> Link | None:
    """:func:`tentative` for an article (``me``, its profile ``mine``) and a candidate's :class:`Compact`."""
    if me.informative and other.informative:
        return None
    cosine, shared = _headlines(me, other)
    decay = _decay(me, other)
    if len(shared) >= MIN_TITLE_SHARED:
        if cosine < LOW_TITLE_COSINE or sum(idf(t) for t in shared) < MIN_TITLE_SHARED_INFO:
            return None
        # scored as relate() scores a link; the word that needs support first
        theirs = _weights(mine, other)
        rest = sorted((t for t in theirs if idf(t) >= MIN_SHARED_IDF and t != shared[0]),
                      key=lambda t: (-(mine[t] * theirs[t]), t))
        return Link(round(_dot_cosine(mine, me.norm, other) / decay, 6), "same subject",
                    (shared[0], *rest[: SHOWN_WORDS - 1]))
    if len(shared) != 1:
        return None
    word = shared[0]
    if word in similarity._ENTITY_NOISE:  # "March", "Monday": capitals, no names
        return None
    name = idf(word) >= NAME_MIN_IDF and (
        word in me.title_names or word in other.title_names or word not in similarity.DOC_FREQ
    )
    lead = idf(word) >= LEAD_MIN_IDF and word == me.lead == other.lead
    if name or lead:
        return Link(round(NAME_SCALE * cosine / decay, 6), NAME_KIND, (word,))
    return None


def _lead(fp: Fingerprint) -> str | None:
    """The headline's first word (after an article), when informative (idf >= LEAD_WORD_IDF): where a
    headline names its subject ("Snowden: I would do it again", "Lindsay Gets Drenched")."""
    first = next((t for t in fp.title if t not in _ARTICLES), None)
    return first if first is not None and _word(first) and idf(first) >= LEAD_WORD_IDF else None


def shortlist(ranked: list[tuple[str, float]], size: int, cap: int) -> list[str]:
    """The candidates to score, from (id, shared key mass) best first: the first ``size``, and those tied
    with the last of them, ``cap`` at most. A cut inside a tie would pick by id, i.e. by chance: 118 UCI
    headlines share only "Lindsay" with "Lindsay Airs — So, What Did You Think?", and the one that shares
    "think" too was not among the 60 scored."""
    if len(ranked) <= size:
        return [aid for aid, _ in ranked]
    last = ranked[size - 1][1]
    out = [aid for aid, _ in ranked[:size]]
    for aid, mass in ranked[size:cap]:
        if mass < last - 1e-9:  # the store sums key idfs in no fixed order
            break
        out.append(aid)
    return out


def subject_word(reason: dict) -> str | None:
    """The word a link's subject is named by: the heaviest shared word of a same-subject or
    same-event link (a "same name" link proves nothing)."""
    if reason.get("kind") == NAME_KIND or not reason.get("shared"):
        return None
    return str(reason["shared"][0])


def shown(links: list[tuple[float, str]]) -> list[int]:
    """Which of one story's links (score, kind), best first, a reader is shown: "same name" links
    only when there is no other, and then only the best :data:`NAME_SHOWN`."""
    if any(kind != NAME_KIND for _, kind in links):
        return [n for n, (_, kind) in enumerate(links) if kind != NAME_KIND]
    return list(range(min(len(links), int(NAME_SHOWN))))


def with_event(link: Link, a: Fingerprint, b: Fingerprint) -> Link:
    """``link`` ranked higher when ``a`` and ``b`` report the same event (the merge stage's event rule)."""
    if link.kind == "same event" or similarity.compare(a, b, "event") is None:
        return link
    return Link(round(link.score + EVENT_BONUS / _decay(a, b), 6), "same event", link.shared)


def _decay(a: Fingerprint | Compact, b: Fingerprint | Compact) -> float:
    if isinstance(a, Compact) and isinstance(b, Compact):
        # similarity.hours_apart on the parsed dates: timedelta.total_seconds() is exact, so the same value
        hours = (None if a.published is None or b.published is None
                 else abs((a.published - b.published).total_seconds()) / 3600.0)
    else:
        hours = similarity.hours_apart(a, b)
    return 1.0 if hours is None else 1.0 + hours / RECENCY_HOURS


def _title_profile(words: set[str]) -> dict[str, float]:
    return {t: idf(t) for t in words}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    # summed in a fixed order, so that relate(a, b) == relate(b, a) to the last bit
    dot = sum(a[k] * b[k] for k in sorted(a.keys() & b.keys()))
    na, nb = _norm(a), _norm(b)
    return dot / (na * nb) if na and nb else 0.0


def _norm(a: dict[str, float]) -> float:
    norm = a.norm if isinstance(a, Profile) else None
    if norm is None:
        norm = math.sqrt(sum(w * w for _, w in sorted(a.items())))
        if isinstance(a, Profile):
            a.norm = norm  # a profile is never changed once made
    return norm
