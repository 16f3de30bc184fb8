"""Page bundles and translations through the publish and rebuild use cases (in-memory ports):
what an editor sees when a folder with an index.md, its images and its translations is
uploaded, edited, moved and deleted in any order."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from chainpress.model import Article, pad_sequencer
from chainpress.publishing import (
    MAX_BUNDLE_FILES,
    PublishOutcome,
    PublishPorts,
    SourceEvent,
    publish_event,
)
from chainpress.rebuilding import RebuildPorts, rebuild_changes
from chainpress_dev.memory import (
    InMemoryArticleStore,
    InMemoryContentSource,
    InMemoryHotLists,
    InMemorySiteWriter,
)
from tests.support.images import png

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
PNG = png(16, 16)  # a real image (bytes appended after its end still decode)
FOLDER = "articles/tutorials/send-token/"


def index(title: str = "Send tokens", extra: str = "") -> bytes:
    return (
        f"---\ntitle: {title}\ndate: 2024-04-01\n{extra}---\n\n"
        "![done](./done.png) ![fees](img/fees.png)\n"
    ).encode()


class Editor:
    def __init__(self) -> None:
        self.content = InMemoryContentSource()
        self.site = InMemorySiteWriter()
        self.store = InMemoryArticleStore()
        self.ports = PublishPorts(content=self.content, site=self.site, store=self.store)
        self.seq = 0

    def _event(self, key: str, version: str, kind: str) -> PublishOutcome:
        self.seq += 1
        event = SourceEvent(key, version, pad_sequencer(f"{self.seq:X}"), kind)  # type: ignore[arg-type]
        return publish_event(event, self.ports, NOW)

    def upload(self, key: str, data: bytes) -> PublishOutcome:
        return self._event(key, self.content.put(key, data), "created")

    def delete(self, key: str) -> PublishOutcome:
        self.content.delete(key)
        return self._event(key, "marker", "removed")

    def has(self, key: str) -> bool:
        return key in self.site.objects

    def report(self, key: str) -> dict[str, Any]:
        return self.content.reports[key]

    def rebuild(self, *changes: tuple[Article | None, Article | None]) -> None:
        rebuild_changes(list(changes), RebuildPorts(self.store, self.site, InMemoryHotLists()), NOW)


@pytest.fixture
def editor() -> Editor:
    return Editor()


def test_files_before_and_after_the_index_are_published_under_its_slug(editor: Editor) -> None:
    early = editor.upload(FOLDER + "done.png", PNG)
    assert early.status == "pending"
    assert "index.md" in editor.report(FOLDER + "done.png")["warnings"][0]["message"]
    assert not editor.has("articles/send-token/done.png")

    assert editor.upload(FOLDER + "index.md", index()).slug == "send-token"
    assert editor.site.objects["articles/send-token/done.png"].data == PNG
    assert editor.report(FOLDER + "done.png")["status"] == "published"

    late = editor.upload(FOLDER + "img/fees.png", PNG + b"2")
    assert (late.status, late.url) == ("published", "/articles/send-token/img/fees.png")
    assert editor.site.objects["articles/send-token/img/fees.png"].content_type == "image/png"

    assert editor.delete(FOLDER + "img/fees.png").status == "removed"
    assert not editor.has("articles/send-token/img/fees.png")
    assert editor.has("articles/send-token/done.png")


def test_markdown_beside_an_index_is_an_article_and_nested_bundles_keep_their_files(
    editor: Editor,
) -> None:
    editor.upload(FOLDER + "index.md", index())
    editor.upload(FOLDER + "appendix.md", b"---\ntitle: Appendix\n---\nMore.\n")
    editor.upload(FOLDER + "advanced/index.md", index("Advanced"))
    editor.upload(FOLDER + "advanced/done.png", PNG)
    assert editor.has("articles/appendix/index.html")
    assert editor.has("articles/advanced/done.png")
    assert not editor.has("articles/send-token/appendix.md")
    assert not editor.has("articles/send-token/advanced/done.png")


def test_deleting_the_index_takes_its_files_down_and_a_new_index_brings_them_back(
    editor: Editor,
) -> None:
    editor.upload(FOLDER + "done.png", PNG)
    editor.upload(FOLDER + "index.md", index())
    assert editor.delete(FOLDER + "index.md").status == "removed"
    assert not editor.has("articles/send-token/done.png")
    assert editor.report(FOLDER + "done.png")["status"] == "pending"
    editor.upload(FOLDER + "index.md", index())
    assert editor.has("articles/send-token/done.png")


def test_files_follow_a_new_slug_and_leave_with_a_draft(editor: Editor) -> None:
    editor.upload(FOLDER + "done.png", PNG)
    editor.upload(FOLDER + "index.md", index())
    editor.upload(FOLDER + "index.md", index(extra="slug: sending-tokens\n"))
    assert editor.has("articles/sending-tokens/done.png")
    assert not editor.has("articles/send-token/done.png")
    editor.upload(FOLDER + "index.md", index(extra="slug: sending-tokens\ndraft: true\n"))
    assert not editor.has("articles/sending-tokens/done.png")
    assert editor.upload(FOLDER + "done.png", PNG).status == "pending"


def test_a_broken_index_keeps_the_live_page_and_its_files(editor: Editor) -> None:
    editor.upload(FOLDER + "index.md", index())
    editor.upload(FOLDER + "done.png", PNG)
    assert editor.upload(FOLDER + "index.md", b"---\ntitle: [x]\n---\n").status == "error"
    assert editor.upload(FOLDER + "done.png", PNG + b"v2").status == "published"
    assert editor.site.objects["articles/send-token/done.png"].data == PNG + b"v2"


def test_hugo_branch_bundle_owns_only_the_files_beside_it(editor: Editor) -> None:
    editor.upload("articles/blog/_index.md", b"---\ntitle: Blog\n---\nAll posts.\n")
    editor.upload("articles/blog/banner.png", PNG)
    assert editor.has("articles/blog/banner.png")
    # A subfolder of a branch bundle is not part of it (Hugo: a section, or a leaf bundle).
    assert editor.upload("articles/blog/img/x.png", PNG).status == "pending"


def test_readme_is_a_bundle_index_named_after_its_folder(editor: Editor) -> None:
    editor.upload("articles/guide/consensus/_images/pbft.png", PNG)
    outcome = editor.upload(
        "articles/guide/consensus/README.md", "## 共识算法\n\n正文。\n".encode()
    )
    assert (outcome.status, outcome.slug) == ("published", "consensus")
    assert editor.has("articles/consensus/_images/pbft.png")


def test_unsafe_bundle_paths_are_refused_with_a_report(editor: Editor) -> None:
    editor.upload(FOLDER + "index.md", index())
    outcome = editor.upload(FOLDER + "index.html", b"<p>x</p>")
    assert outcome.status == "error"
    assert "replace the article page" in editor.report(FOLDER + "index.html")["error"]["message"]
    assert b"<p>x</p>" not in editor.site.objects["articles/send-token/index.html"].data


def test_a_bundle_beyond_the_listing_bound_says_so(
    editor: Editor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainpress import publishing

    monkeypatch.setattr(publishing, "MAX_BUNDLE_FILES", 2)
    for name in ("a.png", "b.png", "c.png"):
        editor.upload(FOLDER + name, PNG)
    outcome = editor.upload(FOLDER + "index.md", index())
    assert outcome.status == "published"
    assert "more than 2 files" in outcome.warnings[-1].message
    assert editor.has("articles/send-token/a.png")
    assert not editor.has("articles/send-token/c.png")
    assert MAX_BUNDLE_FILES >= 1000  # one listing request in production


def test_a_translation_appearing_later_is_linked_from_the_first_after_the_rebuild(
    editor: Editor,
) -> None:
    editor.upload(FOLDER + "index.md", index(extra="lang: en\n"))
    en_page = editor.site.text("articles/send-token/index.html")
    assert "hreflang" not in en_page  # alone: no alternates
    zh_key = "articles/translations/zh/tutorials/send-token/index.md"
    outcome = editor.upload(zh_key, index("发送代币", extra="lang: zh-cn\n"))
    assert outcome.slug == "send-token-zh-cn"
    zh_page = editor.site.text("articles/send-token-zh-cn/index.html")
    assert '<html lang="zh-CN">' in zh_page
    assert 'hreflang="en" href="http://127.0.0.1:8080/articles/send-token/"' in zh_page
    # The stream record of the new translation makes the rebuild refresh the English page.
    zh = editor.store.get_article("send-token-zh-cn")
    editor.rebuild((None, zh))
    en_page = editor.site.text("articles/send-token/index.html")
    assert 'hreflang="zh-CN" href="http://127.0.0.1:8080/articles/send-token-zh-cn/"' in en_page
    assert ">中文</a>" in en_page
    # ... and again when it leaves.
    editor.delete(zh_key)
    editor.rebuild((zh, editor.store.get_article("send-token-zh-cn")))
    assert "hreflang" not in editor.site.text("articles/send-token/index.html")


def test_the_front_matter_update_time_is_kept_on_edits(editor: Editor) -> None:
    key = "articles/notes.md"
    editor.upload(key, b"---\ntitle: N\ndate: 2024-01-01\nlastmod: 2024-02-01\n---\nOne.\n")
    editor.upload(key, b"---\ntitle: N\ndate: 2024-01-01\nlastmod: 2024-02-01\n---\nTwo.\n")
    article = editor.store.get_article("notes")
    assert article is not None
    assert article.updated == dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    assert article.updated_date_only
    editor.upload(key, b"---\ntitle: N\ndate: 2024-01-01\n---\nThree.\n")  # no lastmod: now
    article = editor.store.get_article("notes")
    assert article is not None
    assert (article.updated, article.updated_date_only) == (NOW, False)
