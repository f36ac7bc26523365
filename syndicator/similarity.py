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

Pipeline: ``fingerprint(doc)`` normalises an article once (quotes, dashes,
entities, ``&nbsp;``, boilerplate, ellipsis truncation) into a JSON-able
:class:`Fingerprint`; ``index_keys(fp)`` gives a few short keys to find
candidates in SQL; ``compare(a, b)`` gives a :class:`Match` or ``None``.

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

Two articles that agree on their two main names need less word overlap than
two that do not. Every article match is also an event match.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from syndicator.similarity_idf import DOC_COUNT, DOC_FREQ
from syndicator.urls import canonical_url

__all__ = [
    "Doc",
    "Fingerprint",
    "Match",
    "compare",
    "fingerprint",
    "fingerprint_from_dict",
    "fingerprint_to_dict",
    "index_keys",
    "normalise_text",
    "tokens",
]

LEVELS = ("article", "event")
FINGERPRINT_VERSION = 5

# --- thresholds (one default configuration; see bench/similarity_offline.py) ---
MAX_BODY_TOKENS = 400  # a fingerprint keeps the first N body tokens
# A body that can carry a match on its own: enough distinct content words and idf mass.
MIN_BODY_CONTENT = 5
MIN_BODY_INFO = 28.0
# A short body (a one-line lede) that may support a headline, never alone.
MIN_SHORT_CONTENT = 3
MIN_SHORT_INFO = 15.0
BODY_CONTAINMENT = 0.70  # body match: 3-shingle containment
MIN_SHARED_INFO = 24.0  # ... and the shared part is informative too
SAME_SHORT_BODY = 0.90  # short bodies: (almost) the same text
SHORT_BODY_TITLE_INFO = 3.0  # ... plus a shared headline word of at least this weight
SHORT_BODY_MAX_HOURS = 24.0  # ... published this close (when both dates are known)
SAME_BODY_MAX_HOURS = 12.0  # the same line, however generic, published this close (dates known)
PARTIAL_BODY = 0.30  # headline+body: bodies agree at least this much
HB_TITLE_SIM = 0.40  # ... and headlines at least this similar
HEADLINE_SIM = 0.60  # headline-only: weighted Jaccard of headline words
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
EVENT_CLOSE_SUM = 1.4  # ... and with this much, agreeing main names outweigh a secondary name's weight
EVENT_SUM = 0.85  # event: text cosine + name cosine, at least
EVENT_AGREE_SUM = 0.50  # ... or this much when both agree on their main names
EVENT_UNDATED_SUM = 1.2  # ... or this much when one dates its lead with a year and the other names no year
MIN_EVENT_INFO = 40.0  # event: informative text on both sides
ENTITY_KEEP = 24  # a fingerprint keeps the N heaviest entities
ENTITY_TITLE_WEIGHT = 3.0  # entity profile: a mention in the headline counts this much,
ENTITY_LEAD_WEIGHT = 2.0  # ... one in the first ENTITY_LEAD_SENTENCES sentences this much, later ones 1
ENTITY_LEAD_SENTENCES = 3
MAIN_ENTITIES = 4  # main names: among the N heaviest, ...
MAIN_ENTITY_WEIGHT = 0.6  # ... at least this share of the heaviest one's weight
PASSING_ENTITY_WEIGHT = 0.3  # a name the other article weighs at most this much: passing mention
AGREE_ENTITIES = 2  # agreement: the N heaviest names of each ...
AGREE_ENTITY_WEIGHT = 0.2  # ... weigh at least this much in the other article
LEAD_DAY_SENTENCES = 2  # weekdays: named in the headline and the first N sentences

PREFIX_KEY_TOKENS = 8  # the first N body tokens as one key
BODY_KEYS = 8  # bottom-k body shingle keys
TITLE_KEYS = 6  # rarest headline words as keys
EVENT_KEYS = 8  # most frequent rare names of the body, event level only
MIN_KEY_IDF = 5.0  # never a key for a common word

