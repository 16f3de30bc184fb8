"""Retries of what DynamoDB or a racing writer refuses: the backoff's bounds, and a publish that
reads and plans again when its record changed between read and commit."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from chainpress.model import Article
from chainpress.ports import ArticleChange, ArticleConflict
from chainpress.publishing import MAX_PLANS, PublishPorts, SourceEvent, publish_event
from chainpress.retry import backoff_delay, max_total_delay
from chainpress_dev.memory import InMemoryArticleStore, InMemoryContentSource, InMemorySiteWriter

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)


def test_backoff_is_full_jitter_within_an_exponential_capped_bound() -> None:
    rng = random.Random(3)
    for attempt in range(12):
        bound = min(2.0, 0.05 * 2**attempt)
        delays = [backoff_delay(attempt, base=0.05, cap=2.0, rand=rng.random) for _ in range(500)]
        assert all(0 <= d < bound for d in delays)
        assert max(delays) > 0.9 * bound  # the whole range is used ...
        assert min(delays) < 0.1 * bound  # ... from (almost) nothing: callers spread out
    assert backoff_delay(3, base=0.05, cap=2.0, rand=lambda: 0.999) == pytest.approx(0.3996)
    assert backoff_delay(10_000, base=0.05, cap=2.0, rand=lambda: 0.5) == 1.0
    # Seven retries of a transaction (8 attempts) wait 5.15 s at most in all.
    assert max_total_delay(7, base=0.05, cap=2.0) == pytest.approx(5.15)
    with pytest.raises(ValueError, match="from 0"):
        backoff_delay(-1, base=1, cap=1)


class RacingStore(InMemoryArticleStore):
    """Another file takes the slug between publish's read and its commit (``racers`` times)."""

    def __init__(self, racers: int) -> None:
        super().__init__()
        self.racers = racers
        self.commits = 0

    def commit(self, change: ArticleChange) -> None:
        self.commits += 1
        if change.new is not None and self.racers > 0:
            self.racers -= 1
            raise ArticleConflict("article appeared while publishing; retry")
        super().commit(change)


def ports(store: InMemoryArticleStore, pauses: list[float]) -> PublishPorts:
    content = InMemoryContentSource()
    content.put("articles/story.md", b"---\ntitle: Story\ncategory: bitcoin\n---\n\nBody.\n")
    return PublishPorts(content, InMemorySiteWriter(), store, pause=pauses.append)


def event(store: PublishPorts) -> SourceEvent:
    content = store.content
    assert isinstance(content, InMemoryContentSource)
    return SourceEvent("articles/story.md", content.latest["articles/story.md"], "01", "created")


def test_a_conflicting_commit_is_planned_again_after_a_jittered_pause() -> None:
    store, pauses = RacingStore(racers=2), []
    p = ports(store, pauses)
    outcome = publish_event(event(p), p, NOW)
    assert outcome.status == "published"
    assert store.commits == 3
    assert len(pauses) == 2
    assert all(0 <= s < 1.0 for s in pauses)
    assert isinstance(store.get_article("story"), Article)
    assert [a.slug for a in store.newest("home", 5)] == ["story"]


def test_a_publish_that_keeps_conflicting_fails_so_lambda_retries_the_event() -> None:
    store, pauses = RacingStore(racers=MAX_PLANS), []
    p = ports(store, pauses)
    with pytest.raises(ArticleConflict):
        publish_event(event(p), p, NOW)
    assert store.commits == MAX_PLANS  # bounded
    assert len(pauses) == MAX_PLANS - 1
    assert store.get_article("story") is None  # nothing half-applied
    assert p.site.read("articles/story/index.html") is None  # type: ignore[attr-defined]
