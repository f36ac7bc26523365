"""The cheap bounds of linking and merging are sound, and the compact scores are the full ones.

``relate.unrelated`` lets the store skip a related candidate, ``similarity.apart`` a merge candidate,
without the full comparison: a wrong "unrelated"/"apart" would silently drop a link or a merge. So,
on real texts (the fixtures under tests/) and on random ones (Hypothesis): whenever a bound says so,
the full comparison says no link / no match; and what the store computes from a candidate's
``relate.Compact`` is exactly (to the bit) what ``relate.relate`` computed from two full profiles.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicator import relate, similarity
from syndicator.similarity import Doc, Fingerprint

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def fp(title: str, body: str = "", *, url: str = "", hours: float = 0.0, source: str = "A") -> Fingerprint:
    return similarity.fingerprint(Doc(title, body, url, T0 + timedelta(hours=hours), source))


def _real_texts() -> list[tuple[str, str, str]]:
    """(headline, body, url) of real articles: UCI headlines (no body), ECB+ documents, the six-states page."""
    out = []
    with open(FIXTURES / "bench" / "uci_news_head40.csv", encoding="utf-8") as f:
        out += [(r["TITLE"], "", r["URL"]) for r in csv.DictReader(f)]
    for line in (FIXTURES / "bench" / "ecbplus_documents3.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        out.append((d["title"], d["text"], d["url"]))
    six = (FIXTURES / "related" / "six_states.txt").read_text(encoding="utf-8")
    out.append(("Only Six Western States Commit Troops to Ukraine, Europe Divided", six, ""))
    return out


def _real_fingerprints() -> list[Fingerprint]:
    """The real texts and variants of them a feed produces: the lede alone, the body cut short, one
    paragraph, another headline, other sources and times; every pair of them is checked."""
    fps = []
    for n, (title, body, url) in enumerate(_real_texts()):
        fps.append(fp(title, body, url=url, hours=n % 7, source="A"))
        if not body:
            continue
        paras = [p for p in body.split("\n") if p.strip()]
        words = body.split()
        fps += [
            fp(title, paras[0], hours=1.5, source="B"),
            fp("Breaking: " + title, " ".join(words[: len(words) // 2]) + " ...", hours=30, source="C"),
            fp(title.split(",")[0], "\n".join(paras[len(paras) // 2 :]), hours=2, source="A"),
            fp("Another headline about it all", "\n".join(paras[::2]), hours=80, source="B"),
        ]
    return fps


def _reference_cosine(a: dict[str, float], b: dict[str, float]) -> float:
    # relate._cosine as it was before Compact: the shared words' products summed in sorted order
    dot = sum(a[k] * b[k] for k in sorted(a.keys() & b.keys()))
    na = math.sqrt(sum(w * w for _, w in sorted(a.items())))
    nb = math.sqrt(sum(w * w for _, w in sorted(b.items())))
    return dot / (na * nb) if na and nb else 0.0


def check_related_pair(a: Fingerprint, b: Fingerprint) -> bool:
    """Asserts soundness and exactness for one pair; returns whether the bound rejected it."""
    ca, cb = relate.compact(a), relate.compact(b)
    va = relate.profile(a)
    link = relate.relate(a, b, event=False)
    tentative = relate.tentative(a, b)
    assert link == relate.relate(b, a, event=False)  # still symmetric
    assert tentative == relate.tentative(b, a)
    assert relate._dot_cosine(va, ca.norm, cb) == _reference_cosine(va, relate.profile(b))
    rejected = relate.unrelated(ca, va, cb)
    assert rejected == relate.unrelated(cb, relate.profile(b), ca)
    # the store may read b's Compact from its stored bytes (articles.relate_compact): the same answers
    stored = relate.compact_from_bytes(relate.compact_bytes(cb))
    assert stored is not None and relate.unrelated(ca, va, stored) == rejected
    assert relate.assess(ca, va, stored) == relate.assess(ca, va, cb)
    if rejected:
        assert link is None and tentative is None, (a.title, b.title)
    # what the store calls: the link, or else the tentative one, or neither
    if link is not None:
        assert relate.assess(ca, va, cb) == (relate.score(ca, va, cb), False)
    else:
        assert relate.assess(ca, va, cb) == (relate.tentative_score(ca, va, cb), tentative is not None)
    return rejected


def check_merge_pair(a: Fingerprint, b: Fingerprint) -> bool:
    rejected = similarity.apart(a, b)
    assert rejected == similarity.apart(b, a)
    # the store reads a candidate's sketch (its stored bytes) instead of its fingerprint: the same answer
    stored = similarity.sketch_from_bytes(similarity.sketch_bytes(b))
    assert stored is not None and similarity.apart_from(a, stored, b.url) == rejected
    if rejected:
        assert similarity.compare(a, b, "article") is None, (a.title, b.title)
    return rejected


def test_bounds_sound_on_real_texts() -> None:
    fps = _real_fingerprints()
    pairs = list(itertools.combinations(fps, 2))
    related_rejected = sum(check_related_pair(a, b) for a, b in pairs)
    merge_rejected = sum(check_merge_pair(a, b) for a, b in pairs)
    # and they do reject: otherwise they would be sound only by never saying anything
    assert related_rejected > len(pairs) // 4
    assert merge_rejected > 0


def test_compact_carries_what_linking_reads() -> None:
    a = fp("Tara Reid enters rehab at Promises", "Perennial party girl Tara Reid checked herself into Promises.",
           url="https://example.com/2014/03/10/tara-reid-enters-rehab")
    c = relate.compact(a)
    assert list(c.words) == sorted(relate.profile(a))
    assert [c.weights[i] for i in range(len(c.words))] == [relate.profile(a)[w] for w in c.words]
    assert c.published == T0 and c.informative == similarity.body_informative(a)
    assert relate.compact(a) is c  # memoised per fingerprint
    undated = similarity.fingerprint(Doc("No date", "", "", None, "A"))
    assert relate.compact(undated).published is None


def test_sketch_is_the_same_in_every_process() -> None:
    """A sketch is written by one process and read by others: a str's hash() differs between processes, so
    the shingles' hashes must not depend on it."""
    body = (FIXTURES / "related" / "six_states.txt").read_text(encoding="utf-8")
    here = similarity.sketch_bytes(fp("Six states", body))
    code = ("import sys; from datetime import datetime, UTC; from syndicator import similarity as s; "
            "f = s.fingerprint(s.Doc('Six states', sys.stdin.read(), '', datetime(2026, 3, 1, 8, tzinfo=UTC), 'A'));"
            "sys.stdout.write(s.sketch_bytes(f).hex())")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], input=body, capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, cwd=Path(__file__).parent.parent)
        assert bytes.fromhex(out.stdout) == here
    h, made = similarity.sketch_from_bytes(here), similarity.body_hashes(fp("Six states", body))
    assert h is not None and (h.hashes, h.count, h.body_class) == (made.hashes, made.count, made.body_class)
    assert h.body_class == 2 and h.count >= len(h.hashes) > 100