_MAX_IDF = math.log((DOC_COUNT + 1) / 1.0)


# ----------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class Doc:
    """One article, already normalised by the parser."""

    title: str
    body: str
    url: str
    published: datetime | None
    source: str
    # The headline's sentence embedding (syndicator.semantic's encoding) when
    # the optional semantic extra is installed; None otherwise.
    title_vec: bytes | None = None


@dataclass(frozen=True)
class Fingerprint:
    """Everything :func:`compare` and :func:`index_keys` need about one article."""

    title: tuple[str, ...]  # stemmed lower-case headline tokens
    body: tuple[str, ...]  # stemmed lower-case body tokens (first MAX_BODY_TOKENS)
    names: tuple[str, ...]  # capitalised words inside body sentences, most frequent first
    name_counts: tuple[int, ...]  # how often each of ``names`` occurs (headline mentions count too)
    years: tuple[str, ...]  # years (1950-2049) the headline and body mention, sorted
    body_truncated: bool  # the body was cut short ("…", "[...]")
    body_hash: str  # hash of the normalised body ("" when empty)
    url: str  # canonical URL ("" if none)
    published: str  # ISO 8601 UTC, "" if unknown
    source: str
    version: int = FINGERPRINT_VERSION
    # Names in a sentence-case headline ("Tara Reid enters rehab"); empty for
    # Title Case headlines, where capitals say nothing.
    title_names: tuple[str, ...] = ()
    title_vec: str = ""  # base64 of the headline's embedding ("" without the semantic extra)
    # Entity profile (event level): names (stemmed), the heaviest first, and
    # their weights relative to the heaviest one (headline and first sentences
    # count more than passing mentions later on). Empty for older fingerprints.
    entities: tuple[str, ...] = ()
    entity_weights: tuple[float, ...] = ()
    lead_days: tuple[str, ...] = ()  # weekdays named in the headline and first sentences
    lead_years: tuple[str, ...] = ()  # years named in the headline and first sentences
    ages: tuple[str, ...] = ()  # "33" of "33-year-old", sorted
    scores: tuple[str, ...] = ()  # "24-31" of "31-24" (lower first), sorted


@dataclass(frozen=True)
class Match:
    score: float
    kind: str
    signals: dict


# ----------------------------------------------------------------------------
# normalisation

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u200a": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u200b": "",
        "\u200c": "",
        "\u200d": "",
        "\ufeff": "",
        "\u00ad": "",
        "\u2026": "...",
    }
)
_WS_RE = re.compile(r"\s+")
_BOILERPLATE_RE = re.compile(
    r"(?:\bthe post\b.{0,500}?\bappeared first on\b.{0,200}"
    r"|\b(?:continue reading|read more|read the full (?:story|article|post)|"
    r"click here to read|the article .{0,300}? was originally published on)\b.{0,200})$",
    re.IGNORECASE | re.DOTALL,
)
_TRUNCATION_RE = re.compile(r"(?:\[\s*(?:\.\.\.|\u2026)\s*\]|\(\s*\.\.\.\s*\)|\.\.\.|\u2026)\s*$")
_TOKEN_RE = re.compile(r"[0-9a-z]+(?:'[0-9a-z]+)*")
_CAP_RE = re.compile(r"[A-Z][A-Za-z0-9']*")
_SENTENCE_END_RE = re.compile(r"[.!?:;\"]\s*$")

_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each either else ever every
    few for from further get gets got had has have having he her here hers herself him himself his
    how i if in into is it its itself just let like made make many may me might more most much must
    my myself new no nor not now of off on once one only or other our ours ourselves out over own
    per said same say says she should so some such than that the their theirs them themselves then
    there these they this those through thus to too under until up upon us very via was we were what
    when where whether which while who whom whose why will with within without would yet you your
    yours yourself yourselves s t re ve ll d m don doesn didn isn wasn aren weren won wouldn shouldn
    couldn can't cant dont im ive youre thats theres whats
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def normalise_text(text: str) -> str:
    """Typography-insensitive text: entities, NFKC, straight quotes, plain dashes, one space."""
    text = html.unescape(text or "")
    text = unicodedata.normalize("NFKC", text.translate(_TRANSLATE)).translate(_TRANSLATE)
    return _WS_RE.sub(" ", text).strip()


