"""The publish use cases with the in-memory ports: what an editor uploading files would see."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from chainpress.model import Article, pad_sequencer
from chainpress.ports import CACHE_ARTICLE, HTML, body_key
from chainpress.publishing import (
    MEDIA_CACHE,
    PublishOutcome,
    PublishPorts,
    SourceEvent,
    alias_key,
    choose_related,
    page_key,
    publish_event,
    related_articles,
    render_article_page,
    route,
    write_article_page,
)
from chainpress.site import load_site
from chainpress_dev.memory import InMemoryArticleStore, InMemoryContentSource, InMemorySiteWriter
from tests.support import images

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def source(
    title: str = "链圈 news", body: str = "比特币 ETF 今天获批。Markets moved.", **meta: Any
) -> bytes:
    fields = {
        "title": title,
        "date": "2024-04-30 08:00",
        "author": "Alice",
        "category": "bitcoin",
        "tags": ["ETF"],
        **meta,
    }
    lines = [
        "---",
        *(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items() if v is not None),
        "---",
        "",
        body,
        "",
    ]
    return "\n".join(lines).encode("utf-8")


class Site:
    """An editor's view of the engine: upload/delete files, then look at pages and reports."""

    def __init__(self) -> None:
        self.content = InMemoryContentSource()
        self.writer = InMemorySiteWriter()
        self.store = InMemoryArticleStore()
        self.ports = PublishPorts(content=self.content, site=self.writer, store=self.store)
        self.seq = 0x100
        self.events: list[SourceEvent] = []

    def event(self, key: str, version: str, kind: str = "created") -> SourceEvent:
        self.seq += 1
        ev = SourceEvent(
            key=key, version_id=version, sequencer=pad_sequencer(f"{self.seq:X}"), kind=kind
        )  # type: ignore[arg-type]
        self.events.append(ev)
        return ev

    def upload(self, key: str, data: bytes, now: dt.datetime = NOW) -> PublishOutcome:
        return self.deliver(self.event(key, self.content.put(key, data)), now)

    def delete(self, key: str) -> PublishOutcome:
        return self.deliver(self.event(key, "delete-marker", "removed"))

    def deliver(self, ev: SourceEvent, now: dt.datetime = NOW) -> PublishOutcome:
        return publish_event(ev, self.ports, now)

    def page(self, slug: str) -> str:
        return self.writer.text(page_key(slug))

    def report(self, key: str) -> dict[str, Any]:
        return self.content.reports[key]

    def snapshot(self) -> tuple[str, dict[str, Article], dict[str, Any]]:
        return self.writer.digest(), dict(self.store.articles), dict(self.store.sources)


@pytest.fixture
def site() -> Site:
    return Site()


# -- a Markdown upload becomes a live article page ------------------------------------------


def test_upload_publishes_page_body_record_and_report(site: Site) -> None:
    outcome = site.upload("articles/2022/链圈 news.md", source())
    assert outcome.status == "published"
    assert outcome.slug == "链圈-news"
    page = site.page("链圈-news")
    assert "<h1>链圈 news</h1>" in page
    assert "比特币 ETF 今天获批" in page
    stored = site.writer.objects[page_key("链圈-news")]
    assert (stored.content_type, stored.cache_control) == (HTML, CACHE_ARTICLE)
    assert "比特币 ETF 今天获批" in site.writer.text(body_key("链圈-news"))
    article = site.store.get_article("链圈-news")
    assert article is not None
    assert article.status == "live"
    assert article.source_key == "articles/2022/链圈 news.md"
    assert [a.slug for a in site.store.newest("category/bitcoin", 5)] == ["链圈-news"]
    report = site.report("articles/2022/链圈 news.md")
    assert report["status"] == "published"
    assert report["url"] == "/articles/链圈-news/"
    assert report["error"] is None
    assert report["version_id"] == "v1"
    assert page_key("链圈-news") in outcome.written


def test_redelivered_event_changes_nothing(site: Site) -> None:
    site.upload("articles/a.md", source("A"))
    before = site.snapshot()
    writes = len(site.writer.writes)
    again = site.deliver(site.events[-1])
    assert again.status == "published"
    assert again.written == ()
    assert site.snapshot() == before
    assert len(site.writer.writes) == writes


