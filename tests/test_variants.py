"""A variant of a story (new guid, URL and headline, same body) arrives after readers have seen
the story: real readers must not show it again. newsboat keeps the same items, still read;
rss2email sends no second mail. With ``headline = "first"`` and ``"latest"``."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Resource, require_tool, syndicator, write_config
from tests.feedmaker import It, long_body, rss2
from tests.readers import Newsboat, serving

BODY = long_body("The six nations")
ORIGINAL = It("Only Six Western States Commit Troops to Ukraine, Europe Divided",
              "https://news.example/2025/04/six-states", "ib-1", BODY)
VARIANT = It("Six Western Nations Pledge Troops to Ukraine, Europe Shows Hesitation",
             "https://news.example/2025/04/six-nations-pledge", "ib-1-b", BODY)
OTHER = It("Macron: Ukraine, Not Russia, to Decide on Peacekeepers",
           "https://news.example/2025/04/macron-peacekeepers", "ib-2", long_body("Macron on peacekeepers"))


class RSS2Email:
    """rss2email with a stand-in sendmail that appends every message to an mbox."""

    def __init__(self, folder: Path) -> None:
        self.binary = require_tool("r2e")
        folder.mkdir(parents=True, exist_ok=True)
        self.mbox = folder / "mail.mbox"
        sendmail = folder / "sendmail"
        sendmail.write_text(
            "#!/usr/bin/env python3\nimport mailbox, sys\n"
            f"box = mailbox.mbox({str(self.mbox)!r})\nbox.add(sys.stdin.buffer.read())\nbox.flush()\n"
        )
        sendmail.chmod(0o755)
        self.config = folder / "r2e.cfg"
        self.data = folder / "r2e.json"
        self.config.write_text(
            "[DEFAULT]\nfrom = syndicator@example.org\nemail-protocol = sendmail\n"
            f"sendmail = {sendmail}\nto = reader@example.org\n"
        )

    def r2e(self, *args: str) -> None:
        out = subprocess.run(
            [self.binary, "-c", str(self.config), "-d", str(self.data), *args],
            capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(self.config.parent)},
        )
        assert out.returncode == 0, out.stdout + out.stderr

    def subjects(self) -> list[str]:
        if not self.mbox.exists():
            return []
        return [str(m["subject"]) for m in mailbox.mbox(self.mbox)]


@pytest.mark.parametrize("headline", ["first", "latest"])
def test_variant_is_not_shown_again(feed_server, tmp_path, headline):
    feed_server.resources["/f.xml"] = Resource(rss2([ORIGINAL, OTHER]))
    cfg = write_config(tmp_path, {"wire": feed_server.url("/f.xml")}, extra=f'[merge]\nheadline = "{headline}"\n')
    assert syndicator("--config", str(cfg), "refresh").returncode == 0

    with serving(cfg) as base:
        url = base + "all.rss"
        reader = Newsboat(tmp_path / "newsboat", [url])
        reader.reload()
        before = reader.items(url)
        assert len(before) == 2
        reader.mark_all_read()
        mail = RSS2Email(tmp_path / "r2e")
        mail.r2e("add", "syndicator", base + "all.atom")
        mail.r2e("run")
        first_mails = mail.subjects()
        assert len(first_mails) == 2

        # The A/B test swaps the headline: a new guid, URL and title, the same body.
        feed_server.resources["/f.xml"] = Resource(rss2([VARIANT, OTHER]))
        assert syndicator("--config", str(cfg), "refresh").returncode == 0
        stories = json.loads(syndicator("--config", str(cfg), "stories", "--json").stdout)
        assert len(stories) == 2
        story = next(s for s in stories if len(s["articles"]) == 2)
        assert story["url"] == ORIGINAL.link  # the story keeps its link
        expected = ORIGINAL.title if headline == "first" else VARIANT.title
        assert story["title"] == expected

        reader.reload()
        after = reader.items(url)
        assert len(after) == 2
        assert {i["guid"] for i in after} == {i["guid"] for i in before}
        assert all(i["unread"] == 0 for i in after), after  # still read
        mail.r2e("run")
        assert mail.subjects() == first_mails  # no second mail

    rss = (tmp_path / "public" / "all.rss").read_text()
    assert "Also published as" in rss
    other_title = VARIANT.title if headline == "first" else ORIGINAL.title
    assert other_title in rss