def _stem(word: str) -> str:
    """A deliberately light suffix stripper (plural, -ed, -ing)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ing") and len(word) >= 6:
        word = word[:-3]
    elif word.endswith("ed") and len(word) >= 5:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("e") and len(word) >= 5:  # smoke, smoked, smoking -> smok
        word = word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """Lower-case, stemmed word tokens of already normalised text."""
    memo = _STEM_MEMO
    out = []
    for raw in _TOKEN_RE.findall(text.lower()):
        token = memo.get(raw)
        if token is None:
            token = _stem((raw[:-2] if raw.endswith("'s") else raw).replace("'", ""))
            if len(memo) < _MEMO_MAX:
                memo[raw] = token
        out.append(token)
    return out


def _word_tokens(word: str) -> tuple[str, ...]:
    """``tokens`` of one word of a text, memoised: the entity profile and the names ask for every word."""
    found = _WORD_MEMO.get(word)
    if found is None:
        found = tuple(tokens(word))
        if len(_WORD_MEMO) < _MEMO_MAX:
            _WORD_MEMO[word] = found
    return found


# Stemming word by word was two thirds of fingerprint()'s time (cProfile, 200 generated items of
# bench/scale_feeds.py: 73,688 calls of tokens() for 200 items): a word's stem never changes, and a
# stream's vocabulary is small, so each distinct word is stemmed once per process (bounded memos).
_STEM_MEMO: dict[str, str] = {}
_WORD_MEMO: dict[str, tuple[str, ...]] = {}
_MEMO_MAX = 300_000


def _strip_body(body: str, title: str) -> tuple[str, bool]:
    """Remove appended boilerplate and a trailing ellipsis; say whether the body was cut."""
    text = normalise_text(body)
    for _ in range(3):
        stripped = _BOILERPLATE_RE.sub("", text).strip()
        if stripped == text:
            break
        text = stripped
    truncated = False
    m = _TRUNCATION_RE.search(text)
    if m:
        truncated = True
        text = text[: m.start()].rstrip()
    # A description that only repeats the headline says nothing of its own.
    if title and tokens(text) == tokens(title):
        return "", False
    return text, truncated


def _title_names(title: str) -> tuple[str, ...]:
    """Capitalised words of a sentence-case headline, from the second word on.

    In a Title Case Headline Every Word Is Capitalised, so nothing is taken.
    """
    words = [w.strip("\"'()[]{}*,.;:!?\u2018\u2019\u201c\u201d") for w in title.split()]
    longer = [w for w in words[1:] if len(w) > 3]
    if not longer or sum(1 for w in longer if w[:1].isupper()) > len(longer) / 2:
        return ()
    out = [t for w in words[1:] if w and _CAP_RE.fullmatch(w) for t in tokens(w) if t not in STOPWORDS]
    return tuple(dict.fromkeys(out))


def _names(text: str) -> list[str]:
    """Capitalised words that do not start a sentence: a cheap stand-in for names."""
    out = []
    words = text.split(" ")
    prev = ""
    for i, w in enumerate(words):
        core = w.strip("\"'()[]{}*,.;:!?")
        if core and _CAP_RE.fullmatch(core) and i > 0 and not _SENTENCE_END_RE.search(prev):
            for t in _word_tokens(core):
                if t not in STOPWORDS and len(t) > 1:
                    out.append(t)
        prev = w
    return out


def _ranked_names(names: list[str], title: list[str] = ()) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Distinct names, the most frequent first (ties by name), at most 64, and their counts.

    A headline word that is a name in the body counts once more: the headline
    says whom the story is about.
    """
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    for t in set(title):
        if t in counts:
            counts[t] += 1
    ranked = sorted(counts, key=lambda n: (-counts[n], n))[:64]
    return tuple(ranked), tuple(counts[n] for n in ranked)