def test_older_event_arriving_late_changes_nothing(site: Site) -> None:
    site.upload("articles/a.md", source("First"))
    first = site.events[-1]
    site.upload("articles/a.md", source("Second"))
    before = site.snapshot()
    reports = dict(site.content.reports)
    assert site.deliver(first).status == "stale"
    assert site.snapshot() == before
    assert site.content.reports == reports
    assert "Second" in site.page("a")


def test_edit_updates_page_and_marks_record_updated(site: Site) -> None:
    site.upload("articles/a.md", source("A", body="One."))
    site.upload("articles/a.md", source("A", body="Two."))
    assert "Two." in site.page("a")
    assert "One." not in site.page("a")
    article = site.store.get_article("a")
    assert article is not None
    assert article.updated == NOW


def test_undated_article_keeps_its_first_date(site: Site) -> None:
    site.upload("articles/a.md", source("A", date=None))
    first = site.store.get_article("a")
    assert first is not None
    assert first.date == NOW
    before = site.snapshot()
    later = NOW + dt.timedelta(hours=3)
    site.deliver(site.events[-1], later)  # re-delivered hours later
    assert site.snapshot() == before
    site.upload("articles/a.md", source("A", date=None, body="Edited."), later)
    edited = site.store.get_article("a")
    assert edited is not None
    assert edited.date == NOW
    assert edited.updated == later


# -- bad input: a readable error, and the live page stays byte-identical --------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"---\ntitle: [unclosed\n---\nbody\n", "yaml"),
        (b"---\nauthor: x\n---\nbody\n", "title"),
        (b"---\ntitle: x\ndate: someday\n---\nbody\n", "date"),
        ("---\ntitle: café\n---\n".encode("latin-1"), "utf-8"),
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        (b"---\ntitle: x\nslug: ../escape\n---\nbody\n", "slug"),
    ],
    ids=["yaml", "no-title", "bad-date", "not-utf8", "empty", "binary", "slug-escape"],
)
def test_bad_upload_keeps_live_page_and_reports_error(site: Site, data: bytes, words: str) -> None:
    site.upload("articles/a.md", source("Good"))
    before = site.snapshot()
    outcome = site.upload("articles/a.md", data)
    assert outcome.status == "error"
    assert outcome.error
    report = site.report("articles/a.md")
    assert report["status"] == "error"
    assert report["version_id"] == "v2"
    assert words in report["error"]["message"].lower()
    digest, articles, _ = site.snapshot()
    assert (digest, articles) == before[:2]
    state = site.store.get_source("articles/a.md")
    assert state is not None
    assert state.status == "error"
    assert state.slug == "a"


def test_yaml_error_reports_its_line(site: Site) -> None:
    site.upload("articles/a.md", b"---\ntitle: ok\ntags: [a, b\nauthor: x\n---\nbody\n")
    report = site.report("articles/a.md")
    assert report["status"] == "error"
    assert isinstance(report["error"]["line"], int)
    assert report["error"]["line"] >= 2


def test_oversized_upload_is_rejected_without_reading_it_whole(site: Site) -> None:
    from chainpress.content import MAX_SOURCE_BYTES

    reads: list[int | None] = []
    original = site.content.read

    def read(key: str, version_id: str | None = None, limit: int | None = None) -> bytes:
        reads.append(limit)
        return original(key, version_id, limit)

    site.content.read = read  # type: ignore[method-assign]
    outcome = site.upload("articles/big.md", source("Big", body="x" * (MAX_SOURCE_BYTES + 10)))
    assert outcome.status == "error"
    assert "too large" in outcome.error
    assert reads == [MAX_SOURCE_BYTES + 1]
    assert site.store.get_article("big") is None


def test_second_file_cannot_take_a_live_slug(site: Site) -> None:
    site.upload("articles/a.md", source("First", slug="same"))
    first_page = site.page("same")
    outcome = site.upload("articles/b.md", source("Second", slug="same"))
    assert outcome.status == "error"
    assert outcome.error.startswith("slug same is already used by articles/a.md: ")
    assert "'slug: same-2'" in outcome.error
    assert site.report("articles/b.md")["error"]["message"] == outcome.error
    assert site.page("same") == first_page


