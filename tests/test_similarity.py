"""Unit tests of the pure similarity core (syndicator.similarity).

A few fixtures quote rows of the project's evaluation data: Upworthy Research
Archive (CC BY 4.0; Matias, Munger, Le Quere, Ebersole 2021) and ECB+
(CC BY 3.0; Cybulska & Vossen 2014).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from syndicator.similarity import (
    Doc,
    Fingerprint,
    compare,
    fingerprint,
    fingerprint_from_dict,
    fingerprint_to_dict,
    index_keys,
    normalise_text,
)

T0 = datetime(2014, 11, 20, 15, 0, tzinfo=UTC)

# Upworthy Research Archive, cluster 546d9c63 (one lede, several headlines).
LEDE = (
    "In the U.S., we have the highest documented rate of incarceration in the world. "
    "Seriously! We put people in prison at a higher rate than ANY other country, "
    "including Russia, China, and Iran."
)
VARIANT_TITLES = (
    "So, Can We Still Call Ourselves Land Of The Free?",
    "The Statistic That Should Make Every American Rethink Our Prisons",
    "We Lock Up More People Than Any Other Country On Earth",
)

# ECB+ topic 1: two different events of one topic.
REID = Doc(
    title="Tara Reid has entered a rehab program, the American Pie star's rep confirmed",
    body=(
        "Tara Reid has entered a rehab program, the American Pie star's rep confirmed to People "
        "and Us Weekly on Friday. Tara Reid has checked herself into Promises Treatment Center, "
        "Reid's rep told Us. We appreciate your respect to her and her family's privacy at this time."
    ),
    url="https://example.org/reid-rehab",
    published=T0,
    source="Celebrity Wire",
)
LOHAN = Doc(
    title="Lindsay Lohan checks into rehab at Betty Ford Center",
    body=(
        "Lindsay Lohan checks into rehab at Betty Ford Center. Actress Lindsay Lohan finally "
        "checked into court-mandated rehab at the Betty Ford Center late Thursday, after skipping "
        "out on entering a Newport Beach rehabilitation facility. We appreciate your respect to "
        "her and her family's privacy at this time."
    ),
    url="https://example.org/lohan-rehab",
    published=T0 + timedelta(hours=5),
    source="Celebrity Wire",
)


def doc(title: str, body: str = "", *, url: str = "", hours: float = 0.0, source: str = "A") -> Doc:
    return Doc(title=title, body=body, url=url, published=T0 + timedelta(hours=hours), source=source)


def fp(*args, **kwargs) -> Fingerprint:
    return fingerprint(doc(*args, **kwargs))


def matches(a: Fingerprint, b: Fingerprint, level: str = "article") -> bool:
    ab, ba = compare(a, b, level), compare(b, a, level)
    assert (ab is None) == (ba is None), "compare must be symmetric"
    return ab is not None


# --- normalisation ------------------------------------------------------------


def test_normalise_text_typography() -> None:
    text = "It\u2019s \u201cgreat\u201d \u2014 really&nbsp;so\u00a0 "
    assert normalise_text(text) == 'It\'s "great" - really so'


def test_fingerprint_strips_boilerplate_and_ellipsis() -> None:
    whole = fp("T", LEDE)
    cut = fp("T", LEDE[:120] + " [\u2026]\nThe post T appeared first on Good News Relay.")
    assert cut.body_truncated and not whole.body_truncated
    assert "appeared" not in cut.body
    assert whole.body[: len(cut.body)] == cut.body


def test_body_equal_to_title_is_dropped() -> None:
    assert (
        fp("Fed official says weak data caused by weather", "Fed official says weak data caused by weather").body == ()
    )


# --- variants -----------------------------------------------------------------


def noisy_variants() -> list[Fingerprint]:
    curly = LEDE.replace("U.S.,", "U.S.,\u00a0").replace("'", "\u2019")
    bodies = [
        LEDE,
        LEDE[:140].rstrip() + "\u2026",
        curly + f"\n\nThe post {VARIANT_TITLES[2]} appeared first on Good News Relay.",
    ]
    sources = ["Upworthy", "Upworthy (excerpt feed)", "GoodNewsRelay"]
    return [
        fp(t, b, url=f"https://u.example/{i}", hours=i, source=s)
        for i, (t, b, s) in enumerate(zip(VARIANT_TITLES, bodies, sources, strict=False))
    ]


def test_variants_with_noisy_bodies_match() -> None:
    fps = noisy_variants()
    for i in range(len(fps)):
        for j in range(i + 1, len(fps)):
            m = compare(fps[i], fps[j])
            assert m is not None and m.kind == "body", (i, j, m)
            assert matches(fps[i], fps[j])


def test_unpickled_and_copied_fingerprints_share_their_words() -> None:
    """A fingerprint that crosses processes (pickled) or is copied keeps its values and memoised vectors, with its
    words interned: the caches of the refresh and the linker hold a few thousand words once, not each token of
    each fingerprint again. Copying leaves the original as it was."""
    import copy
    import pickle
    import sys

    from syndicator.fingerprints import _derived, _vector

    docs = [Doc(t, LEDE, f"https://u.example/{n}", T0, "u", None) for n, t in enumerate(VARIANT_TITLES)]
    originals = [fingerprint(d) for d in docs]
    for fp in originals:
        _vector(fp)
    loaded = [pickle.loads(pickle.dumps(fp)) for fp in originals]
    for fp, back in zip(originals, loaded, strict=True):
        assert back == fp
        assert list(_derived(back, "vector", lambda: None).items()) == list(_vector(fp).items())
        assert all(t is sys.intern(t) for t in back.title + back.body + back.names)
        assert all(w is sys.intern(w) for w in _derived(back, "vector", lambda: None))
    # one string per word across fingerprints (the same lede: the same body tokens)
    assert all(a is b for a, b in zip(loaded[0].body, loaded[1].body, strict=True))
    memo_before = originals[0].__dict__["_memo"]
    vector_before = memo_before["vector"]
    dup = copy.copy(originals[0])
    assert dup == originals[0]
    assert originals[0].__dict__["_memo"] is memo_before and memo_before["vector"] is vector_before


def test_index_keys_shared_by_true_pairs() -> None:
    fps = noisy_variants()
    for i in range(len(fps)):
        for j in range(i + 1, len(fps)):
            assert index_keys(fps[i]) & index_keys(fps[j])


def test_index_keys_are_few_and_skip_common_words() -> None:
    f = fingerprint(REID)
    keys = index_keys(f, "event")
    assert 0 < len(keys) <= 40
    assert index_keys(f) <= keys  # event keys extend article keys
    assert not {"t:the", "t:has", "t:star", "t:a"} & keys


def test_different_stories_on_one_topic_do_not_match() -> None:
    a, b = fingerprint(REID), fingerprint(LOHAN)
    assert not matches(a, b)
    assert not matches(a, b, "event")


def test_same_headline_different_numbers_or_names_do_not_match() -> None:
    a = fp("He's Worked At Pizza Hut For 8 Years. Guess How Much He Makes.", hours=0)
    b = fp("He's Worked At Burger King For 8 Years. Just Guess How Much He Makes.", hours=1, source="B")
    assert not matches(a, b)


# --- short and generic bodies --------------------------------------------------


GENERIC_TITLES = (
    "Everyone waited for it to be taken down. 150 million views later",
    "This video slipped past Chinese censors, but the creator can't breathe easy",
)


@pytest.mark.parametrize("body", ["This is powerful stuff.", "", "Read more", "I mean, really \u2014 think about it."])
def test_short_generic_bodies_never_match_alone(body: str) -> None:
    t1, t2 = GENERIC_TITLES
    # far apart in time, or without dates, or from one source: no match
    a = fp(t1, body)
    assert not matches(a, fp(t2, body, source="B", hours=30))
    assert not matches(a, fp(t2, body, hours=1))
    undated = Doc(title=t2, body=body, url="", published=None, source="B")
    assert not matches(a, fingerprint(undated))


@pytest.mark.parametrize(
    "body", ["This is powerful stuff.", "I mean, really \u2014 think about it.", "History = Made."]
)
def test_same_generic_lede_needs_headline_backing(body: str) -> None:
    """The spec: a short or generic body never merges anything on its own, even sent out by two
    sources within hours; the same line plus a shared headline word (no contradiction) may."""
    t1, t2 = GENERIC_TITLES
    a = fp(t1, body, source="A")
    b = fp(t2, body.replace("'", "\u2019") + " The post X appeared first on B.", source="B", hours=2)
    assert not matches(a, b)  # headlines share nothing: the line alone decides nothing
    backed = fp("This video is being taken down everywhere", body, source="B", hours=2)
    assert matches(a, backed)
    assert compare(a, backed).kind == "same-body"
    tara = fp("Tara Reid enters rehab", body, source="A")
    lindsay = fp("Lindsay Lohan enters rehab", body, source="B", hours=1)
    assert not matches(tara, lindsay)
    # a generic line contained in a longer, different lede is not "the same lede"
    c = fp("This video is being taken down everywhere", body + " " + LEDE, source="B", hours=2)
    assert not matches(a, c)


def test_same_source_same_short_body_needs_a_headline_word() -> None:
    body = "That cloud of smoke is a subtle metaphor for a cloud of smoke."
    a = fp("Kids Love To Smoke Cigarettes, Right?", body, source="Upworthy")
    b = fp("Why Some People Still Buy Lottery Tickets", body, source="Upworthy", hours=1)
    assert not matches(a, b)
    c = fp("How To Stop A Child From Smoking In 30 Seconds", body, source="Upworthy", hours=1)
    assert matches(a, c)


# --- headline-only bar -----------------------------------------------------------


def test_headline_only_needs_near_identical_informative_headlines() -> None:
    a = fp("Fed's Charles Plosser sees high bar for change in pace of tapering")
    b = fp("Fed's Charles Plosser sees high bar for change in pace of tapering", source="B", hours=2)
    c = fp("Fed official says weak data caused by weather, should not slow taper", source="C", hours=2)
    assert matches(a, b)
    assert compare(a, b).kind == "headline"
    assert not matches(a, c)


def test_headline_only_bar_is_higher_than_headline_plus_body() -> None:
    t1 = "Watch This Incredible Young Mother Bring A Room Full Of World Leaders To Tears"
    t2 = "Incredible Young Mother Brings World Leaders To Tears With A Poem About Her Country"
    body1 = (
        "Kathy Jetnil-Kijiner, a poet from the Marshall Islands, spoke at the opening of the "
        "United Nations Climate Summit in New York and read a poem to her baby daughter about "
        "rising seas that threaten to swallow her home."
    )
    body2 = body1[:110] + " and more, much more, about the rising seas of the Pacific that threaten every atoll"
    # Published hours apart, the headlines alone are not enough (within CLOSE_HOURS they are:
    # test_headline_variants_published_within_hours_match_across_sources) ...
    assert not matches(fp(t1), fp(t2, source="B", hours=8))
    # ... with bodies that agree in part, they are.
    assert matches(fp(t1, body1), fp(t2, body2, source="B", hours=8))


def test_generic_short_headlines_do_not_match() -> None:
    assert not matches(fp("Breaking News"), fp("Breaking News", source="B"))


def test_headline_only_far_apart_in_time_does_not_match() -> None:
    t = "Sbarro again files for Ch. 11 reorganization after slump in mall traffic"
    assert matches(fp(t), fp(t, source="B", hours=3))
    assert not matches(fp(t), fp(t, source="B", hours=60))


def test_same_canonical_url_matches() -> None:
    a = fp("One", url="https://www.example.com/news/2014/story-123?utm_source=rss")
    b = fp("Two", url="http://example.com/news/2014/story-123/", source="B")
    assert compare(a, b).kind == "url"
    assert not matches(fp("One", url="https://example.com/"), fp("Two", url="https://example.com", source="B"))


# --- event level ------------------------------------------------------------------


def test_event_level_is_a_superset_of_article_level() -> None:
    fps = [*noisy_variants(), fingerprint(REID), fingerprint(LOHAN)]
    for a in fps:
        for b in fps:
            if compare(a, b) is not None:
                assert compare(a, b, "event") is not None


def test_event_level_groups_two_reports_of_one_event() -> None:
    other = Doc(
        title="Perennial party girl Tara Reid checked herself into Promises Treatment Center",
        body=(
            "Perennial party girl Tara Reid checked herself into Promises Treatment Center, her rep "
            "told People. Ketsoyan would not say what the American Pie star was being treated for. "
            "A friend of the actress told People she went to Promises on Tuesday and that her friends "
            "and family supported her decision. Reid launched a new fashion line called Mantra."
        ),
        url="https://example.net/tara-reid",
        published=T0 + timedelta(hours=3),
        source="Gossip Daily",
    )
    a, b = fingerprint(REID), fingerprint(other)
    assert not matches(a, b)
    assert matches(a, b, "event")


def test_event_level_years_that_differ_are_two_events() -> None:
    body_a = (
        "Microsoft released an emergency patch for Internet Explorer on Wednesday, fixing a "
        "flaw that attackers used to take over Windows computers, Microsoft said in {year}. "
        "Microsoft urged every Internet Explorer user to install the update at once."
    )
    body_b = (
        "Users of Internet Explorer should update now: Microsoft shipped a fix out of cycle for "
        "the browser flaw criminals exploited against Windows machines. Microsoft confirmed the "
        "Internet Explorer attacks in {year} and thanked the researchers who reported them."
    )
    a = fp("Microsoft patches Internet Explorer flaw", body_a.format(year="2008"), source="A")
    b = fp("Internet Explorer gets an emergency fix", body_b.format(year="2013"), source="B", hours=2)
    c = fp("Internet Explorer gets an emergency fix", body_b.format(year="2008"), source="B", hours=2)
    assert a.years == ("2008",) and b.years == ("2013",)
    assert not matches(a, c)  # different articles ...
    assert matches(a, c, "event")  # ... on one event
    assert not matches(a, b, "event")  # another year: another event of the same kind


def test_years_ignore_amounts_and_long_numbers() -> None:
    f = fp("T", "It cost $2010, or 12,2005 units, 20134 in all, 1,999.5 more, then in 2009, it ended.")
    assert f.years == ("2009",)


def test_event_level_different_main_person_is_another_event() -> None:
    assert not matches(fingerprint(REID), fingerprint(LOHAN), "event")


def test_one_source_rewriting_a_headline_within_hours_matches() -> None:
    t1 = "Watch Kathy Jetnil-Kijiner Bring A Room Full Of World Leaders To Tears"
    t2 = "This Poet Has A Message For The UN, And Kathy Jetnil-Kijiner Will Not Be Ignored"
    a = fp(t1, source="Upworthy")
    b = fp(t2, source="Upworthy", hours=2)
    assert matches(a, b)
    assert compare(a, b).kind == "headline-close"
    # not from two sources, nor a day apart
    assert not matches(a, fp(t2, source="Other", hours=2))
    assert not matches(a, fp(t2, source="Upworthy", hours=30))


def test_one_source_headline_only_variants_sharing_a_fairly_rare_word_match() -> None:
    # Upworthy variants: "shutdown" is rare-ish (not rare enough for headline-close), and the
    # headlines share a little wording besides.
    t1 = "The Truth About What The Shutdown Did To Some People Is Right Here"
    t2 = "National Park Service Workers Tell The Truth About The Shutdown, And It's Haunting"
    a = fp(t1, source="Upworthy")
    b = fp(t2, source="Upworthy", hours=3)
    assert matches(a, b)
    assert compare(a, b).kind == "headline-source"
    # two sources, or hours apart, or a common shared word only: no
    assert not matches(a, fp(t2, source="Other", hours=3))
    assert not matches(a, fp(t2, source="Upworthy", hours=8))
    assert not matches(
        fp("The Truth About Your Morning Coffee Is Right Here", source="U"),
        fp("Tell The Truth About Working Nights", source="U", hours=1),
    )
    # an informative body on one side: the headlines alone do not decide
    assert not matches(a, fp(t2, LEDE, source="Upworthy", hours=3))
    # too short to say anything
    assert not matches(fp("Broken page", source="U"), fp("Huge page", source="U"))
    # a template's instances, not variants
    assert not matches(
        fp("Story number 3 about the shutdown", source="U"), fp("Story number 4 about the shutdown", source="U")
    )


def test_event_level_an_undated_report_needs_more_against_a_dated_one() -> None:
    body_a = (
        "Microsoft released an emergency patch for Internet Explorer on Wednesday, fixing a "
        "flaw that attackers used to take over Windows computers, Microsoft said in 2008. "
        "Microsoft urged every Internet Explorer user to install the update at once."
    )
    body_d = (
        "Security researchers told Windows users to install an out-of-band Microsoft update after "
        "criminals attacked the browser through booby-trapped web pages. The company rated the Internet "
        "Explorer hole critical{year}, and analysts at Symantec said attacks were still limited."
    )
    a = fp("Microsoft patches Internet Explorer flaw", body_a, source="A")
    dated = fp("Browser hole prompts urgent update", body_d.format(year=" in 2008"), source="B", hours=2)
    undated = fp("Browser hole prompts urgent update", body_d.format(year=""), source="B", hours=2)
    assert a.lead_years == ("2008",) and undated.years == ()
    assert matches(a, dated, "event")
    assert not matches(a, undated, "event")  # the same words might be this year's patch or another's
    # ... unless the texts agree well beyond the event bar
    close = fp(
        "Emergency fix for Internet Explorer",
        "On Wednesday Microsoft shipped an emergency Internet Explorer patch: attackers had used the flaw "
        "to take over Windows computers. Every Internet Explorer user should install the update at once, "
        "Microsoft urged.",
        source="B",
    )
    assert not matches(a, close)
    assert matches(a, close, "event")


def test_event_level_a_body_less_report_uses_its_headline_names() -> None:
    # ECB+ gives some reports as their first sentence alone.
    line = fp("Relatively unknown actor Matt Smith was named as the next star of Doctor Who by the BBC")
    report = fp(
        "Matt Smith named as the eleventh Doctor",
        "The BBC has named Matt Smith, 26, as the new star of Doctor Who. Smith will take over from "
        "David Tennant next year. Doctor Who fans had expected a better known actor, the BBC said, "
        "but Smith impressed the producers.",
        source="B",
    )
    assert line.body == () and line.title_names
    assert matches(line, report, "event")


def test_unknown_level_is_rejected() -> None:
    with pytest.raises(ValueError):
        compare(fingerprint(REID), fingerprint(LOHAN), "topic")
    with pytest.raises(ValueError):
        index_keys(fingerprint(REID), "topic")


# --- determinism and round trip -------------------------------------------------


def test_deterministic() -> None:
    a1, a2 = fingerprint(REID), fingerprint(REID)
    assert a1 == a2
    assert index_keys(a1) == index_keys(a2)
    assert compare(a1, fingerprint(LOHAN)) == compare(a2, fingerprint(LOHAN))


def test_fingerprint_dict_round_trip_through_json() -> None:
    for f in [*noisy_variants(), fingerprint(REID), fp("", "")]:
        d = json.loads(json.dumps(fingerprint_to_dict(f)))
        back = fingerprint_from_dict(d)
        assert back == f
        assert index_keys(back, "event") == index_keys(f, "event")


def test_match_signals_are_json() -> None:
    fps = noisy_variants()
    m = compare(fps[0], fps[1])
    assert m is not None
    json.dumps(m.signals)
    assert 0.0 <= m.score <= 1.0


# --- event level: vetoes for two events of one kind ----------------------------------

# Two outlets' wordings of one kind of news (after ECB+ topic 35), to be filled in.
CHARGER_A = (
    "San Diego Chargers {role} {first} {last} was arrested on suspicion of drunk driving early "
    "{day}, the California Highway Patrol said. The {age}-year-old {last} was stopped on Route 163 "
    "after an officer saw his car weaving across lanes. {extra}"
)
CHARGER_B = (
    "The Chargers confirmed on {day} that {first} {last}, their {age}-year-old {role}, had been "
    "booked into the county jail after a traffic stop on a San Diego freeway. Police said {last} "
    "failed a sobriety test and was released on bail hours later; the team declined to comment "
    "further on {last}. {extra}"
)


def charger(wording: str, role: str, first: str, last: str, day: str, age: str, extra: str = "", **kw) -> Fingerprint:
    body = wording.format(role=role, first=first, last=last, day=day, age=age, extra=extra)
    return fp(f"Chargers {role} {first} {last} arrested on suspicion of DUI", body, **kw)


def test_event_level_same_facts_match_and_other_facts_veto() -> None:
    a = charger(CHARGER_A, "receiver", "Vincent", "Jackson", "Tuesday", "25", source="A")
    b = charger(CHARGER_B, "receiver", "Vincent", "Jackson", "Tuesday", "25", source="B")
    assert not matches(a, b)
    assert matches(a, b, "event")
    assert a.lead_days == ("tues",) and a.ages == ("25",)
    # another weekday in the lead, another age: another arrest of the same kind
    assert not matches(a, charger(CHARGER_B, "receiver", "Vincent", "Jackson", "Sunday", "25", source="B"), "event")
    assert not matches(a, charger(CHARGER_B, "receiver", "Vincent", "Jackson", "Tuesday", "32", source="B"), "event")


def test_event_level_an_earlier_event_cited_in_passing_does_not_bridge() -> None:
    jackson = charger(CHARGER_A, "receiver", "Vincent", "Jackson", "Tuesday", "25", source="A")
    williams = charger(
        CHARGER_B,
        "lineman",
        "Jamal",
        "Williams",
        "Tuesday",
        "25",
        "Receiver Vincent Jackson of the Chargers was arrested on the same charge in October.",
        source="B",
    )
    assert jackson.entities[0] == "jackson" and williams.entities[0] == "william"
    assert not matches(jackson, williams, "event")


def test_event_level_scores_that_differ_are_two_games() -> None:
    a_body = (
        "Peyton Manning threw two touchdown passes and the Indianapolis Colts beat the "
        "Jacksonville Jaguars {score} to clinch a playoff berth. Manning completed 29 of 34 "
        "passes as the Colts won their eighth straight game."
    )
    b_body = (
        "The Colts are in the playoffs again. Indianapolis held off Jacksonville {score} behind a "
        "nearly perfect Peyton Manning, and the Jaguars defence could not stop the Colts' receivers "
        "in the second half."
    )
    a = fp("Colts clinch playoff berth", a_body.format(score="31-24"), source="A")
    b = fp("Manning leads Colts past Jaguars", b_body.format(score="31-24"), source="B")
    c = fp("Manning leads Colts past Jaguars", b_body.format(score="20-13"), source="B")
    assert a.scores == ("24-31",)
    assert not matches(a, b)
    assert matches(a, b, "event")
    assert not matches(a, c, "event")


def test_fingerprint_from_an_older_dict_still_compares() -> None:
    f = fingerprint(REID)
    d = fingerprint_to_dict(f)
    for k in ("entities", "entity_weights", "lead_days", "lead_years", "ages", "scores"):
        d.pop(k)
    d["v"] = 4
    old = fingerprint_from_dict(d)
    assert old.version == 4 and old.entities == () and old.ages == ()
    assert compare(old, f, "event") is not None
    assert not matches(old, fingerprint(LOHAN), "event")


def test_headline_variants_published_within_hours_match_across_sources() -> None:
    # Upworthy A/B variants (cluster of "Congress ... corporate power grab"), carried by two outlets:
    # half their informative words in common, below the headline-only bar of HEADLINE_SIM.
    t1 = "Congress is trying to pass one of the biggest corporate power grabs in recent memory"
    t2 = "Congress is trying to pass a massive corporate power grab. You need to know what's in it."
    a = fp(t1, source="Upworthy")
    b = fp(t2, source="GoodNewsRelay", hours=3)
    assert matches(a, b)
    assert compare(a, b).kind == "headline-near"
    assert compare(a, b).signals["title_sim"] < 0.6
    # the lower bar holds within CLOSE_HOURS only
    assert not matches(a, fp(t2, source="GoodNewsRelay", hours=9))
    # a template's instances (numbers differ), or two people's stories (names differ): no
    assert not matches(
        fp("Congress is trying to pass 2 of the biggest corporate power grabs in recent memory", source="A"),
        fp(
            "Congress is trying to pass 5 of the biggest corporate power grabs. You need to know what's in them.",
            source="B",
        ),
    )
    assert not matches(
        fp("Senator Warren is trying to stop the biggest corporate power grab in recent memory", source="A"),
        fp("Senator Sanders is trying to stop the biggest corporate power grab in years", source="B", hours=1),
    )
    # two markets stories of one day sharing "China" and "data" (UCI): no
    assert not matches(
        fp("Oil falls below $108 on China data, supply concerns limit decline", source="Reuters"),
        fp("World stocks, copper, oil decline after weak China export data", source="AP", hours=1),
    )


def test_one_source_rewrite_may_swap_in_rare_words_around_a_shared_one() -> None:
    # Upworthy variants of one post: "pasta" (rare) shared, "Homosexual" and "Barilla" (rare) on one side each.
    a = fp("A Pasta Ad With A Homosexual Family? Why Not.", source="Upworthy")
    b = fp("Hey, Barilla: A Gay-Friendly Pasta Commercial Isn't So Hard.", source="Upworthy", hours=2)
    assert matches(a, b)
    assert compare(a, b).kind == "headline-close"
    assert not matches(a, fp("Hey, Barilla: A Gay-Friendly Pasta Commercial Isn't So Hard.", source="Other", hours=2))
    # two rare words of its own on each side against one shared: two stories about pasta makers
    assert not matches(
        fp("Pasta maker Barilla faces boycott over homosexual remarks", source="Upworthy"),
        fp("Pasta maker Buitoni recalls ravioli over listeria", source="Upworthy", hours=2),
    )


INTERNET_EXPLORER_2008 = (
    "Microsoft released an emergency patch for Internet Explorer on Wednesday, fixing a flaw that "
    "attackers used to take over Windows computers through booby-trapped web pages. Microsoft urged "
    "every Internet Explorer user to install the update at once; the flaw affects all versions of the "
    "browser."
)
INTERNET_EXPLORER_LATER = (
    "Microsoft rushed out an urgent fix for Internet Explorer after attackers exploited a hole in the browser "
    "to break into computers. Researchers at FireEye said the attackers targeted visitors of a Japanese news "
    "site, and Symantec saw the same exploit in Korea and Taiwan. Kaspersky Lab in Moscow and Trend Micro in "
    "Tokyo reported attacks on banks as well. Security experts told users to install the update now. {cited}"
)


def test_event_level_years_on_one_side_only_need_more_than_the_agreement_bar() -> None:
    # ECB+ topic 27: the later Internet Explorer emergency patch cites earlier ones by year; the
    # reports of the earlier patch name no year. Agreeing on Microsoft and Internet Explorer, with
    # a middling text + name cosine, they chained the two events into one.
    a = fp("Microsoft releases emergency patch for Internet Explorer", INTERNET_EXPLORER_2008, source="A")
    later = fp(
        "Microsoft rushes urgent fix for Internet Explorer",
        INTERNET_EXPLORER_LATER.format(cited="It is the third such patch since 2008 and the first since 2012. "),
        source="B",
        hours=2,
    )
    undated = fp(
        "Microsoft rushes urgent fix for Internet Explorer",
        INTERNET_EXPLORER_LATER.format(cited="It is the third such patch this decade. "),
        source="B",
        hours=2,
    )
    assert a.years == () and later.years == ("2008", "2012") and later.lead_years == ()
    assert matches(a, undated, "event")
    assert not matches(a, later, "event")
    # the same cited years on both sides: nothing one-sided
    dated = fp(
        "Microsoft releases emergency patch", INTERNET_EXPLORER_2008 + " It follows a patch of 2012.", source="C"
    )
    assert matches(dated, later, "event")


def test_one_source_headlines_naming_two_people_do_not_match_on_a_shared_place() -> None:
    # The issue's own example, as one gossip source's headlines two hours apart: "Malibu" is rare
    # and shared, the names are not rare enough to contradict, the sentence-case names differ.
    reid = fp("Tara Reid enters rehab in Malibu", source="Celebrity Wire")
    lohan = fp("Lindsay Lohan enters rehab in Malibu", source="Celebrity Wire", hours=2)
    assert reid.title_names and lohan.title_names
    assert not matches(reid, lohan)
    # the same person's story rewritten still matches
    assert matches(reid, fp("Tara Reid checks into a rehab clinic in Malibu", source="Celebrity Wire", hours=2))


def test_one_source_name_heavy_headlines_naming_two_people_do_not_match() -> None:
    # More capitalised words than not ("Promises Treatment Center", "Betty Ford Center"), yet "enters" and
    # "rehab" are lowercase: no Title Case, so the names count, and two people's stories stay apart.
    reid = fp("Tara Reid enters rehab at Promises Treatment Center", source="Celebrity Wire")
    lohan = fp("Lindsay Lohan enters rehab at Betty Ford Center", source="Celebrity Wire", hours=1)
    assert not reid.title_names and reid.title_proper
    assert not matches(reid, lohan)
    # one source's rewrite of the same person's story still matches
    assert matches(reid, fp("Tara Reid enters rehab at Promises Treatment Center in Malibu",
                            source="Celebrity Wire", hours=1))
    # real Title Case says nothing by its capitals: nothing taken
    assert fp("Lindsay Lohan Enters Rehab At Betty Ford Center").title_proper == ()


def test_word_memos_stay_bounded_and_right(monkeypatch) -> None:
    """The per-word memos (idf, word ids, relate's informative-word test) start again when full instead of
    growing for as long as a daemon runs; what they answer is what a fresh computation answers."""
    from syndicator import fingerprints, relate, similarity

    words = [f"zq{n}x" for n in range(500)] + ["ukraine", "the", "parliament", "7"]
    fresh = {w: (similarity.idf(w), similarity._word_id(w), relate._word(w)) for w in words}
    monkeypatch.setattr(fingerprints, "WORD_MEMO_MAX", 50)
    for memo in (fingerprints._IDF_MEMO, similarity._WORD_IDS, relate._WORDS):
        memo.clear()  # filled above, past the lowered bound
    for _ in range(2):
        for w in words:
            assert (similarity.idf(w), similarity._word_id(w), relate._word(w)) == fresh[w]
            assert max(len(fingerprints._IDF_MEMO), len(similarity._WORD_IDS), len(relate._WORDS)) <= 50