_YEAR_RE = re.compile(r"(?<![\d$])(?<!\d[,.])(?:19[5-9]\d|20[0-4]\d)(?!\d|[,.]\d)")


def _years(text: str) -> tuple[str, ...]:
    return tuple(sorted(set(_YEAR_RE.findall(text))))


_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])|\s*\n\s*")
_ENTITY_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*|[.!?]")
_ENTITY_NOISE = frozenset(
    _stem(w)
    for w in """
    et pm am gmt est edt pst pdt cst cdt ist bst utc cet updated posted published last update by photo
    video ap reuters afp jan feb mar apr may jun jul aug sep sept oct nov dec january february march
    april june july august september october november december monday tuesday wednesday thursday
    friday saturday sunday mr mrs ms dr st
    """.split()
)
_WEEKDAY_RE = re.compile(r"\b(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day\b")
_AGE_RE = re.compile(r"\b(\d{1,3})\s*-\s*years?\s*-\s*old\b", re.IGNORECASE)
_SCORE_RE = re.compile(r"(?<![\d.,:/-])(\d{1,3})\s*-\s*(\d{1,3})(?![\d.,:/-])")


def _sentences(body: str, title: str) -> list[str]:
    """Normalised sentences of a body (line breaks and sentence ends), without a copy of the headline."""
    text = html.unescape(body or "").translate(_TRANSLATE)
    out = [normalise_text(s) for s in _SENTENCE_SPLIT_RE.split(text)]
    out = [s for s in out if s]
    if out and tokens(out[0]) == tokens(title):
        out = out[1:]
    return out


