"""Order independence: S3 delivers a scenario's events in any order, some twice, and the table
stream replays batches; the site bucket and the table end up exactly as in-order delivery leaves
them, and as a full rebuild of that final state.

The real code paths as the unit tests drive them: ``publish_event`` per S3 event (each with its
version id and sequencer) on in-memory ports, the articles-table stream (records of every
committed article, relink cursor and site item) drained into ``rebuild_changes`` /
``rebuild_all`` in batches, interleaved with the publishes. The clock is frozen.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

from chainpress.model import pad_sequencer
from chainpress.ports import ArticleChange, SourceState
from chainpress.publishing import PublishPorts, SourceEvent, publish_event
from chainpress.rebuilding import RebuildPorts, rebuild_all, rebuild_changes
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
)

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
# Orders tried here (seeded, so a failure names its seed); bench/bench_order.py runs the same
# harness over many more (``--orders 1000``) and counts what diverges.
ORDERS = int(os.environ.get("CHAINPRESS_ORDERS", "40"))

StreamRecord = tuple[Any, ...]


class StreamingStore(InMemoryArticleStore):
    """The in-memory table, with the stream DynamoDB would give the rebuild function: one record
    per article record written (its old and new image), per relink cursor written, and per
    site item (settings, theme) written."""

    def __init__(self) -> None:
        super().__init__()
        self.stream: list[StreamRecord] = []

    def commit(self, change: ArticleChange) -> None:
        slugs = [a.slug for a in (change.new, change.retired) if a is not None]
        before = {slug: self.articles.get(slug) for slug in slugs}
        super().commit(change)
        for slug in slugs:
            self.stream.append(("article", before[slug], self.articles.get(slug)))

    def commit_site(self, source: SourceState, **text: Any) -> None:
        before = self.site
        super().commit_site(source, **text)
        if self.site != before or text:
            self.stream.append(("site",))

    def set_relink(self, slug: str, after: str) -> None:
        super().set_relink(slug, after)
        self.stream.append(("relink", slug, after))


def md(
    title: str, date: str | None = "2024-04-01 08:00", body: str = "Text.", **meta: Any
) -> bytes:
    fields = {"title": title, **({"date": date} if date else {}), **meta}
    lines = ["---", *(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())]
    return "\n".join([*lines, "---", "", body, ""]).encode("utf-8")


# When the uploads were made (S3 LastModified of each version): edits carry no ``updated:``
# and one article no ``date:``; both come from the key's versions, whatever the arrival order.
UPLOADED = dt.datetime(2024, 4, 20, 9, 0, tzinfo=dt.UTC)
SITE_V1 = "name: Chain\ncategories:\n  - bitcoin: Bitcoin\n  - ethereum: Ethereum\n"
SITE_V2 = (
    "name: Chain\ntagline: Every block\nlanguage: en\n"
    "categories:\n  - bitcoin: Bitcoin\n  - ethereum: Ethereum\n  - defi: 去中心化金融\n"
)


def at(event: int) -> dt.datetime:
    """When the scenario's ``event``-th upload was made."""
    return UPLOADED + dt.timedelta(minutes=event)


@dataclasses.dataclass
class Scenario:
    content: InMemoryContentSource
    events: list[SourceEvent]