# -- drafts, schedules, slug edits, aliases, removal ------------------------------------------


def test_draft_takes_the_live_page_down(site: Site) -> None:
    site.upload("articles/a.md", source("A"))
    outcome = site.upload("articles/a.md", source("A", draft=True))
    assert outcome.status == "draft"
    assert page_key("a") not in site.writer.objects
    assert body_key("a") not in site.writer.objects
    assert site.store.newest("home", 5) == []
    assert site.report("articles/a.md")["status"] == "draft"


def test_future_article_is_scheduled_with_its_body_kept(site: Site) -> None:
    outcome = site.upload("articles/a.md", source("Later", date="2030-01-01 00:00"))
    assert outcome.status == "scheduled"
    assert page_key("a") not in site.writer.objects
    assert body_key("a") in site.writer.objects
    assert [a.slug for a in site.store.newest("scheduled", 5)] == ["a"]
    assert site.report("articles/a.md")["url"] == "/articles/a/"  # where it will appear
    assert site.store.newest("home", 5) == []


def test_slug_edit_moves_the_page(site: Site) -> None:
    site.upload("articles/a.md", source("A", slug="old"))
    site.upload("articles/a.md", source("A", slug="new"))
    assert page_key("old") not in site.writer.objects
    assert "<h1>A</h1>" in site.page("new")
    old = site.store.get_article("old")
    assert old is not None
    assert old.status == "removed"
    assert [a.slug for a in site.store.newest("home", 5)] == ["new"]


def test_aliases_get_redirect_pages_that_go_when_the_alias_does(site: Site) -> None:
    site.upload("articles/a.md", source("A", aliases=["/2022/05/old-a/", "/"]))
    redirect = site.writer.text("2022/05/old-a/index.html")
    assert 'http-equiv="refresh" content="0; url=/articles/a/"' in redirect
    assert '<link rel="canonical" href="http://127.0.0.1:8080/articles/a/">' in redirect
    assert '<meta name="robots" content="noindex">' in redirect
    assert "index.html" not in site.writer.objects  # "/" would have replaced the home page
    site.upload("articles/a.md", source("A", aliases=[]))
    assert "2022/05/old-a/index.html" not in site.writer.objects


def test_alias_never_replaces_another_articles_page(site: Site) -> None:
    site.upload("articles/b.md", source("B"))
    page_b = site.page("b")
    site.upload("articles/a.md", source("A", aliases=["/articles/b/"]))
    assert site.page("b") == page_b


def test_removal_deletes_page_and_marks_record_removed(site: Site) -> None:
    site.upload("articles/a.md", source("A", aliases=["/old-a/"]))
    outcome = site.delete("articles/a.md")
    assert outcome.status == "removed"
    for key in (page_key("a"), body_key("a"), "old-a/index.html"):
        assert key not in site.writer.objects
    article = site.store.get_article("a")
    assert article is not None
    assert article.status == "removed"
    assert site.store.newest("home", 5) == []
    assert site.store.head("home").count == 0
    assert site.report("articles/a.md")["status"] == "removed"
    before = site.snapshot()
    assert site.deliver(site.events[-1]).status == "removed"  # re-delivered: no change
    assert site.snapshot() == before


def test_removed_file_frees_its_slug_for_another(site: Site) -> None:
    site.upload("articles/a.md", source("A", slug="s"))
    site.delete("articles/a.md")
    assert site.upload("articles/b.md", source("B", slug="s")).status == "published"
    assert "<h1>B</h1>" in site.page("s")


# -- neighbours and related -----------------------------------------------------------------


def make(slug: str, day: int, **kw: Any) -> Article:
    base: dict[str, Any] = dict(
        slug=slug,
        title=f"T {slug}",
        date=dt.datetime(2024, 1, day, tzinfo=dt.UTC),
        source_key=f"articles/{slug}.md",
        content_hash=slug,
        category="bitcoin",
    )
    base.update(kw)
    return Article(**base)


