"""Pure similarity and decision core of story merging.

One news story reaches the service under many items: A/B-tested headline
variants (new guid and URL, same lede), editor rewrites, wire copy carried by
several outlets, feeds that cut the body short or append their own boilerplate.
This module decides, for two articles, whether they are the same story.

Everything here is pure: no I/O, no database, no state learned at run time.
The only corpus statistics are the fixed document-frequency table shipped in
:mod:`syndicator.similarity_idf` (built offline, see that module's attribution),
so that ``compare(a, b)`` depends on ``a`` and ``b`` alone and the grouping
(the connected components of the match graph) does not depend on the order in
which articles arrive.

Pipeline: ``fingerprint(doc)`` (:mod:`syndicator.fingerprints`) normalises an
article once into a JSON-able :class:`Fingerprint`; ``index_keys(fp)`` gives a
few short keys to find candidates in SQL; ``compare(a, b)`` gives a
:class:`Match` or ``None``. This module holds the match rules and the keys;
the fingerprint and its features live in :mod:`syndicator.fingerprints`, whose
public names are re-exported here.

Decision rules (``level="article"``), each one symmetric in ``a`` and ``b``:

* ``url``: the same canonical URL (with a real path) is the same article.
* ``body``: both bodies are informative (enough rare-ish words, not a generic
  one-liner) and one is (almost) contained in the other, measured on word
  3-shingles with containment so that a body cut short still matches the whole.
* ``headline+body``: similar headlines and bodies that agree only in part.
* ``same-body``: the same lede, however short or generic, from two sources
  published within SAME_BODY_MAX_HOURS (A/B variants go out together); never
  undated, never one source alone (its boilerplate line).
* ``headline``: a headline-only match, held to a higher bar: near-identical
  headlines that share enough informative words, and bodies that do not
  contradict it.
* ``headline-close``: one source's headline rewrite within CLOSE_HOURS that
  shares a rare word (a name) and enough idf mass.
* ``headline-near``: headline-only items from any sources published within
  CLOSE_HOURS, at a lower wording bar (NEAR_HEADLINE_SIM) with the guards of
  the one-source rules (names, numbers).
* ``headline-source``: for items without informative bodies, one source's
  headline variants within CLOSE_HOURS that share a fairly rare word and
  some of their wording.

``level="event"`` adds ``event``: different articles on the same event, judged
on the tf-idf cosine of headline+body words plus the cosine of name counts
(who and where, weighted by how often each article repeats them). A topic
often holds two events of one kind (two celebrities entering rehab, two
earthquakes) and a later report cites the earlier event, so the rule is built
on vetoes that say "another event" whatever the word overlap:

* years: both mention years and none in common;
* main actors: each article has a main name (its entity profile weights the
  headline and the first sentences above passing mentions later on) that the
  other one only mentions in passing or not at all (Tara Reid / Lindsay Lohan);
* specific facts of the lead: the weekdays named in the headline and first two
  sentences, the ages ("33-year-old") and the scores ("31-24") differ;
* undated against dated: one article names a year in its lead and the other
  names none (the same patch story of 2008 and of 2013) needs text and names
  that agree well beyond the bar.
* years on one side only: one article mentions a year anywhere and the other
  none (a later report citing the earlier event by year) needs text and names
  that agree beyond the bar too (EVENT_ONE_SIDED_SUM), agreeing names or not.

Two articles that agree on their two main names need less word overlap than
two that do not. Every article match is also an event match.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import sys
from array import array
from dataclasses import dataclass

# Re-exported: callers import the fingerprint side from here (syndicator.relate, the store, bench/).
from syndicator.fingerprints import (  # noqa: F401
    _ENTITY_NOISE,
    DOC_FREQ,
    FINGERPRINT_VERSION,
    STOPWORDS,
    Doc,
    Fingerprint,
    _body_class,
    _body_content,
    _body_shingles,
    _content,
    _cosine,
    _derived,
    _info,
    _title_content,
    _url_is_specific,
    _vector,
    _vector_info,
    _weighted_jaccard,
    body_informative,
    fingerprint,
    fingerprint_from_dict,
    fingerprint_to_dict,
    hours_apart,
    idf,
    memo_word,
    normalise_text,
    shed,
    tokens,
)

__all__ = [
    "BodyHashes",
    "Doc",
    "Fingerprint",
    "Match",
    "apart",
    "apart_from",
    "body_hashes",
    "compare",
    "fingerprint",
    "fingerprint_from_dict",
    "fingerprint_to_dict",
    "index_keys",
    "normalise_text",
    "shed",
    "sketch_bytes",
    "sketch_from_bytes",
    "tokens",
]

LEVELS = ("article", "event")

# --- thresholds (one default configuration; see bench/similarity_offline.py) ---
BODY_CONTAINMENT = 0.70  # body match: 3-shingle containment
MIN_SHARED_INFO = 24.0  # ... and the shared part is informative too
SAME_SHORT_BODY = 0.90  # short bodies: (almost) the same text
SHORT_BODY_TITLE_INFO = 3.0  # ... plus a shared headline word of at least this weight
SHORT_BODY_MAX_HOURS = 24.0  # ... published this close (when both dates are known)
SAME_BODY_MAX_HOURS = 12.0  # the same line, however generic, published this close (dates known)
PARTIAL_BODY = 0.30  # headline+body: bodies agree at least this much
HB_TITLE_SIM = 0.40  # ... and headlines at least this similar
HEADLINE_SIM = 0.60  # headline-only: weighted Jaccard of headline words
NEAR_HEADLINE_SIM = 0.50  # ... or this much for items published within CLOSE_HOURS (any sources)
MIN_TITLE_CONTENT = 3  # headline-only: content words in each headline
MIN_TITLE_SHARED_INFO = 24.0  # headline-only: idf mass of the shared words
RARE_IDF = 8.0  # a word this rare on both sides but not shared contradicts
HEADLINE_MAX_HOURS = 48.0  # headline-only: published at most this far apart
CLOSE_HOURS = 6.0  # headline variants: one source, published this close (both dates known)
CLOSE_TITLE_INFO = 10.0  # ... idf mass of the shared headline words, one of them rare (RARE_IDF)
# Neither body informative (headline-only items): one source's variants within CLOSE_HOURS may
# instead share a less rare word (CLOSE_WORD_IDF) when the headlines overlap this much (weighted Jaccard).
CLOSE_WORD_IDF = 6.0
CLOSE_TITLE_SIM = 0.15
EVENT_SIM = 0.15  # event: weighted cosine of headline+body words, at least
EVENT_NAME_SIM = 0.20  # event: weighted cosine of name counts, at least
SEMANTIC_SHARED_INFO = 25.0  # ... or a lower cosine with this much idf mass of shared headline words
SEMANTIC_MAX_HOURS = 48.0  # semantic headline matches: published at most this far apart
EVENT_CLOSE_SUM = 1.3  # ... and with this much, text and names outweigh a main name's weight
EVENT_SUM = 0.85  # event: text cosine + name cosine, at least
EVENT_AGREE_SUM = 0.50  # ... or this much when both agree on their main names
EVENT_UNDATED_SUM = 1.2  # ... or this much when one dates its lead with a year and the other names no year
EVENT_ONE_SIDED_SUM = 0.9  # ... and at least this much when one mentions years and the other none
MIN_EVENT_INFO = 40.0  # event: informative text on both sides
MAIN_ENTITIES = 4  # main names: among the N heaviest, ...
MAIN_ENTITY_WEIGHT = 0.6  # ... at least this share of the heaviest one's weight
PASSING_ENTITY_WEIGHT = 0.3  # a name the other article weighs at most this much: passing mention
AGREE_ENTITIES = 2  # agreement: the N heaviest names of each ...
AGREE_ENTITY_WEIGHT = 0.2  # ... weigh at least this much in the other article

PREFIX_KEY_TOKENS = 8  # the first N body tokens as one key
BODY_KEYS = 8  # bottom-k body shingle keys
TITLE_KEYS = 6  # rarest headline words as keys
EVENT_KEYS = 8  # most frequent rare names of the body, event level only
MIN_KEY_IDF = 5.0  # never a key for a common word


@dataclass(frozen=True)
class Match:
    score: float
    kind: str
    signals: dict


# ----------------------------------------------------------------------------
# compare


@dataclass(frozen=True, slots=True, eq=False)
class BodyHashes:
    """An article's body shingles hashed to ints, made once per article: what :func:`apart` reads.

    Most merge candidates of an article with an informative body have another one (a shared headline word
    or name found them), and 99% of the comparisons of a replay (bench/scale_replay.py 20 x 50) are proven
    no match by the hashes alone: the full comparison's headline sets, shingle intersection, shared words
    and signals are never built for them (docs/bench_relate_cache.md)."""

    # hash() of each distinct shingle (two shingles may share one), 8 bytes each: as a frozenset of ints they took
    # 37 KB an article, half of a cached fingerprint (tracemalloc, bench/scale_replay.py 40 x 50). The article being
    # merged probes the others' arrays with a set of its own (_probe_set).
    hashes: array  # array("q")
    count: int  # how many distinct shingles: len(_body_shingles), >= len(hashes)
    body_class: int  # _body_class


def body_hashes(fp: Fingerprint) -> BodyHashes:
    """The :class:`BodyHashes` of ``fp`` (computed once per Fingerprint object)."""
    return _derived(fp, "body_hashes", lambda: _make_body_hashes(fp))


def _make_body_hashes(fp: Fingerprint) -> BodyHashes:
    toks = fp.body
    cls = _body_class(fp)
    if cls < 2:
        return BodyHashes(array("q"), 0, cls)  # apart() needs informative bodies on both sides
    shingles = fp.__dict__.get("_memo", {}).get("body_shingles")
    if shingles is None:
        # the tuples _shingles makes (an informative body has 5 words at least), counted and not kept
        shingles = set(zip(*(toks[i:] for i in range(3)), strict=False))
    # A shingle's hash is the hash of its three word ids (ints hash alike in every process, str does not),
    # so that the hashes can be stored with the article (merge_sketch) and read by another process.
    ids = list(map(_word_id, toks))
    distinct = set(map(hash, zip(ids, ids[1:], ids[2:], strict=False)))
    return BodyHashes(array("q", sorted(distinct)), len(shingles), cls)


def _probe_set(fp: Fingerprint) -> frozenset[int]:
    """The hashes of ``fp``'s :class:`BodyHashes` as a set, for the side of :func:`apart` that probes: the new
    article, compared with dozens of candidates in a row. Kept for the last few probes only, not in the
    fingerprint's memo: cached fingerprints become probes too (the same-event check), and the sets came back."""
    found = _PROBES.get(id(fp))
    if found is not None and found[0] is fp:
        return found[1]
    probe = frozenset(body_hashes(fp).hashes)
    _PROBES[id(fp)] = (fp, probe)  # the object itself too: an id is only unique while its object lives
    if len(_PROBES) > 4:
        _PROBES.pop(next(iter(_PROBES), None), None)  # tolerant: the daemon's refresh thread is not the only one
    return probe


