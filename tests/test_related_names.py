""""Same name" links: a story nothing else links to may link on one shared name, never on a common word.

The rules (``syndicator.relate``) are pure and tested directly; the store's part (the name must be the
heaviest shared word of enough links, read from the links already stored) runs through the real
command line, with headline-only feeds served over HTTP and a SQLite store on disk.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from syndicator import relate
from syndicator import similarity as sim
from syndicator.model import Entry
from syndicator.store import Store
from syndicator.store.related import related_stories
from syndicator.store.schema import ArticleRow
from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, rss2

T0 = datetime(2025, 4, 11, 9, 30, tzinfo=UTC)


def fp(title: str, body: str = "", minutes: int = 0) -> sim.Fingerprint:
    url = f"https://x.example/{abs(hash(title))}"
    return sim.fingerprint(sim.Doc(title, body, url, T0 + timedelta(minutes=minutes), "s"))


# "Zorblax" is a name the reference table never saw; four headlines link on it and a second word.
SUBJECT = [
    "Zorblax game delayed until next spring",
    "Zorblax delayed again after testing problems",
    "Studio says Zorblax game delay was needed",
    "Fans angry as Zorblax game is delayed",
]
LONE = "Why Zorblax matters to indie developers"  # shares only the name with each of them
# Linked on "ceasefire" + "Ukraine"; the last shares only "Ukraine", a common word.
UKRAINE = [
    "Ukraine ceasefire talks resume in Geneva",
    "Ukraine ceasefire monitors report shelling",
    "Ukraine ceasefire holds as talks continue",
]
FOLK = "Folk band from Ukraine wins song contest in Basel"


def _name(a: sim.Fingerprint, b: sim.Fingerprint) -> str | None:
    link = relate.tentative(a, b)
    assert link == relate.tentative(b, a)  # symmetric
    return link.shared[0] if link is not None and link.kind == relate.NAME_KIND else None


def test_one_shared_name_is_a_tentative_link_and_a_common_word_is_not():
    lone = fp(LONE)
    for title in SUBJECT:
        other = fp(title)
        assert relate.relate(lone, other) is None  # one shared word is never a same-subject link
        assert _name(lone, other) == "zorblax"
    # "Ukraine": capitalised, but a common word (idf below NAME_MIN_IDF)
    assert sim.idf("ukrain") < relate.NAME_MIN_IDF
    assert all(relate.tentative(fp(FOLK), fp(t)) is None for t in UKRAINE)
    # a rare word that is no name: lower case inside sentence-case headlines
    a, b = fp("Ukraine ceasefire holds as talks continue"), fp("Gaza ceasefire collapses after strikes")
    assert sim.idf("ceasefir") >= relate.NAME_MIN_IDF and relate.tentative(a, b) is None


def test_calendar_words_are_no_names(monkeypatch):
    monkeypatch.setattr(relate, "NAME_MIN_IDF", 1.0)  # whatever the bar, "March" is capitalised but no name
    a, b = fp("Gold price jumps in March on weak dollar"), fp("Why Zorblax fans will remember March forever")
    assert "march" in a.title_names and "march" in b.title_names
    assert relate.tentative(a, b) is None


def test_two_shared_words_below_the_cosine_bar_are_a_tentative_same_subject_link():
    # a long headline: two shared informative words, too little of it for relate() alone
    a = fp("Even after adjusting for holiday anomalies, China's exports slowed sharply in February")
    b = fp("Weak China exports weigh on stocks, hit commodities")
    cosine, shared = relate._headlines(a, b)
    assert shared == ["export", "china"] and relate.LOW_TITLE_COSINE <= cosine < relate.MIN_TITLE_COSINE
    assert relate.relate(a, b) is None
    link = relate.tentative(a, b)
    assert link is not None and link.kind == "same subject" and link.shared[0] == "export"
    assert link == relate.tentative(b, a)
    # an even longer one: below LOW_TITLE_COSINE, not even tentative
    c = fp("Analysts puzzle over holiday anomalies, currency swings, shipping delays and why China exports "
           "kept slowing through February")
    assert relate._headlines(c, b)[0] < relate.LOW_TITLE_COSINE and relate.tentative(c, b) is None


def test_articles_with_informative_bodies_have_no_tentative_links():
    body = ("The studio behind the game said on Tuesday that testing had found problems with the online mode, "
            "and that the release would move to the spring. Retailers were told to expect new dates soon. ")
    other = ("Independent developers gathered in Malmo this weekend to discuss funding, publishers and the "
             "tools they use to build small games, with talks on marketing and community management. ")
    a, b = fp(SUBJECT[0], body * 3), fp(LONE, other * 3)
    assert sim.body_informative(a) and sim.body_informative(b)
    assert relate.tentative(a, b) is None


def test_a_name_link_ranks_below_and_names_no_subject():
    link = relate.tentative(fp(LONE), fp(SUBJECT[0], minutes=30))
    assert link is not None and link.kind == relate.NAME_KIND and link.shared == ("zorblax",) and link.score > 0
    subject = relate.relate(fp(SUBJECT[0]), fp(SUBJECT[1], minutes=30))
    assert subject is not None and link.score < subject.score
    assert relate.subject_word(subject.reason()) == "zorblax"  # the heaviest shared word
    assert relate.subject_word(link.reason()) is None  # a name link proves nothing about its name


def test_a_story_shows_name_links_only_when_it_has_no_other():
    name, subject, event = relate.NAME_KIND, "same subject", "same event"
    assert relate.shown([(1.2, event), (0.3, subject), (0.004, name)]) == [0, 1]
    assert relate.shown([(0.3, subject), (0.5, name)]) == [0]
    assert relate.shown([(0.004, name), (0.003, name)]) == list(range(relate.NAME_SHOWN))
    assert relate.shown([]) == []


def _items(titles: list[str], guid: str, start: datetime) -> list[It]:
    return [It(t, f"https://{guid}.example/{n}", f"{guid}-{n}", "", start + timedelta(minutes=7 * n))
            for n, t in enumerate(titles)]


def _stories(cfg: Path) -> dict[str, dict]:
    out = syndicator("--config", str(cfg), "stories", "--json", "--limit", "0")
    assert out.returncode == 0, out.stderr
    return {s["title"]: s for s in json.loads(out.stdout)}


@pytest.fixture
def stream(feed_server, tmp_path):
    # each headline from its own source, as coverage of one subject by several publishers
    names = []
    for n, title in enumerate(SUBJECT + UKRAINE + [FOLK]):
        feed_server.resources[f"/p{n}.xml"] = Resource(rss2(_items([title], f"p{n}", T0 + timedelta(minutes=9 * n))))
        names.append(f"p{n}")
    feed_server.resources["/indie.xml"] = Resource(rss2([], "Indie"))
    cfg = write_config(tmp_path, {name: feed_server.url(f"/{name}.xml") for name in [*names, "indie"]})
    return feed_server, cfg


def test_a_lone_headline_links_on_the_name_the_stream_is_about(stream):
    server, cfg = stream
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    # the name's subject is established: each of the four links to the other three on it
    before = _stories(cfg)
    assert all(len(before[t]["related"]) == 3 for t in SUBJECT)

    server.resources["/indie.xml"] = Resource(rss2(_items([LONE], "indie", T0 + timedelta(hours=1)), "Indie"))
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    stories = _stories(cfg)
    lone = stories[LONE]
    # one link, to a story of the subject, and its reason says why
    assert len(lone["related"]) == relate.NAME_SHOWN
    assert lone["related"][0]["title"] in SUBJECT
    explained = syndicator("--config", str(cfg), "stories", "--explain", lone["id"])
    assert explained.returncode == 0, explained.stderr
    reason = json.loads(explained.stdout)["related"][0]["reason"]
    assert reason["kind"] == "same name" and reason["shared"] == ["zorblax"]
    # the subject's stories keep showing only their stronger links
    for title in SUBJECT:
        assert LONE not in {r["title"] for r in stories[title]["related"]}
        assert len(stories[title]["related"]) == 3
    # a story that shares only a common word stays without links
    assert stories[FOLK]["related"] == []
    assert all(len(stories[t]["related"]) == 2 for t in UKRAINE)


def test_no_name_link_without_a_subject_behind_it(feed_server, tmp_path):
    # the same lone headline, and only one other headline with the name: nothing shows it names a subject
    feed_server.resources["/games.xml"] = Resource(rss2(_items(SUBJECT[:1], "games", T0), "Games"))
    feed_server.resources["/indie.xml"] = Resource(rss2(_items([LONE], "indie", T0 + timedelta(hours=1)), "Indie"))
    cfg = write_config(tmp_path, {"games": feed_server.url("/games.xml"), "indie": feed_server.url("/indie.xml")})
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    stories = _stories(cfg)
    assert stories[LONE]["related"] == [] and stories[SUBJECT[0]]["related"] == []


def _linked_on_a_name(folder: Path) -> list[str]:
    """Ingest the subject's four headlines (one source each) and then the lone one into a store on
    disk; the kinds of the lone story's links."""
    store = Store(f"sqlite:///{folder / 'store.db'}")
    store.sync_sources([(f"p{n}", f"https://p{n}.example/") for n in range(5)])
    week = 7 * 86400.0
    for n, title in enumerate([*SUBJECT, LONE]):
        at = T0 + timedelta(minutes=9 * n)
        entry = Entry(guid=f"g{n}", url=f"https://p{n}.example/{n}", title=title, published=at)
        store.ingest(f"p{n}", [entry], at, 72 * 3600, related_window=week)
    with store.session() as s:
        lone = s.scalars(select(ArticleRow.story_id).where(ArticleRow.guid == "g4")).one()
        links = related_stories(s, [lone], 5).get(lone, [])
    store.close()
    return [ln.reason["kind"] for ln in links]


def test_a_name_common_in_the_stream_is_no_name(tmp_path, monkeypatch):
    (tmp_path / "rare").mkdir()
    (tmp_path / "common").mkdir()
    assert _linked_on_a_name(tmp_path / "rare") == [relate.NAME_KIND]
    # the same stream where four articles carrying the name are more than a name may have
    monkeypatch.setattr(relate, "NAME_MAX_POSTINGS", 3)
    assert _linked_on_a_name(tmp_path / "common") == []