def test_choose_related_prefers_shared_tags_then_newest() -> None:
    me = make("me", 9, tags=("ETF", "Layer 2"))
    candidates = [
        make("same-cat-old", 1),
        make("same-cat-new", 5),
        make("one-tag", 2, category="wallet", tags=("etf",)),
        make("two-tags", 1, category="wallet", tags=("ETF", "layer-2")),
        make("unrelated", 8, category="wallet"),
        make("draft", 8, status="draft", tags=("ETF", "Layer 2")),
        me,
    ]
    assert choose_related(me, candidates + candidates, limit=4) == (
        "two-tags", "one-tag", "same-cat-new", "same-cat-old",
    )  # fmt: skip


def test_page_links_neighbours_in_its_category_and_related(site: Site) -> None:
    for day, slug in ((1, "one"), (2, "two"), (3, "three")):
        site.upload(f"articles/{slug}.md", source(slug.title(), date=f"2024-01-0{day} 08:00"))
    site.upload(
        "articles/other.md", source("Other", category="wallet", tags=[], date="2024-01-02 09:00")
    )
    _, theme = load_site(site.store.get_site())
    two = site.store.get_article("two")
    assert two is not None
    page = render_article_page(theme, site.store, two, "<p>x</p>")
    assert [a.slug for a in related_articles(site.store, two)] == ["three", "one"]
    assert 'href="/articles/one/" rel="prev"' in page
    assert 'href="/articles/three/" rel="next"' in page
    assert "Other" not in page


def test_write_article_page_rerenders_from_the_stored_body(site: Site) -> None:
    site.upload("articles/one.md", source("One", date="2024-01-01 08:00"))
    _, theme = load_site(site.store.get_site())
    one = site.store.get_article("one")
    assert one is not None
    assert write_article_page(site.writer, theme, site.store, one) is False  # already right
    site.upload("articles/two.md", source("Two", date="2024-01-02 08:00"))
    assert write_article_page(site.writer, theme, site.store, one) is True
    assert 'href="/articles/two/" rel="next"' in site.page("one")
    assert write_article_page(site.writer, theme, site.store, make("ghost", 1)) is False


def test_late_write_of_an_older_event_is_caught_up(site: Site) -> None:
    """Event 1 commits, then event 2 commits and writes before event 1's page write lands:
    event 1 notices the newer commit and re-applies it, so the newest bytes win."""
    site.upload("articles/a.md", source("V1"))
    v2 = site.content.put("articles/a.md", source("V2"))
    v3 = site.content.put("articles/a.md", source("V3"))
    ev2, ev3 = site.event("articles/a.md", v2), site.event("articles/a.md", v3)
    real_write = site.writer.write
    raced = False

    def write(path: str, data: bytes, content_type: str, cache_control: str) -> bool:
        nonlocal raced
        if path == page_key("a") and b"V2" in data and not raced:
            raced = True
            site.deliver(ev3)  # the newer event runs entirely in between
        return real_write(path, data, content_type, cache_control)

    site.writer.write = write  # type: ignore[method-assign]
    outcome = site.deliver(ev2)
    assert raced
    assert outcome.caught_up
    assert "<h1>V3</h1>" in site.page("a")
    assert site.report("articles/a.md")["version_id"] == v3


# -- media, settings, theme overrides, other keys ---------------------------------------------


def test_media_is_copied_with_its_type_and_removed_with_its_source(site: Site) -> None:
    png = images.png(32, 32)  # small: no variants, its size is recorded
    outcome = site.upload("media/2022/链圈.png", png)
    assert outcome.status == "published"
    assert outcome.url == "/media/2022/链圈.png"
    stored = site.writer.objects["media/2022/链圈.png"]
    assert (stored.data, stored.content_type, stored.cache_control) == (
        png,
        "image/png",
        MEDIA_CACHE,
    )
    assert site.delete("media/2022/链圈.png").status == "removed"
    assert "media/2022/链圈.png" not in site.writer.objects


def test_late_older_media_event_does_not_overwrite_newer_bytes(site: Site) -> None:
    site.upload("media/x.css", b"old")
    first = site.events[-1]
    site.upload("media/x.css", b"new")
    assert site.deliver(first).status == "stale"
    assert site.writer.objects["media/x.css"].data == b"new"