_PROBES: dict[int, tuple[Fingerprint, frozenset[int]]] = {}


def _word_id(word: str) -> int:
    """A word's 64-bit id, the same in every process (a str's hash() changes with each process)."""
    value = _WORD_IDS.get(word)
    if value is None:
        value = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little", signed=True)
        memo_word(_WORD_IDS, word, value)
    return value


_WORD_IDS: dict[str, int] = {}

# The first 8 bytes of a stored sketch: a version and what this interpreter makes of hash() on int tuples
# (the same in every CPython since 3.8 on 64-bit builds). A sketch written by a build that hashes otherwise,
# or an older format, reads as None and the fingerprint is decoded instead: a sketch is only ever a shortcut.
SKETCH_VERSION = 1
_SKETCH_MAGIC = hash((SKETCH_VERSION, 1, 2, 3, sys.byteorder == "little", -(2**62)))
_SKETCH_HEAD = struct.Struct("<qii")  # magic, body class, shingle count; then the hashes, array("q")


def derive_for_store(fp: Fingerprint) -> tuple[str, ...]:
    """Compute the values the store derives from a new article's fingerprint for merging it (its body hashes,
    for the sketch and the bound) and for the same-event check of its links (event and name vectors); returns
    their memo names. A refresh's parse workers call it (syndicator.prepare), so that the store's process,
    the one a cold refresh waits on, only unpickles them: about 7% of its time (py-spy, bench/scale_replay.py
    200 x 50). Each is a pure function of the fingerprint (word ids are blake2b, idf a fixed table), so the
    values are the ones the store would make."""
    body_hashes(fp)
    _vector(fp)
    _name_vector(fp)
    # not _vector_info: a sum over a set, whose last bits follow the order of str hashes, i.e. the process
    return STORE_DERIVED