def test_unreadable_sketch_is_none() -> None:
    data = similarity.sketch_bytes(fp("Six states", (FIXTURES / "related" / "six_states.txt").read_text()))
    assert similarity.sketch_from_bytes(None) is None and similarity.sketch_from_bytes(b"") is None
    assert similarity.sketch_from_bytes(b"\0" * 8 + data[8:]) is None  # another version or hash(): decode instead
    short = similarity.sketch_from_bytes(similarity.sketch_bytes(fp("A headline", "A short line.")))
    assert short is not None and short.body_class < 2 and not short.hashes


# --- random texts -----------------------------------------------------------------------------------

_REAL_WORDS = sorted({w.strip(".,;:!?\"'()") for t, b, _ in _real_texts() for w in (t + " " + b).split()} - {""})
_word = st.one_of(
    st.sampled_from(_REAL_WORDS),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9),
    st.sampled_from(["the", "a", "of", "and", "said", "Mt.", "Gox", "MtGox", "FTSE", "100", "FTSE100"]),
)
_sentence = st.lists(_word, min_size=3, max_size=14).map(lambda ws: " ".join(ws).capitalize() + ".")


@st.composite
def _pair(draw) -> tuple[Fingerprint, Fingerprint]:
    """Two articles that often share sentences, headline words, source and time: the cases the bounds
    must get right are the near ones."""
    common = draw(st.lists(_sentence, max_size=8))
    own_a = draw(st.lists(_sentence, max_size=8))
    own_b = draw(st.lists(_sentence, max_size=8))
    shared_title = draw(st.lists(_word, max_size=4))
    ta = " ".join(draw(st.lists(_word, max_size=5)) + shared_title)
    tb = " ".join(shared_title + draw(st.lists(_word, max_size=5)))
    body_a = " ".join(draw(st.permutations(common + own_a))) if draw(st.booleans()) else ""
    body_b = " ".join(common + own_b) if draw(st.booleans()) else ""
    if body_a and draw(st.booleans()):
        body_b = body_a[: draw(st.integers(0, len(body_a)))] + " ..."  # a copy cut short
    url = "https://example.com/news/" + "-".join([*shared_title, "story", "today"]) if draw(st.booleans()) else ""
    a = fp(ta or "x", body_a, url=url, hours=draw(st.floats(0, 100)), source=draw(st.sampled_from("AB")))
    b = fp(tb or "y", body_b, url=draw(st.sampled_from([url, ""])), hours=draw(st.floats(0, 100)),
           source=draw(st.sampled_from("AB")))
    return a, b


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pair())
def test_bounds_sound_on_random_texts(pair: tuple[Fingerprint, Fingerprint]) -> None:
    a, b = pair
    check_related_pair(a, b)
    check_merge_pair(a, b)


