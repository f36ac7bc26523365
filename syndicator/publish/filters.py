"""Per-feed filters: which stories an output feed holds besides its sources.

Pure decisions on a story's text, categories and date, so they are tested
without a database; ``items.feed_story_ids`` applies them while paging
through the newest stories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from syndicator.config import FeedConfig


@dataclass(frozen=True)
class StoryText:
    """What filters look at: every headline of the story, the chosen body, every category."""

    titles: tuple[str, ...]
    body: str
    categories: tuple[str, ...]
    published: datetime


def has_filters(feed: FeedConfig) -> bool:
    return bool(feed.include or feed.exclude or feed.categories or feed.max_age)


def accepts(feed: FeedConfig, story: StoryText, now: datetime) -> bool:
    """Include patterns (any), exclude patterns (none), categories (any), not older than max_age."""
    if feed.max_age and story.published < now - timedelta(seconds=feed.max_age):
        return False
    text = "\n".join((*story.titles, story.body))
    if feed.include and not any(re.search(p, text, re.IGNORECASE) for p in feed.include):
        return False
    if feed.exclude and any(re.search(p, text, re.IGNORECASE) for p in feed.exclude):
        return False
    if feed.categories:
        wanted = {c.casefold() for c in feed.categories}
        if not wanted & {c.casefold() for c in story.categories}:
            return False
    return True