STORE_DERIVED = ("body_hashes", "vector", "name_vector")  # what derive_for_store memoises


def sketch_bytes(fp: Fingerprint) -> bytes:
    """:func:`body_hashes` of ``fp`` as bytes, stored with the article (``articles.merge_sketch``).

    A stored candidate's fingerprint was decoded (JSON, 70 us) and its shingles hashed again (170 us) in
    every process that compared it, only for :func:`apart` to reject it (99% of merge comparisons); from
    these bytes the same :class:`BodyHashes` costs 35 us (bench/scale_replay.py, docs/bench_perf9.md)."""
    h = body_hashes(fp)
    return _SKETCH_HEAD.pack(_SKETCH_MAGIC, h.body_class, h.count) + h.hashes.tobytes()


def sketch_from_bytes(data: bytes | None) -> BodyHashes | None:
    """The :class:`BodyHashes` that :func:`sketch_bytes` stored; ``None`` when absent or not readable here."""
    if not data or len(data) < _SKETCH_HEAD.size:
        return None
    magic, cls, count = _SKETCH_HEAD.unpack_from(data)
    if magic != _SKETCH_MAGIC:
        return None
    hashes = array("q")
    hashes.frombytes(memoryview(data)[_SKETCH_HEAD.size:])
    return BodyHashes(hashes, count, cls)