def _entity_profile(title: str, sentences: list[str]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Who and where an article is about, the heaviest first, weights relative to the heaviest.

    A name is a word capitalised inside a body sentence and never written in
    lower case in the article ("Reid", "Chargers"; not "Police" if the text
    also says "police"). Every capitalised mention counts: ENTITY_TITLE_WEIGHT
    in the headline, ENTITY_LEAD_WEIGHT in the first sentences, 1 later on.
    """
    parts = [(title, ENTITY_TITLE_WEIGHT, True)] + [
        (s, ENTITY_LEAD_WEIGHT if i < ENTITY_LEAD_SENTENCES else 1.0, False) for i, s in enumerate(sentences)
    ]
    lower: set[str] = set()
    capitalised_inside: set[str] = set()
    mentions: list[tuple[str, float]] = []
    runs: list[list[str]] = []  # runs of capitalised words ("Tara Reid", "Betty Ford Center")
    for text, weight, is_title in parts:
        initial = True
        run: list[str] = []
        for word in _ENTITY_WORD_RE.findall(text):
            if word in ".!?":
                initial = True
                runs.append(run)
                run = []
                continue
            cap = word[0].isupper()
            if not cap:
                runs.append(run)
                run = []
            for t in _word_tokens(word):
                if t in STOPWORDS or t in _ENTITY_NOISE or len(t) < 2:
                    continue
                if not cap:
                    lower.add(t)
                    continue
                run.append(t)
                if not initial and not is_title and not word.isupper():
                    capitalised_inside.add(t)
                mentions.append((t, weight))
            initial = False
        runs.append(run)
    names = capitalised_inside - lower
    # A word next to a name in one run of capitals is part of that name
    # ("Tara" of "Tara Reid", even when "Tara" only ever starts a sentence).
    for run in runs:
        if len(run) > 1 and any(t in names for t in run):
            names.update(t for t in run if t not in lower)
    weights: dict[str, float] = {}
    for t, w in mentions:
        if t in names:
            weights[t] = weights.get(t, 0.0) + w
    if not weights:
        return (), ()
    top = max(weights.values())
    ranked = sorted(weights, key=lambda n: (-weights[n], n))[:ENTITY_KEEP]
    return tuple(ranked), tuple(round(weights[n] / top, 3) for n in ranked)


def _lead_days(title: str, sentences: list[str]) -> tuple[str, ...]:
    text = " ".join([title, *sentences[:LEAD_DAY_SENTENCES]])
    return tuple(sorted({d.lower() for d in _WEEKDAY_RE.findall(text)}))


def _ages(text: str) -> tuple[str, ...]:
    return tuple(sorted({str(int(a)) for a in _AGE_RE.findall(text)}))


def _scores(text: str) -> tuple[str, ...]:
    out = set()
    for x, y in _SCORE_RE.findall(text):
        lo, hi = sorted((int(x), int(y)))
        if hi >= 5:
            out.add(f"{lo}-{hi}")
    return tuple(sorted(out))


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


# ----------------------------------------------------------------------------
# fingerprint


def fingerprint(doc: Doc) -> Fingerprint:
    """Normalise one article into the fingerprint that :func:`compare` reads."""
    title_text = normalise_text(doc.title)
    body_text, truncated = _strip_body(doc.body, title_text)
    body_toks = tokens(body_text)
    if truncated and body_toks:
        body_toks = body_toks[:-1]  # the last word may be cut in half
    body_toks = body_toks[:MAX_BODY_TOKENS]
    published = ""
    if doc.published is not None:
        published = doc.published.isoformat()
    title_toks = tokens(title_text)
    names, name_counts = _ranked_names(_names(body_text), title_toks)
    sentences = _sentences(doc.body, title_text) if body_text else []
    entities, entity_weights = _entity_profile(title_text, sentences)
    return Fingerprint(
        title=tuple(title_toks),
        body=tuple(body_toks),
        names=names,
        name_counts=name_counts,
        years=_years(title_text + " . " + body_text),
        title_names=_title_names(title_text),
        title_vec=base64.b64encode(doc.title_vec).decode("ascii") if doc.title_vec else "",
        entities=entities,
        entity_weights=entity_weights,
        lead_days=_lead_days(title_text, sentences),
        lead_years=_years(" . ".join([title_text, *sentences[:LEAD_DAY_SENTENCES]])),
        ages=_ages(title_text + " . " + body_text),
        scores=_scores(title_text + " . " + body_text),
        body_truncated=truncated,
        body_hash=_hash(" ".join(body_toks)) if body_toks else "",
        url=canonical_url(doc.url),
        published=published,
        source=doc.source or "",
    )


def fingerprint_to_dict(fp: Fingerprint) -> dict:
    """A JSON-able dict; :func:`fingerprint_from_dict` reads it back."""
    return {
        "v": fp.version,
        "title": list(fp.title),
        "body": list(fp.body),
        "names": list(fp.names),
        "name_counts": list(fp.name_counts),
        "years": list(fp.years),
        "title_names": list(fp.title_names),
        "title_vec": fp.title_vec,
        "entities": list(fp.entities),
        "entity_weights": list(fp.entity_weights),
        "lead_days": list(fp.lead_days),
        "lead_years": list(fp.lead_years),
        "ages": list(fp.ages),
        "scores": list(fp.scores),
        "body_truncated": fp.body_truncated,
        "body_hash": fp.body_hash,
        "url": fp.url,
        "published": fp.published,
        "source": fp.source,
    }


def fingerprint_from_dict(d: dict) -> Fingerprint:
    return Fingerprint(
        title=tuple(d.get("title", ())),
        body=tuple(d.get("body", ())),
        names=tuple(d.get("names", ())),
        name_counts=tuple(int(c) for c in d.get("name_counts", ())) or (1,) * len(d.get("names", ())),
        years=tuple(d.get("years", ())),
        title_names=tuple(d.get("title_names", ())),
        title_vec=str(d.get("title_vec", "")),
        entities=tuple(d.get("entities", ())),
        entity_weights=tuple(float(w) for w in d.get("entity_weights", ())),
        lead_days=tuple(d.get("lead_days", ())),
        lead_years=tuple(d.get("lead_years", ())),
        ages=tuple(d.get("ages", ())),
        scores=tuple(d.get("scores", ())),
        body_truncated=bool(d.get("body_truncated", False)),
        body_hash=str(d.get("body_hash", "")),
        url=str(d.get("url", "")),
        published=str(d.get("published", "")),
        source=str(d.get("source", "")),
        version=int(d.get("v", FINGERPRINT_VERSION)),
    )


# ----------------------------------------------------------------------------
# features


def idf(word: str) -> float:
    """Fixed inverse document frequency; words absent from the table count as rare."""
    value = _IDF_MEMO.get(word)
    if value is None:
        df = DOC_FREQ.get(word)
        value = _MAX_IDF if df is None else math.log((DOC_COUNT + 1) / (df + 1))
        if len(_IDF_MEMO) < _IDF_MEMO_MAX:
            _IDF_MEMO[word] = value
    return value


# idf() runs for every content word of both articles of every comparison: a py-spy profile of a cold
# refresh of 40 × 50 generated items (bench/scale_run.py) spent 13% of its time in the logarithm alone.
_IDF_MEMO: dict[str, float] = {}
_IDF_MEMO_MAX = 500_000


def _content(toks: tuple[str, ...] | list[str]) -> set[str]:
    return {t for t in toks if t not in STOPWORDS and (len(t) > 1 or t.isdigit())}


def _derived(fp: Fingerprint, name: str, make):  # the value's type depends on ``name``
    """A value derived from ``fp`` alone, computed once per Fingerprint object.

    One new article is compared with each of its candidates (often dozens), and the same sets were
    rebuilt for every comparison: half of a cold refresh's time in the profile that forced this.
    Fingerprints are frozen, so the memo (kept outside the dataclass fields: equality, hashing and
    ``fingerprint_to_dict`` never see it) can never go stale.
    """
    memo = fp.__dict__.get("_memo")
    if memo is None:
        memo = {}
        object.__setattr__(fp, "_memo", memo)
    value = memo.get(name)
    if value is None:
        value = memo[name] = make()
    return value


def _title_content(fp: Fingerprint) -> set[str]:
    return _derived(fp, "title_content", lambda: _content(fp.title))


def _body_content(fp: Fingerprint) -> set[str]:
    return _derived(fp, "body_content", lambda: _content(fp.body))


def _body_shingles(fp: Fingerprint) -> set[tuple[str, ...]]:
    return _derived(fp, "body_shingles", lambda: _shingles(fp.body))


def _info(words: set[str]) -> float:
    return sum(idf(w) for w in words)


def _shingles(toks: tuple[str, ...], n: int = 3) -> set[tuple[str, ...]]:
    if len(toks) < n:
        return {tuple(toks)} if toks else set()
    # The same tuples, inserted in the same order, as slicing toks at every offset, at half the cost (a stored
    # candidate's shingles are rebuilt whenever its fingerprint is decoded again: warm-incremental refreshes).
    return set(zip(*(toks[i:] for i in range(n)), strict=False))


def _body_class(fp: Fingerprint) -> int:
    """2: informative body, 1: a short line that may support a headline, 0: nothing."""
    return _derived(fp, "body_class", lambda: _classify_body(fp))


def _classify_body(fp: Fingerprint) -> int:
    words = _body_content(fp)
    info = _info(words)
    if len(words) >= MIN_BODY_CONTENT and info >= MIN_BODY_INFO:
        return 2
    if len(words) >= MIN_SHORT_CONTENT and info >= MIN_SHORT_INFO:
        return 1
    return 0


def body_informative(fp: Fingerprint) -> bool:
    """A body that can carry a match on its own: not empty, not a short or generic line."""
    return _body_class(fp) == 2


def _weighted_jaccard(a: set[str], b: set[str]) -> tuple[float, float]:
    union = _info(a | b)
    shared = _info(a & b)
    return (shared / union if union else 0.0), shared


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(w * b[k] for k, w in a.items() if k in b)
    na = math.sqrt(sum(w * w for w in a.values()))
    nb = math.sqrt(sum(w * w for w in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def _vector(fp: Fingerprint) -> dict[str, float]:
    # Memoised, like the word sets above (never mutated by a caller): a related-story link's same-event check
    # (relate.with_event) rebuilt both articles' vectors for every pair, a tenth of a cold refresh's time
    # (py-spy of bench/scale_replay.py, 40 x 50).
    return _derived(fp, "vector", lambda: _make_vector(fp))


def _vector_info(fp: Fingerprint) -> float:
    return _derived(fp, "vector_info", lambda: _info(set(_vector(fp))))


def _make_vector(fp: Fingerprint) -> dict[str, float]:
    counts: dict[str, int] = {}
    for t in fp.title + fp.body:
        if t not in STOPWORDS and len(t) > 1:
            counts[t] = counts.get(t, 0) + 1
    return {t: (1.0 + math.log(c)) * idf(t) for t, c in counts.items()}


def hours_apart(a: Fingerprint, b: Fingerprint) -> float | None:
    """Hours between the two publication times; None when either is unknown."""
    if not a.published or not b.published:
        return None
    try:
        da = datetime.fromisoformat(a.published)
        db = datetime.fromisoformat(b.published)
    except ValueError:
        return None
    return abs((da - db).total_seconds()) / 3600.0


def _url_is_specific(url: str) -> bool:
    path = url.split("/", 1)[1] if "/" in url else ""
    return len(path.strip("/")) >= 4 or "?" in url


# ----------------------------------------------------------------------------
# compare


def compare(a: Fingerprint, b: Fingerprint, level: str = "article") -> Match | None:
    """Are ``a`` and ``b`` the same story? ``None`` when not.

    Symmetric and deterministic; depends on ``a`` and ``b`` only. ``level`` is
    ``"article"`` (variants of one article) or ``"event"`` (also different
    articles on the same event; a superset of the article matches).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    m = _compare_article(a, b)
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
    # Headline variants (A/B tests, rewrites) of one source go out within
    # hours of each other and share a rare word or two (a name), not the
    # wording: a lower bar on the words for a tight bar on time and source.
    # Not across sources: two outlets covering one topic within hours share
    # such words all the time (the UCI and STS checks chain or merge then).
    if (
        a.source
        and a.source == b.source
        and hours is not None
        and hours <= CLOSE_HOURS
        and title_shared >= CLOSE_TITLE_INFO
        and any(idf(w) >= RARE_IDF for w in ta & tb)
        and not _contradicts(ta, tb)
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
        and not _names_contradict(a.title_names, b.title_names)
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


def _names_contradict(na: tuple[str, ...], nb: tuple[str, ...]) -> bool:
    """Each sentence-case headline names someone or somewhere the other does not."""
    sa, sb = set(na), set(nb)
    return bool(sa - sb) and bool(sb - sa)


def _contradicts(ta: set[str], tb: set[str]) -> bool:
    """Both headlines have a rare word of their own ("Tara Reid" vs "Lindsay Lohan")."""
    only_a = any(idf(w) >= RARE_IDF for w in ta - tb)
    only_b = any(idf(w) >= RARE_IDF for w in tb - ta)
    return only_a and only_b


def _name_vector(fp: Fingerprint) -> dict[str, float]:
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
    # differently ("Malibu" in one headline, "Tara" in the other): when both
    # articles' heaviest names weigh in the other too, that is no contradiction.
    if _main_entities_contradict(a, b) and not (_main_entities_agree(a, b) and _close_text(a, b)):
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