def test_settings_upload_changes_the_next_page(site: Site) -> None:
    outcome = site.upload("site.yaml", "name: 链圈网\ntagline: Fresh\n".encode())
    assert outcome.status == "published"
    assert site.report("site.yaml")["status"] == "published"
    site.upload("articles/a.md", source("A"))
    assert "链圈网" in site.page("a")
    assert "Fresh" in site.page("a")


def test_bad_settings_keep_the_old_ones_and_report_the_line(site: Site) -> None:
    site.upload("site.yaml", b"name: Good\n")
    outcome = site.upload("site.yaml", b"name: Bad\ntagline: [oops\npage_size: 3\n")
    assert outcome.status == "error"
    assert outcome.line in (2, 3, 4)
    report = site.report("site.yaml")
    assert report["error"]["line"] == outcome.line
    assert "YAML" in report["error"]["message"]
    assert site.store.get_site().yaml_text == "name: Good\n"
    assert site.upload("site.yaml", b"colour: red\n").error.startswith("unknown setting")
    assert site.store.get_site().yaml_text == "name: Good\n"


def test_settings_removal_restores_defaults(site: Site) -> None:
    site.upload("site.yaml", b"name: Custom\n")
    site.delete("site.yaml")
    settings, _ = load_site(site.store.get_site())
    assert settings.name == "Blockchain Circle"


def test_theme_override_is_validated_stored_and_removable(site: Site) -> None:
    base = (
        '{% extends "base.html" %}{% block main %}<h1 class="custom">{{ article.title }}</h1>'
        "{{ body }}{% endblock %}"
    )
    assert site.upload("theme/article.html", base.encode()).status == "published"
    site.upload("articles/a.md", source("A"))
    assert '<h1 class="custom">A</h1>' in site.page("a")

    broken = site.upload("theme/article.html", b"line one\n{% if %}\n")
    assert broken.status == "error"
    assert broken.line == 2
    failing = site.upload("theme/article.html", b"{{ no_such_variable }}")
    assert failing.status == "error"
    assert "no_such_variable" in failing.error
    unsafe = site.upload("theme/article.html", b"{{ ''.__class__.__mro__ }}")
    assert unsafe.status == "error"
    unknown = site.upload("theme/evil.html", b"hi")
    assert unknown.status == "error"
    assert "article.html" in unknown.error
    assert site.store.get_site().theme == {"article.html": base}

    assert site.delete("theme/article.html").status == "removed"
    assert site.store.get_site().theme == {}


def test_other_keys_are_ignored(site: Site) -> None:
    for key in (
        "articles/tutorial/.DS_Store",  # hidden files under articles/ are no bundle files
        "_status/articles/a.md.json",
        "site.yaml.bak",
        "theme/sub/article.html",
        "media/",
    ):
        assert site.upload(key, b"x").status == "ignored"
    assert site.writer.objects == {}
    assert site.content.reports == {}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("articles/a/b.MD", "article"),
        ("media/a.png", "media"),
        ("site.yaml", "settings"),
        ("theme/base.html", "theme"),
        ("theme/base.css", "ignored"),
        ("notes.md", "ignored"),
        ("articles/notes.txt", "bundle"),
        ("articles/tutorial/img/diagram.png", "bundle"),
        ("articles/tutorial/.gitkeep", "ignored"),
        ("articles/tutorial/", "ignored"),
    ],
)
def test_route(key: str, expected: str) -> None:
    assert route(key) == expected


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("/2022/05/x/", "2022/05/x/index.html"),
        ("old.html", "old.html"),
        ("/articles/old/", "articles/old/index.html"),
        ("/", None),
        ("/../x/", None),
        ("/static/style.css", None),
        ("/_internal/bodies/x.html", None),
        ("https://x.io/", None),
        ("/feed.xml", None),
        ("/articles/me/", None),
        ("/tag/x/", None),
    ],
)
def test_alias_key(alias: str, expected: str | None) -> None:
    assert alias_key(alias, "me") == expected
