"""Related stories, end to end: the page in the shared examples, through the real command line.

One story under two headlines (the same body) becomes one story; the three stories the page lists
below it stay separate stories and appear among its related links, in every format; a story that
shares only the word "Ukraine" is not linked; links arrive incrementally and republish the older
story with a new ``updated`` but the same id and ``published``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from syndicator import relate
from syndicator import similarity as sim
from syndicator.sanitize import html_to_text
from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, atom, rss2
from tests.test_pipeline import validate_atom, validate_json_feed

FIXTURES = Path(__file__).parent / "fixtures" / "related"
SIX_STATES = (FIXTURES / "six_states.txt").read_text(encoding="utf-8")
ATOM_NS = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2025, 4, 11, 9, 30, tzinfo=UTC)


def _html(text: str) -> str:
    return "".join(f"<p>{p}</p>" for p in text.split("\n") if p.strip())


MAIN = It("Only Six Western States Commit Troops to Ukraine, Europe Divided",
          "https://interbellum.example/six-states", "ib-1", _html(SIX_STATES), T0)
VARIANT = It("Six Western Nations Pledge Troops to Ukraine, Europe Shows Hesitation",
             "https://interbellum.example/six-nations-pledge", "ib-1b", _html(SIX_STATES), T0 + timedelta(minutes=40))
MACRON_ROLE = It(
    "France's Macron Poised for Key Role in Russia-Ukraine Peace Negotiations",
    "https://wire.example/macron-key-role", "w-1",
    _html(
        "French President Emmanuel Macron is expected to take a leading role in negotiations over a peace "
        "settlement between Russia and Ukraine, diplomats in Paris and Brussels said on Friday.\n"
        "France, together with the UK, has led the coalition of the willing, the group of about 30 countries "
        "discussing a reassurance force that would deploy troops to Ukraine once hostilities end. Macron has "
        "argued that European troops on Ukrainian soil would deter Russia from renewing its offensive.\n"
        "Defense ministers from the coalition met in Brussels this week, where the UK and France confirmed "
        "their pledge while other Western governments, including the Netherlands and Sweden, asked what the "
        "mandate of such a force would be and what it would do in case of escalation with Russia.\n"
        "Moscow has warned that any NATO troops in Ukraine, even as peacekeepers, would be a legitimate target."
    ),
    T0 + timedelta(hours=5),
)
ZELENSKY = It(
    "Zelensky Claims Agreements on European Troops in Ukraine Near Complete",
    "https://wire.example/zelensky-troops", "w-2",
    _html(
        "Ukrainian President Volodymyr Zelensky said on Saturday that agreements with European partners on "
        "deploying troops to Ukraine after a ceasefire were almost complete.\n"
        "Speaking in Kyiv, Zelensky said the UK, France and the Baltic states Estonia, Latvia and Lithuania had "
        "committed to a reassurance force, and that talks with other members of the coalition of the willing "
        "were advancing despite their hesitation over the mission's mandate.\n"
        "He urged the United States to back the deployment, which Washington has said it will not join. Russia "
        "has repeatedly said it would treat NATO troops in Ukraine as a direct military confrontation, and "
        "Dmitry Medvedev warned that Western peacekeepers would mean war."
    ),
    T0 + timedelta(days=1),
)
MACRON_DECIDE = It(
    "Macron: Ukraine, Not Russia, to Decide on Peacekeepers",
    "https://wire.example/macron-decide", "w-3",
    _html(
        "French President Emmanuel Macron said on Tuesday that Ukraine, not Russia, would decide whether "
        "foreign peacekeepers are deployed on its territory after a peace agreement.\n"
        "Macron rejected Moscow's objections to a European reassurance force, saying Russia had no say over "
        "the security guarantees a sovereign Ukraine asks of its allies. France and the UK lead the coalition "
        "of the willing preparing to send troops to Ukraine, while other Western countries remain hesitant.\n"
        "The Kremlin has warned that NATO peacekeepers in Ukraine would be viewed as a direct confrontation."
    ),
    T0 + timedelta(days=2),
)
# Shares "Ukraine" with all of them, and nothing else: not related.
EUROVISION = It(
    "Ukraine's Folk Band Wins Song Contest Semi-Final in Basel",
    "https://arts.example/eurovision", "a-1",
    _html(
        "A folk band representing Ukraine won its semi-final of the Eurovision Song Contest in Basel on "
        "Thursday night with a ballad sung in Ukrainian, delighting an audience of twelve thousand fans.\n"
        "The five musicians, who met at a music conservatory, blended a traditional lullaby with electronic "
        "beats; bookmakers now list them among the favourites for Saturday's grand final, alongside Sweden "
        "and Austria. The band thanked its fans and said rehearsals for the final start on Friday morning."
    ),
    T0 + timedelta(hours=8),
)
OLD = It(  # on the same subject, but published three weeks earlier: outside the 14-day window
    "European Leaders Discuss Troops for Ukraine at Paris Summit",
    "https://wire.example/paris-summit", "w-0",
    MACRON_ROLE.body,
    T0 - timedelta(days=21),
)


@pytest.fixture
def site(feed_server, tmp_path):
    feed_server.resources["/interbellum.xml"] = Resource(rss2([MAIN, VARIANT], "Inter Bellum News"))
    feed_server.resources["/wire.atom"] = Resource(
        atom([MACRON_ROLE, ZELENSKY, MACRON_DECIDE, OLD], "Wire"), "application/atom+xml"
    )
    feed_server.resources["/arts.xml"] = Resource(rss2([EUROVISION], "Arts"))
    cfg = write_config(
        tmp_path,
        {
            "interbellum": feed_server.url("/interbellum.xml"),
            "wire": feed_server.url("/wire.atom"),
            "arts": feed_server.url("/arts.xml"),
        },
    )
    return cfg


def _stories(cfg: Path) -> dict[str, dict]:
    out = syndicator("--config", str(cfg), "stories", "--json", "--limit", "0")
    assert out.returncode == 0, out.stderr
    return {s["title"]: s for s in json.loads(out.stdout)}


def test_the_example_page_one_story_and_its_related_stories(site):
    out = syndicator("--config", str(site), "refresh")
    assert out.returncode == 0, out.stderr
    stories = _stories(site)
    main = stories[MAIN.title]
    # the two headlines are one story; the three related stories stay apart
    assert {a["guid"] for a in main["articles"]} == {"ib-1", "ib-1b"}
    assert VARIANT.title not in stories
    related = [MACRON_ROLE, ZELENSKY, MACRON_DECIDE]
    assert all(len(stories[it.title]["articles"]) == 1 for it in related)
    linked = {r["title"]: r for r in main["related"]}
    assert set(linked) == {it.title for it in related}, main["related"]
    for it in related:
        # a link carries the related story's id and headline, and points to its article
        assert linked[it.title] == {"id": stories[it.title]["id"], "title": it.title, "url": it.link}
        assert main["id"] in {r["id"] for r in stories[it.title]["related"]}
    # never itself or its variants; never by one shared common word; never outside the window
    assert main["id"] not in {r["id"] for r in main["related"]}
    assert all(r["title"] != VARIANT.title for r in main["related"])
    assert stories[EUROVISION.title]["related"] == []
    assert OLD.title not in linked
    assert all(r["title"] != OLD.title for s in stories.values() if s["title"] != OLD.title for r in s["related"])

    # the reason can be shown
    explained = syndicator("--config", str(site), "stories", "--explain", main["id"])
    assert explained.returncode == 0, explained.stderr
    reasons = {r["title"]: r["reason"] for r in json.loads(explained.stdout)["related"]}
    assert set(reasons) == set(linked)
    for reason in reasons.values():
        assert reason["kind"] in ("same event", "same subject") and reason["score"] > 0
        assert reason["shared"] and all(isinstance(w, str) for w in reason["shared"])


def test_related_links_in_every_format(site, tmp_path):
    assert syndicator("--config", str(site), "refresh").returncode == 0
    stories = _stories(site)
    main = stories[MAIN.title]
    want = {(r["url"], r["title"]) for r in main["related"]}
    assert len(want) == 3
    public = tmp_path / "public"

    atom_doc = etree.fromstring((public / "all.atom").read_bytes())
    entry = next(e for e in atom_doc.iter(f"{ATOM_NS}entry") if e.findtext(f"{ATOM_NS}id") == main["id"])
    links = [ln for ln in entry.findall(f"{ATOM_NS}link") if ln.get("rel") == "related"]
    assert {(ln.get("href"), ln.get("title")) for ln in links} == want
    assert [ln.get("title") for ln in links] == [r["title"] for r in main["related"]]  # best first
    validate_atom((public / "all.atom").read_bytes())

    rss_doc = etree.fromstring((public / "all.rss").read_bytes())
    item = next(i for i in rss_doc.iter("item") if i.findtext("guid") == main["id"])
    rss_links = [ln for ln in item.findall(f"{ATOM_NS}link") if ln.get("rel") == "related"]
    assert {(ln.get("href"), ln.get("title")) for ln in rss_links} == want
    description = item.findtext("description")
    assert "Related stories" in description
    assert all(f'href="{url}"' in description for url, _ in want)
    parsed = feedparser.parse((public / "all.rss").read_bytes())
    assert not parsed.bozo

    feed = json.loads((public / "all.json").read_bytes())
    validate_json_feed((public / "all.json").read_bytes())
    jitem = next(i for i in feed["items"] if i["id"] == main["id"])
    assert jitem["_syndicator"]["related"] == main["related"]
    assert "Related stories" in jitem["content_html"]
    assert all(f'href="{url}"' in jitem["content_html"] for url, _ in want)

    # the index page lists them under the story
    page = lxml.html.fromstring((public / "index.html").read_bytes())
    story = next(li for li in page.xpath('//li[@class="story"]') if li.xpath("string(.//h3)") == MAIN.title)
    blocks = {b.xpath("string(p)"): b for b in story.xpath('.//div[@class="more"]')}
    assert {(a.get("href"), a.text_content()) for a in blocks["Related"].xpath(".//li/a")} == want
    assert [a.text_content() for a in blocks["Also published as"].xpath(".//li/a")] == [VARIANT.title]

    # an unrelated story has no related element anywhere
    euro = stories[EUROVISION.title]
    entry = next(e for e in atom_doc.iter(f"{ATOM_NS}entry") if e.findtext(f"{ATOM_NS}id") == euro["id"])
    assert not [ln for ln in entry.findall(f"{ATOM_NS}link") if ln.get("rel") == "related"]


def test_links_arrive_incrementally_and_republish_the_older_story(feed_server, tmp_path):
    feed_server.resources["/interbellum.xml"] = Resource(rss2([MAIN], "Inter Bellum News"))
    feed_server.resources["/wire.xml"] = Resource(rss2([], "Wire"))
    cfg = write_config(
        tmp_path, {"interbellum": feed_server.url("/interbellum.xml"), "wire": feed_server.url("/wire.xml")}
    )
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    atom_path = tmp_path / "public" / "all.atom"
    before = feedparser.parse(atom_path.read_bytes()).entries[0]
    assert before.title == MAIN.title
    assert _stories(cfg)[MAIN.title]["related"] == []

    feed_server.resources["/wire.xml"] = Resource(rss2([ZELENSKY], "Wire"))
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    stories = _stories(cfg)
    assert [r["title"] for r in stories[MAIN.title]["related"]] == [ZELENSKY.title]
    assert [r["title"] for r in stories[ZELENSKY.title]["related"]] == [MAIN.title]
    after = next(e for e in feedparser.parse(atom_path.read_bytes()).entries if e.id == before.id)
    # republished with its new link: same id and published date, a later updated date
    assert after.published == before.published
    assert after.updated_parsed > before.updated_parsed
    assert any(ln.get("rel") == "related" and ln.get("href") == ZELENSKY.link for ln in after.links)


def test_only_a_shared_common_word_is_no_relation():
    a = sim.fingerprint(sim.Doc(MAIN.title, SIX_STATES, MAIN.link, T0, "a"))
    b = sim.fingerprint(sim.Doc(EUROVISION.title, html_to_text(EUROVISION.body), EUROVISION.link, T0, "b"))
    assert relate.relate(a, b) is None
    c = sim.fingerprint(sim.Doc(ZELENSKY.title, html_to_text(ZELENSKY.body), ZELENSKY.link, T0, "c"))
    link = relate.relate(a, c)
    assert link is not None and relate.relate(c, a) == link  # symmetric
    assert "troop" in link.shared