def test_shed_fingerprints_answer_the_same() -> None:
    """A cached fingerprint sheds the sets its own merge and links were made from (linking.shed, for memory);
    what a later comparison of it says is the same, the sets made again on demand."""
    from syndicator import linking

    def answers(fps: list[Fingerprint]) -> list:
        out = []
        for a, b in itertools.combinations(fps, 2):
            out.append((similarity.compare(a, b, "article"), similarity.compare(a, b, "event"),
                        similarity.apart(a, b), relate.relate(a, b, event=True), relate.tentative(a, b)))
        return out + [(sorted(similarity.index_keys(f, "event")), sorted(relate.index_keys(f))) for f in fps]

    fps = _real_fingerprints()[:24]
    before = answers(fps)
    linking.shed(fps)
    assert all(name not in f.__dict__.get("_memo", {}) for f in fps for name in linking._SHED)
    assert answers(fps) == before
    assert answers([similarity.fingerprint_from_dict(similarity.fingerprint_to_dict(f)) for f in fps]) == before


def test_compact_bytes_read_back_as_the_same_compact() -> None:
    """What the store keeps of a related candidate (articles.relate_compact) is the Compact itself: every
    field equal, on the real fixtures and for an undated, headline-only article."""
    fps = [*_real_fingerprints(), similarity.fingerprint(similarity.Doc("Only a headline", "", "", None, "s", None))]
    for fp in fps:
        made = relate.compact(fp)
        read = relate.compact_from_bytes(relate.compact_bytes(made))
        assert read is not None
        for name in made.__slots__:
            assert getattr(read, name) == getattr(made, name), name
        assert all(w is sys.intern(w) for w in read.words)  # one copy of a word for every cached compact
    assert relate.compact_from_bytes(None) is None and relate.compact_from_bytes(b"") is None
    assert relate.compact_from_bytes(b"XX00" + bytes(64)) is None  # another format: read from the fingerprint