def scenario() -> Scenario:
    """Renames, deletes, drafts, edits, shared aliases, a category site.yaml adds later, a
    settings change; uploaded in this order (the versions' order in the content bucket)."""
    content = InMemoryContentSource()
    events: list[SourceEvent] = []

    def put(key: str, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        version = content.put(key, raw, at=UPLOADED + dt.timedelta(minutes=len(events)))
        seq = pad_sequencer(f"{0x1000 + len(events):X}")
        events.append(SourceEvent(key, version, seq, "created", len(raw)))

    def remove(key: str) -> None:
        content.delete(key)
        seq = pad_sequencer(f"{0x1000 + len(events):X}")
        events.append(SourceEvent(key, f"marker{len(events)}", seq, "removed"))

    put("site.yaml", SITE_V1)
    # A rename: the old URL is an alias of the new page.
    put("articles/a.md", md("Alpha", slug="old-name", category="bitcoin", tags=["ETF"]))
    put("articles/b.md", md("Beta", "2024-04-02 08:00", category="bitcoin", tags=["ETF", "L2"]))
    put(
        "articles/a.md",
        md("Alpha", slug="new-name", category="bitcoin", tags=["ETF"],
           aliases=["/articles/old-name/"], body="Text, edited."),
    )  # fmt: skip
    # A category site.yaml adds later (named by its label).
    put("articles/c.md", md("Gamma", "2024-04-03 08:00", category="去中心化金融", tags=["L2"]))
    # Edits: the text changes with no updated: field.
    put("articles/d.md", md("Delta", None, category="ethereum", tags=["ETF"]))  # undated
    put("articles/d.md", md("Delta", None, category="ethereum", tags=["ETF"],
                            body="Text, second take."))  # fmt: skip
    # A draft, and an article that is deleted.
    put("articles/e.md", md("Epsilon", "2024-04-05 08:00", category="bitcoin", tags=["L2"]))
    put("articles/e.md", md("Epsilon", "2024-04-05 08:00", category="bitcoin", tags=["L2"],
                            draft=True))  # fmt: skip
    put("articles/f.md", md("Zeta", "2024-04-06 08:00", category="ethereum", tags=["ETF"]))
    # Two articles claim one alias; one of them goes.
    put("articles/g.md", md("Eta", "2024-04-07 08:00", tags=["L2"], aliases=["/old/shared/"]))
    put("articles/h.md", md("Theta", "2024-04-08 08:00", tags=["L2"], aliases=["/old/shared/"]))
    put("site.yaml", SITE_V2)
    remove("articles/f.md")
    put("articles/b.md", md("Beta two", "2024-04-02 08:00", category="bitcoin", tags=["ETF"]))
    remove("articles/g.md")
    put("articles/i.md", md("Iota", "2024-04-09 08:00", category="defi", tags=["ETF", "L2"]))
    return Scenario(content, events)


class Run:
    """One delivery of the scenario's events to a fresh table and site bucket."""

    def __init__(self, content: InMemoryContentSource) -> None:
        self.store = StreamingStore()
        self.site = InMemorySiteWriter()
        self.publish = PublishPorts(content=content, site=self.site, store=self.store)
        self.rebuild = RebuildPorts(self.store, self.site, InMemoryHotLists())
        self.delivered: list[list[StreamRecord]] = []  # stream batches, for replays

    def deliver(self, event: SourceEvent) -> None:
        publish_event(event, self.publish, NOW)

    def drain(self, rng: random.Random | None = None) -> None:
        """Hand the stream to the rebuild in batches (random sizes, some replayed)."""
        while self.store.stream:
            size = rng.randint(1, 4) if rng else len(self.store.stream)
            batch, self.store.stream[:] = self.store.stream[:size], self.store.stream[size:]
            self.rebuild_batch(batch)
            self.delivered.append(batch)
            if rng and rng.random() < 0.2:  # the stream replays an earlier batch
                self.rebuild_batch(rng.choice(self.delivered))

    def rebuild_batch(self, batch: list[StreamRecord]) -> None:
        changes = [(r[1], r[2]) for r in batch if r[0] == "article"]
        relinks = sorted({r[1]: r[2] for r in batch if r[0] == "relink"}.items())
        if any(r[0] == "site" for r in batch):
            rebuild_all(self.rebuild, NOW)  # the serial reference of the fanned-out run
        if changes or relinks:
            rebuild_changes(changes, self.rebuild, NOW, relinks=relinks)

    def site_bytes(self) -> dict[str, tuple[bytes, str, str]]:
        return {
            key: (obj.data, obj.content_type, obj.cache_control)
            for key, obj in self.site.objects.items()
        }

    def table(self) -> dict[str, Any]:
        """The table's content. Left out: what counts commits or remembers history by design
        (head ``version``, listing ``epoch``, the listing index's order of first use), none of
        which any page shows."""
        store = self.store
        return {
            # Tombstones (removed records) and the slug a removal remembers depend on whether
            # the upload was applied before its deletion; no page shows them.
            "articles": {k: a for k, a in store.articles.items() if a.status != "removed"},
            "sources": {
                k: dataclasses.replace(s, slug="") if s.status == "removed" else s
                for k, s in store.sources.items()
            },
            "members": {k: dict(v) for k, v in store.members.items() if v},
            "counts": {k: h.count for k, h in store.head_of.items() if h.count},
            "bounds": {k: v for k, v in store.bounds.items() if v},
            "related_by": {k: list(v) for k, v in store.related_by.items() if v},
            "relinks": dict(store.relinks),
            "aliases": dict(store.alias_claims),
            "waiting": {k: v for k, v in store.waiters.items() if v},
            "site": store.site,
        }


def in_order(s: Scenario) -> Run:
    run = Run(s.content)
    for event in s.events:
        run.deliver(event)
        run.drain()
    return run


def shuffled(s: Scenario, seed: int) -> Run:
    """The events in a random order, about a third of them twice (or three times), the stream
    drained at random moments in random batches, some batches replayed."""
    rng = random.Random(seed)
    events = list(s.events)
    events += rng.sample(s.events, rng.randint(0, len(s.events) // 2))
    rng.shuffle(events)
    run = Run(s.content)
    for event in events:
        run.deliver(event)
        if rng.random() < 0.5:
            run.drain(rng)
    run.drain(rng)
    return run


def differences(a: Run, b: Run) -> Iterator[str]:
    sa, sb = a.site_bytes(), b.site_bytes()
    for key in sorted(sa.keys() | sb.keys()):
        if sa.get(key) != sb.get(key):
            yield f"site {key}: " + ("missing" if key not in sb else "extra" if key not in sa
                                     else "differs")  # fmt: skip
    ta, tb = a.table(), b.table()
    for name in ta:
        if ta[name] != tb[name]:
            if isinstance(ta[name], dict):
                for key in sorted(ta[name].keys() | tb[name].keys(), key=str):
                    if ta[name].get(key) != tb[name].get(key):
                        yield f"table {name} {key}"
            else:
                yield f"table {name}"


@pytest.fixture(scope="module")
def reference() -> tuple[Scenario, Run]:
    s = scenario()
    return s, in_order(s)


def test_in_order_delivery_equals_a_full_rebuild_of_its_final_state(
    reference: tuple[Scenario, Run],
) -> None:
    _, run = reference
    before = run.site_bytes()
    rebuild_all(run.rebuild, NOW)
    run.drain()
    assert run.site_bytes() == before


def test_in_order_delivery_gives_the_site_an_editor_expects(
    reference: tuple[Scenario, Run],
) -> None:
    _, run = reference
    pages = run.site.objects
    assert "articles/new-name/index.html" in pages
    redirect = run.site.text("articles/old-name/index.html")
    assert 'url=/articles/new-name/"' in redirect
    assert "url=/articles/h/" in run.site.text("old/shared/index.html")  # g (older) is gone
    assert "articles/f/index.html" not in pages
    assert "articles/e/index.html" not in pages
    gamma = run.store.get_article("c")
    assert gamma is not None
    # Dates from the uploads: the undated article is dated by its first version, and edits
    # without updated: are updated when they were uploaded; first versions are not.
    delta = run.store.get_article("d")
    assert delta is not None
    assert (delta.date, delta.updated) == (at(5), at(6))
    alpha = run.store.get_article("new-name")
    assert alpha is not None
    assert alpha.updated == at(3)
    assert gamma.updated is None
    assert gamma.category == "defi"
    assert "Every block" in run.site.text("index.html")


def divergences(s: Scenario, expected: Run, seeds: range) -> dict[str, int]:
    """How many orders diverged (``orders``), and how often each difference was seen."""
    diverged: dict[str, int] = {"orders": 0}
    for seed in seeds:
        found = list(differences(expected, shuffled(s, seed)))
        for item in found:
            diverged[item] = diverged.get(item, 0) + 1
        diverged["orders"] += bool(found)
    return dict(sorted(diverged.items(), key=lambda kv: -kv[1]))


def test_any_order_with_duplicates_and_replays_converges(
    reference: tuple[Scenario, Run],
) -> None:
    s, expected = reference
    assert divergences(s, expected, range(ORDERS)) == {"orders": 0}
