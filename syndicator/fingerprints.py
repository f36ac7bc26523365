"""Fingerprints of articles: normalisation, tokens, names and the features compared.

``fingerprint(doc)`` normalises one article once (quotes, dashes, entities,
``&nbsp;``, appended boilerplate, ellipsis truncation) into a JSON-able
:class:`Fingerprint`: stemmed headline and body tokens, names and an entity
profile (who and where, headline and lead weighted above passing mentions),
years, weekdays, ages and scores of the lead. The helpers below derive, once per
fingerprint, the sets and vectors that the match rules of
:mod:`syndicator.similarity` read (content words, body shingles, the body's
class, tf-idf vectors).

Pure: the only corpus statistics are the fixed document-frequency table of
:mod:`syndicator.similarity_idf`. Split out of ``syndicator.similarity``
(team guide: modules of at most 800 lines); that module re-exports the public
names, so ``from syndicator.similarity import fingerprint`` keeps working.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from syndicator.similarity_idf import DOC_COUNT, DOC_FREQ
from syndicator.urls import canonical_url

__all__ = [
    "Doc",
    "Fingerprint",
    "body_informative",
    "fingerprint",
    "fingerprint_from_dict",
    "fingerprint_to_dict",
    "hours_apart",
    "idf",
    "normalise_text",
    "tokens",
]

# --- thresholds of the fingerprint and the body's class (see bench/similarity_offline.py) ---

FINGERPRINT_VERSION = 5
MAX_BODY_TOKENS = 400  # a fingerprint keeps the first N body tokens
# A body that can carry a match on its own: enough distinct content words and idf mass.
MIN_BODY_CONTENT = 5
MIN_BODY_INFO = 28.0
# A short body (a one-line lede) that may support a headline, never alone.
MIN_SHORT_CONTENT = 3
MIN_SHORT_INFO = 15.0
ENTITY_KEEP = 24  # a fingerprint keeps the N heaviest entities
ENTITY_TITLE_WEIGHT = 3.0  # entity profile: a mention in the headline counts this much,
ENTITY_LEAD_WEIGHT = 2.0  # ... one in the first ENTITY_LEAD_SENTENCES sentences this much, later ones 1
ENTITY_LEAD_SENTENCES = 3
LEAD_DAY_SENTENCES = 2  # weekdays: named in the headline and the first N sentences
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
    # The same for a headline whose names outnumber its other words but which has a lowercase content word,
    # so is no Title Case ("Tara Reid enters rehab at Promises Treatment Center"); () where title_names says
    # it all. Read by one source's headline rules only (similarity._headline_names).
    title_proper: tuple[str, ...] = ()
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

    def __setstate__(self, state: dict) -> None:
        # Unpickled (a parse worker's fingerprint in the refresh, the refresh's in its linking process) or
        # copied: each token a string of its own, so that the 1,024 cached fingerprints of each process held
        # some 300,000 copies of a few thousand words. Interned, the strings are shared by every fingerprint
        # and compact record that has them: 42.4 -> 31.5 KB a fingerprint as a linker caches it (tracemalloc,
        # 1,250 of bench/scale_replay.py's items; docs/benchmarks.md section 21). Equal values: nothing
        # compared or hashed changes. ``state`` is not changed (copy.copy passes the original's own dict).
        state = _interned_fields(state)
        memo = state.get("_memo")
        if memo:
            memo = dict(memo)
            for name in _WORD_DICTS:
                d = memo.get(name)
                if type(d) is dict:
                    memo[name] = {sys.intern(w): x for w, x in d.items()}
            state["_memo"] = memo
        self.__dict__.update(state)


# The fields that hold words (interned when a fingerprint is unpickled or decoded), and the memoised dicts keyed
# by words (the event vectors of syndicator.similarity).
_WORD_FIELDS = ("title", "body", "names", "years", "title_names", "title_proper", "entities", "lead_days",
                "lead_years", "ages", "scores")
_WORD_DICTS = ("vector", "name_vector")


def _interned_fields(d: dict) -> dict:
    """A copy of ``d`` (a fingerprint's fields by name) whose words and source are interned strings."""
    out = dict(d)
    for name in _WORD_FIELDS:
        if words := out.get(name):
            out[name] = tuple(map(sys.intern, words))
    if isinstance(source := out.get("source"), str):
        out["source"] = sys.intern(source)
    return out


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
    return _capitalised(words)


def _title_proper(title: str) -> tuple[str, ...]:
    """Names of a headline that ``_title_names`` takes for Title Case but that has a lowercase content word.

    "Tara Reid enters rehab at Promises Treatment Center": more capitalised words than not, so no names by
    ``_title_names``; "enters" and "rehab" say it is no Title Case. Without them, one source's "Lindsay
    Lohan enters rehab at Betty Ford Center" merged with it (the issue's own example of two stories).
    """
    words = [w.strip("\"'()[]{}*,.;:!?\u2018\u2019\u201c\u201d") for w in title.split()]
    longer = [w for w in words[1:] if len(w) > 3]
    if _title_names(title) or not any(w[:1].islower() and w.lower() not in STOPWORDS for w in longer):
        return ()
    return _capitalised(words)


def _capitalised(words: list[str]) -> tuple[str, ...]:
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
        title_proper=_title_proper(title_text),
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
        "title_proper": list(fp.title_proper),
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
    d = _interned_fields(d)  # decoded for the caches: interned as when unpickled (Fingerprint.__setstate__)
    return Fingerprint(
        title=tuple(d.get("title", ())),
        body=tuple(d.get("body", ())),
        names=tuple(d.get("names", ())),
        name_counts=tuple(int(c) for c in d.get("name_counts", ())) or (1,) * len(d.get("names", ())),
        years=tuple(d.get("years", ())),
        title_names=tuple(d.get("title_names", ())),
        title_proper=tuple(d.get("title_proper", ())),
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
        memo_word(_IDF_MEMO, word, value)
    return value


def memo_word(memo: dict, word: str, value: object) -> None:
    """Keep a per-word value in one of the word memos, which start again when WORD_MEMO_MAX words are in one.

    A daemon meets new words for as long as it runs (names, numbers, typos): a memo that only grew would
    reach ~58 MB a memo at 500,000 words (tracemalloc); one that stopped adding when full would keep last
    month's rare words and miss this week's. Emptied, the common words are back after a few articles."""
    if len(memo) >= WORD_MEMO_MAX:
        memo.clear()
    memo[word] = value


# idf() runs for every content word of both articles of every comparison: a py-spy profile of a cold
# refresh of 40 × 50 generated items (bench/scale_run.py) spent 13% of its time in the logarithm alone.
_IDF_MEMO: dict[str, float] = {}
WORD_MEMO_MAX = 100_000  # ~12 MB a memo when full


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


def shed(fp: Fingerprint, names: tuple[str, ...]) -> None:
    """Drop these memoised values of ``fp`` (a later :func:`_derived` makes them again)."""
    memo = fp.__dict__.get("_memo")
    if memo:
        for name in names:
            memo.pop(name, None)


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
