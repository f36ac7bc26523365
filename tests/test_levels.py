"""``[merge] level``: "article" keeps different reports of one event apart; "event" groups the
coverage of one event (as Google News does) and still keeps two similar events apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.conftest import Resource, syndicator, write_config
from tests.feedmaker import It, rss2

T0 = datetime(2025, 4, 11, 9, 0, tzinfo=UTC)
# Two outlets' own reports of one event, and a similar but different event (after ECB+ topic 1).
REID_1 = (
    "Tara Reid has checked herself into Promises Treatment Center in Malibu, her representative Jack "
    "Ketsoyan told People magazine on Tuesday. Ketsoyan would not say what the American Pie star was being "
    "treated for. The 33-year-old actress has struggled with partying in the past, and friends said Reid "
    "wanted a quiet stay at Promises away from the cameras. Promises Treatment Center has treated many "
    "celebrities over the years."
)
REID_2 = (
    "Actress Tara Reid entered the Promises rehabilitation facility in Malibu this week. Her rep, Jack "
    "Ketsoyan, confirmed the news to People and asked for privacy for Reid and her family. The American "
    "Pie actress did not reveal what she is being treated for. Reid, 33, is known for her party lifestyle, "
    "and this is her first stay at Promises, according to Ketsoyan."
)
LOHAN = (
    "Lindsay Lohan reported to the Betty Ford Center in Rancho Mirage on Friday to begin a court-ordered "
    "stay, her lawyer Shawn Chapman Holley said. Judge Elden Fox had sentenced Lohan to 90 days of rehab "
    "after she violated her probation. The Mean Girls actress arrived at Betty Ford late at night, and Holley "
    "said Lohan was committed to completing the program this time. Fox will review her progress next month."
)


def _run(feed_server, tmp_path, level: str) -> list[dict]:
    feed_server.resources["/people.xml"] = Resource(rss2([
        It("Tara Reid checks into rehab", "https://people.example/tara-reid-rehab", "p1", REID_1, T0),
        It("Lindsay Lohan begins rehab stay at Betty Ford", "https://people.example/lohan-betty-ford", "p2",
           LOHAN, T0 + timedelta(hours=5)),
    ]))
    feed_server.resources["/wire.xml"] = Resource(rss2([
        It("Reid enters Promises facility in Malibu", "https://wire.example/reid-promises", "w1", REID_2,
           T0 + timedelta(hours=3)),
    ]))
    folder = tmp_path / level
    folder.mkdir()
    cfg = write_config(folder, {"people": feed_server.url("/people.xml"), "wire": feed_server.url("/wire.xml")},
                       extra=f'[merge]\nlevel = "{level}"\n')
    assert syndicator("--config", str(cfg), "refresh").returncode == 0
    return json.loads(syndicator("--config", str(cfg), "stories", "--json").stdout)


def test_article_level_keeps_separate_reports_apart(feed_server, tmp_path):
    assert len(_run(feed_server, tmp_path, "article")) == 3


def test_event_level_groups_coverage_but_not_a_similar_event(feed_server, tmp_path):
    stories = _run(feed_server, tmp_path, "event")
    assert len(stories) == 2
    groups = sorted(sorted(a["guid"] for a in s["articles"]) for s in stories)
    assert groups == [["p1", "w1"], ["p2"]]
    reid = next(s for s in stories if len(s["articles"]) == 2)
    assert reid["title"] == "Tara Reid checks into rehab"
    feed = (tmp_path / "event" / "public" / "all.atom").read_text()
    assert "Coverage" in feed and "Reid enters Promises facility in Malibu" in feed
