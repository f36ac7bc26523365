"""Related stories: which other stories a reader of this one should see.

The merge stage decides "same story"; this stage decides "worth reading
next": other coverage of the same event, and stories on the same subject.
Like :mod:`syndicator.similarity` it is pure (no I/O, no state learned at
run time), so a link depends only on the two articles and the same store
always publishes the same links.

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

Candidates come from an index, never a scan: :func:`index_keys` gives an
article's most informative words as ``r:`` keys, stored beside the merge
index's keys; the store looks up articles sharing a key within the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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
    return weights


def _word(t: str) -> bool:
    return t not in STOPWORDS and len(t) > 1 and not t.isdigit() and idf(t) >= MIN_TERM_IDF


def index_keys(fp: Fingerprint) -> frozenset[str]:
    """The article's heaviest informative words, as ``r:`` keys (computed once per Fingerprint object)."""
    return similarity._derived(fp, "relate_keys", lambda: _index_keys(fp))


def _index_keys(fp: Fingerprint) -> frozenset[str]:
    weights = profile(fp)
    ranked = sorted((t for t in weights if idf(t) >= MIN_KEY_IDF), key=lambda t: (-weights[t], t))
    return frozenset(KEY_PREFIX + t for t in ranked[:KEY_TERMS])


def relate(
    a: Fingerprint, b: Fingerprint, va: dict[str, float] | None = None, vb: dict[str, float] | None = None,
    *, event: bool = True,
) -> Link | None:
    """How ``a`` and ``b`` are related, or ``None``. Symmetric; the caller keeps
    an article's own story (its variants) out. ``va``/``vb``: their profiles, when
    the caller already has them (one article is compared with many). ``event=False``
    leaves out the (costly) same-event check: every link is "same subject", and
    :func:`with_event` can check the best ones afterwards."""
    va = profile(a) if va is None else va
    vb = profile(b) if vb is None else vb
    if not va or not vb:
        return None
    shared = sorted(
        (t for t in va if t in vb and idf(t) >= MIN_SHARED_IDF), key=lambda t: (-(va[t] * vb[t]), t)
    )
    cosine = _cosine(va, vb)
    informative = similarity.body_informative(a) and similarity.body_informative(b)
    if informative:
        if cosine < MIN_COSINE or len(shared) < MIN_SHARED:
            return None
    else:
        ta = {t for t in a.title if _word(t)}
        tb = {t for t in b.title if _word(t)}
        title_shared = [t for t in ta & tb if idf(t) >= MIN_TITLE_SHARED_IDF]
        if (
            _cosine(_title_profile(ta), _title_profile(tb)) < MIN_TITLE_COSINE
            or len(title_shared) < MIN_TITLE_SHARED
            or sum(idf(t) for t in title_shared) < MIN_TITLE_SHARED_INFO
        ):
            return None
    link = Link(round(cosine / _decay(a, b), 6), "same subject", tuple(shared[:SHOWN_WORDS]))
    return with_event(link, a, b) if event else link


def with_event(link: Link, a: Fingerprint, b: Fingerprint) -> Link:
    """``link`` ranked higher when ``a`` and ``b`` report the same event (the merge stage's event rule)."""
    if link.kind == "same event" or similarity.compare(a, b, "event") is None:
        return link
    return Link(round(link.score + EVENT_BONUS / _decay(a, b), 6), "same event", link.shared)


def _decay(a: Fingerprint, b: Fingerprint) -> float:
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
