"""Headline-only evidence beyond the headline's own words (``syndicator.relate``, pure functions):
the URL's slug, a compound spelt as one word or two, a rare word leading both headlines, and the
candidate shortlist that never cuts inside a tie. Each rule: a pair that must link and a near pair
that must not. Cases from the UCI headlines (dev half), where each of them was a missed story.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from syndicator import relate
from syndicator import similarity as sim

T0 = datetime(2014, 3, 10, 9, 30, tzinfo=UTC)
BODY = ("The studio behind the game said on Tuesday that testing had found problems with the online mode, "
        "and that the release would move to the spring. Retailers were told to expect new dates soon. ") * 3


def fp(title: str, url: str = "", body: str = "", minutes: int = 0) -> sim.Fingerprint:
    url = url or f"https://x.example/{abs(hash(title))}"
    return sim.fingerprint(sim.Doc(title, body, url, T0 + timedelta(minutes=minutes), "s"))


SLUGGED = "https://eatocracy.cnn.com/2014/03/10/merger-makes-chiquitafyffes-top-banana/?hpt=ea_mid"
BANANA = "Chiquita and Fyffes merger creates world's top banana company"


def test_a_slug_speaks_for_a_headline_that_says_nothing():
    a, b = fp("Share this on:", SLUGGED), fp(BANANA, "https://b.example/news/1234567")
    assert relate.slug_words(a) >= {"merger", "top", "banana"}
    assert relate.slug_words(b) == frozenset()  # a numeric id is no slug
    link = relate.relate(a, b)
    assert link is not None and {"merger", "banana"} <= set(link.shared)
    assert link == relate.relate(b, a)
    # the same headline under a URL without a slug: nothing to go on
    assert relate.relate(fp("Share this on:", "https://eatocracy.cnn.com/2014/03/10/91827"), b) is None


def test_short_segments_and_informative_bodies_give_no_slug():
    # two words: a section, not a story ("…/business-news/…")
    assert relate.slug_words(fp("Share this on:", "https://x.example/business-news/8812")) == frozenset()
    # an article with a body says what it is about itself
    with_body = fp("Share this on:", SLUGGED, body=BODY)
    assert sim.body_informative(with_body) and relate.slug_words(with_body) == frozenset()


def test_a_compound_matches_its_two_words():
    a = fp("MtGox bitcoin database leaked online as hackers crowdsource clues")
    b = fp("Mt Gox files US bankruptcy, opponents call it a ruse")
    assert relate._headlines(a, b)[1] == ["mtgox"] == relate._headlines(b, a)[1]
    # two words that happen to stand side by side elsewhere are not the compound
    c = fp("Gox Mt files US bankruptcy, opponents call it a ruse")
    assert relate._headlines(a, c)[1] == []


def test_a_rare_word_leading_both_headlines_is_a_name_link():
    # Title Case: no capital says "name"; "Comcast" is in the reference table, so only its place counts
    a, b = fp("Comcast Raises Prices For Cable Customers"), fp("Comcast Wins Approval Of Merger Deal")
    assert not a.title_names and "comcast" in sim.DOC_FREQ
    assert sim.idf("comcast") >= relate.LEAD_MIN_IDF
    assert relate.relate(a, b) is None
    link = relate.tentative(a, b)
    assert link is not None and link.kind == relate.NAME_KIND and link.shared == ("comcast",)
    assert link == relate.tentative(b, a)
    # the same word, not leading one of them
    assert relate.tentative(a, fp("Why Investors Still Trust Comcast")) is None
    # a common word leading both is no subject ("Ukraine" alone never links)
    assert sim.idf("ukrain") < relate.LEAD_MIN_IDF
    assert relate.tentative(fp("Ukraine Holds Talks With Donors"), fp("Ukraine Wins Song Contest")) is None


def test_the_shortlist_takes_a_whole_tie_and_no_more():
    ranked = [("a", 9.0), ("b", 5.0), ("c", 5.0), ("d", 5.0 - 1e-12), ("e", 4.0), ("f", 4.0)]
    assert relate.shortlist(ranked, 2, 10) == ["a", "b", "c", "d"]  # sums in another order tie too
    assert relate.shortlist(ranked, 2, 3) == ["a", "b", "c"]  # at most the cap
    assert relate.shortlist(ranked, 1, 10) == ["a"]  # no tie at the cut
    assert relate.shortlist(ranked[:2], 5, 10) == ["a", "b"]
