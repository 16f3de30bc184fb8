"""An in-memory site for hostile-input tests: upload files, look at what readers get."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

from chainpress.model import pad_sequencer
from chainpress.publishing import PublishOutcome, PublishPorts, SourceEvent, publish_event
from chainpress_dev.memory import InMemoryArticleStore, InMemoryContentSource, InMemorySiteWriter

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)

CATEGORIES = [f"cat{i}" for i in range(9)]
SITE_YAML = "name: Hostile Test\ncategories:\n" + "".join(
    f"  - key: {key}\n    label: Category {i}\n" for i, key in enumerate(CATEGORIES)
)


def article(title: str, *, category: str = "cat0", tags: tuple[str, ...] = ("ETF",)) -> bytes:
    meta = {"title": title, "date": "2024-04-30 08:00", "category": category, "tags": list(tags)}
    lines = ["---", *(f"{k}: {json.dumps(v)}" for k, v in meta.items()), "---", "", "Body.", ""]
    return "\n".join(lines).encode()


class Site:
    def __init__(self) -> None:
        self.content = InMemoryContentSource()
        self.writer = InMemorySiteWriter()
        self.store = InMemoryArticleStore()
        self.ports = PublishPorts(content=self.content, site=self.writer, store=self.store)
        self.seq = 0x100

    def upload(self, key: str, data: bytes, now: dt.datetime = NOW) -> PublishOutcome:
        self.seq += 1
        version = self.content.put(key, data)
        event = SourceEvent(
            key=key,
            version_id=version,
            sequencer=pad_sequencer(f"{self.seq:X}"),
            kind="created",
            size=len(data),
        )
        return publish_event(event, self.ports, now)

    def live(self) -> tuple[str, dict[str, Any], Any, dict[str, Any]]:
        """What readers are served and what the site renders from."""
        store = self.store
        return (
            self.writer.digest(),
            copy.deepcopy(store.articles),
            copy.deepcopy(store.site),
            copy.deepcopy(store.members),
        )


# A harmless override: the site already runs an editor's theme when the attacks come.
BASE_OVERRIDE = (
    '{% extends "base.html" %}{% block main %}<h1 class="custom">{{ article.title }}</h1>'
    "{{ body }}{% endblock %}"
)