def apart(a: Fingerprint, b: Fingerprint) -> bool:
    """A cheap proof that ``compare(a, b, "article")`` is ``None``: two informative bodies, no shared
    specific URL, and body containment below PARTIAL_BODY, bounded from above with hashed shingles
    (every article rule needs that much containment, or a headline match, which two informative bodies
    that agree less never get). ``False`` says nothing: the full comparison decides. Event level: no.

    Hash collisions only make the bound looser: a shared shingle hashes alike on both sides, and at most
    ``count - len(hashes)`` shingles of a body are lost to collisions inside it."""
    return apart_from(a, body_hashes(b), b.url)


def apart_from(a: Fingerprint, hb: BodyHashes, b_url: str) -> bool:
    """:func:`apart` for ``a`` and an article known by its :class:`BodyHashes` and canonical URL only (a stored
    candidate's :func:`sketch_from_bytes`, without decoding its fingerprint)."""
    if a.url and a.url == b_url and _url_is_specific(a.url):
        return False
    ha = body_hashes(a)
    if ha.body_class != 2 or hb.body_class != 2:
        return False
    slack = min(ha.count - len(ha.hashes), hb.count - len(hb.hashes))
    # >= len(_body_shingles(a) & _body_shingles(b)); hb's hashes are distinct, so each counts once
    common = len(_probe_set(a).intersection(hb.hashes)) + slack
    return common / min(ha.count, hb.count) < PARTIAL_BODY



def compare(a: Fingerprint, b: Fingerprint, level: str = "article") -> Match | None:
    """Are ``a`` and ``b`` the same story? ``None`` when not.

    Symmetric and deterministic; depends on ``a`` and ``b`` only. ``level`` is
    ``"article"`` (variants of one article) or ``"event"`` (also different
    articles on the same event; a superset of the article matches).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    # At event level, apart() spares the article rules where they cannot match (merge.decide asks it itself at
    # article level): the same-event check of related links ran _compare_article on pairs whose bodies
    # share little, building both shingle sets (py-spy, bench/scale_replay.py 80 x 50: docs/bench_perf9.md).
    m = None if level == "event" and apart(a, b) else _compare_article(a, b)
    if m is not None or level == "article":
        return m
    return _compare_event(a, b)


def _compare_article(a: Fingerprint, b: Fingerprint) -> Match | None:
    if a.url and a.url == b.url and _url_is_specific(a.url):
        return Match(1.0, "url", {"url": a.url})

    hours = hours_apart(a, b)
    ta, tb = _title_content(a), _title_content(b)
    title_sim, title_shared = _weighted_jaccard(ta, tb)
    cls_a, cls_b = _body_class(a), _body_class(b)

    body_cont = 0.0
    body_same = 0.0  # containment, counted only when the shorter body is whole-vs-whole or cut short
    shared_info = 0.0
    if _body_content(a) and _body_content(b):
        sa, sb = _body_shingles(a), _body_shingles(b)
        common = sa & sb
        body_cont = len(common) / min(len(sa), len(sb))
        shorter = a if len(sa) < len(sb) else b if len(sb) < len(sa) else None
        whole = shorter is None or shorter.body_truncated
        body_same = body_cont if whole else len(common) / (len(sa) + len(sb) - len(common))  # |sa | sb|, not built
        shared_info = _info(_content([t for s in common for t in s]))
    signals: dict = {
        "title_sim": round(title_sim, 3),
        "title_shared_info": round(title_shared, 1),
        "body_containment": round(body_cont, 3),
        "body_shared_info": round(shared_info, 1),
        "body_class": sorted((cls_a, cls_b)),
        "hours_apart": None if hours is None else round(hours, 1),
        "same_source": a.source == b.source,
    }

    both_long = cls_a == 2 and cls_b == 2
    if both_long and body_cont >= BODY_CONTAINMENT and shared_info >= MIN_SHARED_INFO:
        return Match(round(body_cont, 3), "body", signals)

    # The same lede, however short or generic ("History = Made."), sent out
    # within hours by two sources: headline variants of one post (A/B tests go
    # out together). Never without both dates: a generic line alone says
    # nothing; and one source repeating a line may be its boilerplate (below).
    # A short or generic body never merges on its own (the spec's "This is
    # powerful stuff."): unless both bodies are informative, the headlines must
    # share a word of weight and not contradict each other ("Tara Reid" vs
    # "Lindsay Lohan" under the same stock line).
    headline_backs = (
        title_shared >= SHORT_BODY_TITLE_INFO
        and not _contradicts(ta, tb)
        and not _names_contradict(a.title_names, b.title_names)
    )
    if (
        body_same >= SAME_SHORT_BODY
        and hours is not None
        and hours <= SAME_BODY_MAX_HOURS
        and a.source != b.source
        and (min(cls_a, cls_b) >= 1 or headline_backs)
    ):
        return Match(round(body_cont, 3), "same-body", signals)

    # A short body is no evidence alone. The same short body published close
    # together is, with a second signal: a shared headline word, or two
    # different sources (one source repeating a line may be its boilerplate).
    if (
        cls_a
        and cls_b
        and body_cont >= SAME_SHORT_BODY
        and (hours is None or hours <= SHORT_BODY_MAX_HOURS)
        and headline_backs
    ):
        return Match(round((body_cont + title_sim) / 2, 3), "headline+body", signals)

    if both_long and body_cont >= PARTIAL_BODY and title_sim >= HB_TITLE_SIM:
        return Match(round((body_cont + title_sim) / 2, 3), "headline+body", signals)

    # Headline only: the higher bar. Bodies that are both informative and
    # clearly different speak against it.
    if both_long and body_cont < PARTIAL_BODY:
        return None
    if hours is not None and hours > HEADLINE_MAX_HOURS:
        return None
    if (
        min(len(ta), len(tb)) >= MIN_TITLE_CONTENT
        and title_sim >= HEADLINE_SIM
        and title_shared >= MIN_TITLE_SHARED_INFO
        and not _contradicts(ta, tb)
    ):
        return Match(round(title_sim, 3), "headline", signals)
    if _near_headlines(a, b, ta, tb, title_sim, title_shared, hours):
        return Match(round(title_sim, 3), "headline-near", signals)
    # Headline variants (A/B tests, rewrites) of one source go out within
    # hours of each other and share a rare word or two (a name), not the
    # wording: a lower bar on the words for a tight bar on time and source.
    # Sentence-case headlines that each name someone the other does not are
    # two people's stories, whatever rare word they share ("Tara Reid enters
    # rehab in Malibu" / "Lindsay Lohan enters rehab in Malibu" merged on
    # "Malibu": no rare word of either name is rare enough to contradict).
    # Not across sources: two outlets covering one topic within hours share
    # such words all the time (the UCI and STS checks chain or merge then).
    if (
        a.source
        and a.source == b.source
        and hours is not None
        and hours <= CLOSE_HOURS
        and title_shared >= CLOSE_TITLE_INFO
        and any(idf(w) >= RARE_IDF for w in ta & tb)
        and not _close_contradicts(ta, tb)
        and not _names_contradict(_headline_names(a), _headline_names(b))
    ):
        return Match(round(title_sim, 3), "headline-close", signals)
    if cls_a == 2 or cls_b == 2:
        # One side has a real body the other lacks: the headlines' meaning alone
        # cannot say it is the same report (ECB+: a short wire line matched the
        # opening of a different event's article).
        return None
    if _same_source_variants(a, b, ta, tb, title_sim, hours):
        return Match(round(title_sim, 3), "headline-source", signals)
    return _semantic_headline(a, b, ta, tb, signals)


def _same_source_variants(
    a: Fingerprint, b: Fingerprint, ta: set[str], tb: set[str], title_sim: float, hours: float | None
) -> bool:
    """One source's headline variants, for items without informative bodies.

    Published within CLOSE_HOURS, headlines of MIN_TITLE_CONTENT content words
    at least ("Broken page" / "Huge page" say too little), sharing a fairly rare
    word (CLOSE_WORD_IDF) and some of their wording (CLOSE_TITLE_SIM), with no
    contradicting names,
    rare words or numbers. Never across sources: a topic's headlines of one day share
    such words all the time, and UCI's day of headlines from 1,700 publishers
    chained into large stories on them (pairwise precision 0.975 -> 0.6 and
    lower, bench/similarity_offline.py); even a shared five-word phrase
    (-> 0.90) was not worth its recall (docs/merge_quality.md).
    """
    return bool(
        a.source
        and a.source == b.source
        and hours is not None
        and hours <= CLOSE_HOURS
        and min(len(ta), len(tb)) >= MIN_TITLE_CONTENT
        and title_sim >= CLOSE_TITLE_SIM
        and any(idf(w) >= CLOSE_WORD_IDF for w in ta & tb)
        and not _contradicts(ta, tb)
        and not _names_contradict(_headline_names(a), _headline_names(b))
        and not _numbers_differ(a, b)
    )


def _semantic_headline(a: Fingerprint, b: Fingerprint, ta: set[str], tb: set[str], signals: dict) -> Match | None:
    """With the semantic extra: headlines that mean the same, said in other words.

    Held to the headline-only bar's conditions (time, bodies that do not
    disagree, both already checked by the caller) plus two guards that the
    embedding misses: templated headlines that differ only in their numbers
    or dates ("FTSE update 11.30am" / "3.00pm"), and different names.
    """
    if not (a.title_vec and b.title_vec):
        return None
    hours = signals.get("hours_apart")
    if hours is None or hours > SEMANTIC_MAX_HOURS:
        return None
    from syndicator import semantic

    cos = semantic.cosine(base64.b64decode(a.title_vec), base64.b64decode(b.title_vec))
    # Close in meaning alone, or close enough and sharing informative words.
    if cos < semantic.THRESHOLD and not (
        cos >= semantic.THRESHOLD_WITH_WORDS and signals.get("title_shared_info", 0.0) >= SEMANTIC_SHARED_INFO
    ):
        return None
    if _numbers_differ(a, b) or _contradicts(ta, tb) or _names_contradict(a.title_names, b.title_names):
        return None
    return Match(round(cos, 3), "semantic-headline", {**signals, "headline_cosine": round(cos, 3)})


def _numbers_differ(a: Fingerprint, b: Fingerprint) -> bool:
    """Both headlines carry numbers, not the same ones: a template's instances ("Story number 3",
    "FTSE update 11.30am"), not variants of one story."""
    numbers_a = {t for t in a.title if t[:1].isdigit()}
    numbers_b = {t for t in b.title if t[:1].isdigit()}
    return bool(numbers_a and numbers_b and numbers_a != numbers_b)


def _headline_names(fp: Fingerprint) -> tuple[str, ...]:
    """The names of a headline for one source's headline rules: those of a sentence-case headline, or of a
    name-heavy one with a lowercase content word (fingerprints._title_proper). Only there: at the event
    level and across sources, the wider reading cost ECB+ event precision (0.9955 -> 0.9737) and UCI
    recall (0.156 -> 0.150) in bench/similarity_offline.py."""
    return fp.title_names or fp.title_proper


def _names_contradict(na: tuple[str, ...], nb: tuple[str, ...]) -> bool:
    """Each sentence-case headline names someone or somewhere the other does not."""
    sa, sb = set(na), set(nb)
    return bool(sa - sb) and bool(sb - sa)


def _near_headlines(
    a: Fingerprint,
    b: Fingerprint,
    ta: set[str],
    tb: set[str],
    title_sim: float,
    title_shared: float,
    hours: float | None,
) -> bool:
    """Headline-only, from any source: a lower wording bar (NEAR_HEADLINE_SIM) for items published
    within CLOSE_HOURS of each other, with the guards of the same-source rules (names, numbers).

    A/B variants of one post go out within hours and keep half their informative words ("What
    Happens When A Non Dog-Person Meets A Pit Bull For The First Time?" / "... Meets A Pitbull For
    The 1st Time?" across two outlets). Cross-source pairs are two thirds of upworthy's variant
    pairs. At 0.45 (bench/similarity_offline.py) UCI's day of headlines chained into large stories
    (pairwise P 0.966 -> 0.909); at 0.5 its precision held (0.966) and its B-cubed F1 rose 0.17 -> 0.27.
    """
    return bool(
        hours is not None
        and hours <= CLOSE_HOURS
        and min(len(ta), len(tb)) >= MIN_TITLE_CONTENT
        and title_sim >= NEAR_HEADLINE_SIM
        and title_shared >= MIN_TITLE_SHARED_INFO
        and not _contradicts(ta, tb)
        and not _names_contradict(a.title_names, b.title_names)
        and not _numbers_differ(a, b)
    )


def _close_contradicts(ta: set[str], tb: set[str]) -> bool:
    """``_contradicts`` for headline-close, where the headlines already share a rare word.

    Own rare words contradict only when either headline has more of them than
    the two share. One source's variants swap in a rare word or two of their
    own around the shared subject ("A Gay Pasta Commercial" / "Hey, Barilla: A
    Pasta Ad With A 'Homosexual Family'"; UCI: "UPDATE 1-UniCredit Bank Austria
    in sale talks on Ukraine unit" / "Bank Austria may sell Ukraine unit");
    two people's stories still name two of their own each against one shared
    word ("Tara Reid enters rehab" / "Lindsay Lohan enters rehab").
    """
    if not _contradicts(ta, tb):
        return False
    shared = sum(1 for w in ta & tb if idf(w) >= RARE_IDF)
    own_a = sum(1 for w in ta - tb if idf(w) >= RARE_IDF)
    own_b = sum(1 for w in tb - ta if idf(w) >= RARE_IDF)
    return shared < max(own_a, own_b)


def _contradicts(ta: set[str], tb: set[str]) -> bool:
    """Both headlines have a rare word of their own ("Tara Reid" vs "Lindsay Lohan")."""
    only_a = any(idf(w) >= RARE_IDF for w in ta - tb)
    only_b = any(idf(w) >= RARE_IDF for w in tb - ta)
    return only_a and only_b


def _name_vector(fp: Fingerprint) -> dict[str, float]:
    # Memoised per fingerprint, like the vectors: the same-event check of related links asks for them per pair.
    return _derived(fp, "name_vector", lambda: _make_name_vector(fp))


def _make_name_vector(fp: Fingerprint) -> dict[str, float]:
    if not fp.body:
        # Only a headline (a feed that carries the first sentence alone): the
        # names of a sentence-case headline are all it says about who and where.
        return {n: idf(n) for n in fp.title_names if idf(n) >= MIN_KEY_IDF}
    return {
        n: (1.0 + math.log(c)) * idf(n) for n, c in zip(fp.names, fp.name_counts, strict=False) if idf(n) >= MIN_KEY_IDF
    }


def _undated_against_dated(a: Fingerprint, b: Fingerprint) -> bool:
    """One article dates its lead with a year, the other names no year at all.

    Then the years cannot say whether it is the same event or the same kind
    of event another year (Microsoft's emergency Internet Explorer patch of
    2008 and of 2013, told in the same words).
    """
    return bool((a.lead_years and not b.years) or (b.lead_years and not a.years))


def _years_contradict(a: Fingerprint, b: Fingerprint) -> bool:
    """Both articles mention years and none in common: two events of one kind."""
    return bool(a.years and b.years and not set(a.years) & set(b.years))


def _differ(x: tuple[str, ...], y: tuple[str, ...]) -> bool:
    """Both say something and nothing in common."""
    return bool(x and y and not set(x) & set(y))


def _entity_map(fp: Fingerprint) -> dict[str, float]:
    return _derived(fp, "entity_map", lambda: _make_entity_map(fp))


def _make_entity_map(fp: Fingerprint) -> dict[str, float]:
    return dict(zip(fp.entities, fp.entity_weights, strict=False))


def _own_main_entities(x: Fingerprint, y: dict[str, float]) -> list[str]:
    """Main names of ``x`` that ``y`` mentions only in passing, or not at all."""
    return [
        n
        for n, w in zip(x.entities[:MAIN_ENTITIES], x.entity_weights[:MAIN_ENTITIES], strict=False)
        if w >= MAIN_ENTITY_WEIGHT and y.get(n, 0.0) <= PASSING_ENTITY_WEIGHT
    ]


def _main_entities_contradict(a: Fingerprint, b: Fingerprint) -> bool:
    """Each article is about someone or somewhere the other only mentions in passing."""
    return bool(_own_main_entities(a, _entity_map(b)) and _own_main_entities(b, _entity_map(a)))


def _main_entities_agree(a: Fingerprint, b: Fingerprint) -> bool:
    """The heaviest names of each article weigh in the other one too."""
    if len(a.entities) < AGREE_ENTITIES or len(b.entities) < AGREE_ENTITIES:
        return False
    ma, mb = _entity_map(a), _entity_map(b)
    return all(mb.get(n, 0.0) >= AGREE_ENTITY_WEIGHT for n in a.entities[:AGREE_ENTITIES]) and all(
        ma.get(n, 0.0) >= AGREE_ENTITY_WEIGHT for n in b.entities[:AGREE_ENTITIES]
    )


def _close_text(a: Fingerprint, b: Fingerprint) -> bool:
    """Text and names alike well beyond the event bar: paraphrases of one report."""
    return _cosine(_vector(a), _vector(b)) + _cosine(_name_vector(a), _name_vector(b)) >= EVENT_CLOSE_SUM


def _years_one_sided(a: Fingerprint, b: Fingerprint) -> bool:
    """One article mentions a year somewhere, the other mentions none.

    A report that looks back ("the second emergency patch since 2008") or
    dates itself ("04 / 28 / 09 ... 2009") against one that never does: often
    the later event of a topic against the earlier one. ECB+ topic 27, the
    2013 Internet Explorer patch citing 2008 and 2012 against the 2008 reports
    (text + name cosine 0.63-0.78, both agreeing on Microsoft and Internet
    Explorer), and topic 9, Obama's 2009 reversal against the Bush rule of
    2008 (0.72): each such link chained two events into one story.
    """
    return bool(a.years) != bool(b.years)


def _event_veto(a: Fingerprint, b: Fingerprint) -> str:
    """Why ``a`` and ``b`` are two events of one kind ("" when nothing says so)."""
    if _years_contradict(a, b):
        return "years"
    if _differ(a.lead_days, b.lead_days):
        return "weekdays"
    if _differ(a.ages, b.ages):
        return "ages"
    if _differ(a.scores, b.scores):
        return "scores"
    # Two reports of one event paraphrase each other and weigh secondary names
    # differently ("Malibu" in one headline, "Tara" in the other): text and names
    # that agree well beyond the bar (EVENT_CLOSE_SUM) say it is no contradiction.
    # Required agreement on the two heaviest names as well before; with it ECB+
    # lost 280 same-event pairs to this veto (23 of other events), among them
    # whole reports left alone (ECB+ topic 33: text + name cosine 1.39).
    if _main_entities_contradict(a, b) and not _close_text(a, b):
        return "main-names"
    return ""


def _compare_event(a: Fingerprint, b: Fingerprint) -> Match | None:
    if not a.body and not b.body:
        # Two headlines alone: the article rules said all they can (a day of
        # headlines shares names across events all the time).
        return None
    va, vb = _vector(a), _vector(b)
    if _vector_info(a) < MIN_EVENT_INFO or _vector_info(b) < MIN_EVENT_INFO:
        return None
    cos = _cosine(va, vb)
    # Who and where: the names, weighted by how often each article repeats them,
    # so that a name one article only mentions in passing (an earlier, similar
    # event) counts little.
    name_cos = _cosine(_name_vector(a), _name_vector(b))
    if cos < EVENT_SIM or name_cos < EVENT_NAME_SIM:
        return None
    agree = _main_entities_agree(a, b)
    if cos + name_cos < (EVENT_AGREE_SUM if agree else EVENT_SUM):
        return None
    if _undated_against_dated(a, b) and cos + name_cos < EVENT_UNDATED_SUM:
        return None
    if _years_one_sided(a, b) and cos + name_cos < EVENT_ONE_SIDED_SUM:
        return None
    if _event_veto(a, b):
        return None
    signals = {
        "text_cosine": round(cos, 3),
        "name_cosine": round(name_cos, 3),
        "main_names_agree": agree,
        "years_a": list(a.years)[:5],
        "years_b": list(b.years)[:5],
    }
    return Match(round((cos + name_cos) / 2, 3), "event", signals)


# ----------------------------------------------------------------------------
# index keys


def _key_hash(prefix: str, text: str) -> str:
    return prefix + hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


def index_keys(fp: Fingerprint, level: str = "article") -> frozenset[str]:
    """Short keys; candidates for an article are stored articles sharing one of them.

    * ``u:`` the canonical URL, ``h:`` the body hash (informative bodies only);
    * ``b:`` bottom-k of the body's word 3-shingles (by a fixed hash): a body
      cut short keeps its smallest shingles with high probability, so
      containment survives truncation; shingles made only of stop words are
      skipped so that no key is shared by everyone;
    * ``t:`` the rarest words of the headline (never a common word);
    * ``e:`` (event level) the rarest names and words of the body.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    # Asked for twice per new article (its candidates, then its postings): computed once.
    return _derived(fp, "keys:" + level, lambda: _index_keys(fp, level))


def _index_keys(fp: Fingerprint, level: str) -> frozenset[str]:
    keys: set[str] = set()
    if fp.url and _url_is_specific(fp.url):
        keys.add(_key_hash("u:", fp.url))
    cls = _body_class(fp)
    if fp.body_hash and _body_content(fp):
        keys.add("h:" + fp.body_hash)
    if cls:
        # a body cut short keeps its beginning
        keys.add(_key_hash("p:", " ".join(fp.body[:PREFIX_KEY_TOKENS])))
    if cls == 2:
        hashed = sorted(_key_hash("b:", " ".join(s)) for s in _body_shingles(fp) if not _all_stop(s))
        keys.update(hashed[:BODY_KEYS])
    keys.update("t:" + w for w in _rarest(_title_content(fp), TITLE_KEYS))
    if fp.title_vec:
        from syndicator import semantic

        keys.update(semantic.embedding_keys(base64.b64decode(fp.title_vec), semantic.BANDS, semantic.BITS))
    if level == "event":
        keys.update("e:" + w for w in [n for n in fp.names if idf(n) >= MIN_KEY_IDF][:EVENT_KEYS])
    return frozenset(keys)


def _all_stop(toks: tuple[str, ...]) -> bool:
    """No content word among ``toks`` (what ``not _content(toks)`` says, without building the set)."""
    return not any(t not in STOPWORDS and (len(t) > 1 or t.isdigit()) for t in toks)


def _rarest(words: set[str], k: int) -> list[str]:
    ranked = sorted((w for w in words if idf(w) >= MIN_KEY_IDF), key=lambda w: (-idf(w), w))
    return ranked[:k]
