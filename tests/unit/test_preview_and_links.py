"""Signed draft previews and the link check of the publish report, on the in-memory ports."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from chainpress.model import pad_sequencer
from chainpress.preview import CACHE_PREVIEW, PreviewSigner, expires_of, preview_key
from chainpress.publishing import PublishOutcome, PublishPorts, SourceEvent, page_key, publish_event
from chainpress.site import load_site
from chainpress.trending import publish_due
from chainpress_dev.memory import InMemoryArticleStore, InMemoryContentSource, InMemorySiteWriter

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
KEY = b"k" * 32


def doc(title: str, body: str = "Body text.", **meta: str) -> bytes:
    lines = ["---", f"title: {title}", "date: 2024-04-30 08:00", "category: bitcoin"]
    lines += [f"{k}: {v}" for k, v in meta.items()]
    return ("\n".join([*lines, "---", "", body, ""])).encode()


class Site:
    def __init__(self, *, previews: bool = True) -> None:
        self.content = InMemoryContentSource()
        self.writer = InMemorySiteWriter()
        self.store = InMemoryArticleStore()
        signer = PreviewSigner(KEY, days=7) if previews else None
        self.ports = PublishPorts(
            content=self.content, site=self.writer, store=self.store, preview=signer
        )
        self.seq = 0x100

    def deliver(self, key: str, version: str, kind: str, now: dt.datetime) -> PublishOutcome:
        self.seq += 1
        event = SourceEvent(key, version, pad_sequencer(f"{self.seq:X}"), kind)  # type: ignore[arg-type]
        return publish_event(event, self.ports, now)

    def upload(self, key: str, data: bytes, now: dt.datetime = NOW) -> PublishOutcome:
        return self.deliver(key, self.content.put(key, data), "created", now)

    def delete(self, key: str, now: dt.datetime = NOW) -> PublishOutcome:
        self.content.delete(key)
        return self.deliver(key, "delete-marker", "removed", now)

    def report(self, key: str) -> dict[str, Any]:
        return self.content.reports[key]

    def preview(self, key: str) -> str:
        url = str(self.report(key)["preview_url"])
        return self.writer.text(preview_key(url))

    def previews(self) -> list[str]:
        return sorted(k for k in self.writer.objects if k.startswith("preview/"))


@pytest.fixture
def site() -> Site:
    return Site()


# -- signed previews -----------------------------------------------------------------------------


def test_preview_urls_are_signed_per_slug_and_version_and_expire() -> None:
    signer = PreviewSigner(KEY, days=7)
    path = signer.path("halving", "v1", NOW)
    assert path.startswith("/preview/")
    assert path.endswith("/")
    assert expires_of(path) == NOW + dt.timedelta(days=7)
    assert signer.valid(path, "halving", "v1", NOW)
    assert not signer.valid(path, "halving", "v2", NOW)  # another version
    assert not signer.valid(path, "other", "v1", NOW)  # another article
    assert not signer.valid(path, "halving", "v1", NOW + dt.timedelta(days=7))  # expired
    # Moving the expiry breaks the MAC; another key makes other URLs.
    later = path.replace(str(int(NOW.timestamp()) + 7 * 86400), str(int(NOW.timestamp()) + 9**9))
    assert not signer.valid(later, "halving", "v1", NOW)
    assert PreviewSigner(b"x" * 32).path("halving", "v1", NOW) != path
    with pytest.raises(ValueError, match="16 bytes"):
        PreviewSigner(b"short")


def test_draft_gets_a_noindex_preview_never_listed(site: Site) -> None:
    key = "articles/halving.md"
    outcome = site.upload(key, doc("Halving draft", "Secret **scoop**.", draft="true"))
    assert outcome.status == "draft"
    report = site.report(key)
    assert report["status"] == "draft"
    assert report["url"] == ""
    url = str(report["preview_url"])
    assert url.startswith("/preview/")
    assert report["preview_expires"] == "2024-05-08T12:00:00Z"
    page = site.preview(key)
    assert '<meta name="robots" content="noindex, nofollow, noarchive">' in page
    assert "<strong>scoop</strong>" in page
    assert "Preview" in page
    stored = site.writer.objects[preview_key(url)]
    assert stored.cache_control == CACHE_PREVIEW == "private, no-store, max-age=0"
    # Nowhere a reader or a crawler can find it: no page, no listing, no sitemap, no feed.
    assert page_key("halving") not in site.writer.objects
    assert site.store.newest("home", 10) == []
    for text in [site.writer.text(k) for k in site.writer.objects if not k.startswith("preview/")]:
        assert url not in text


def test_new_version_replaces_the_preview_and_redelivery_keeps_it(site: Site) -> None:
    key = "articles/halving.md"
    site.upload(key, doc("Halving draft", draft="true"))
    first = site.report(key)["preview_url"]
    # The same event delivered again: the same URL (the editor's link keeps working).
    site.seq -= 1
    site.deliver(key, "v1", "created", NOW)
    assert site.report(key)["preview_url"] == first
    site.upload(key, doc("Halving draft, take two", draft="true"))
    second = site.report(key)["preview_url"]
    assert second != first
    assert site.previews() == [preview_key(str(second))]
    assert "take two" in site.preview(key)


def test_publishing_or_deleting_removes_the_preview(site: Site) -> None:
    site.upload("articles/a.md", doc("A draft", draft="true"))
    assert len(site.previews()) == 1
    site.upload("articles/a.md", doc("A live"))
    assert site.previews() == []
    assert "preview_url" not in site.report("articles/a.md")
    assert site.store.get_article("a").preview == ""  # type: ignore[union-attr]
    site.upload("articles/b.md", doc("B draft", draft="true"))
    assert len(site.previews()) == 1
    site.delete("articles/b.md")
    assert site.previews() == []


def test_scheduled_article_has_a_preview_until_it_goes_live(site: Site) -> None:
    key = "articles/soon.md"
    site.upload(key, doc("Soon", date="2024-06-01 08:00"))
    report = site.report(key)
    assert report["status"] == "scheduled"
    assert report["url"] == "/articles/soon/"
    assert "Soon" in site.preview(key)
    _, theme = load_site(site.store.get_site())
    due = dt.datetime(2024, 6, 2, tzinfo=dt.UTC)
    published, _ = publish_due(site.store, site.writer, site.content, theme, due)
    assert published == ["soon"]
    assert site.previews() == []
    assert page_key("soon") in site.writer.objects
    assert "preview_url" not in site.report(key)


def test_a_draft_page_bundle_previews_with_its_files(site: Site) -> None:
    site.content.put("articles/guide/wallet/img/seed.png", b"png bytes")
    key = "articles/guide/wallet/index.md"
    site.upload(key, doc("Wallet", "![seed](img/seed.png)", draft="true"))
    url = str(site.report(key)["preview_url"])
    folder = preview_key(url).removesuffix("index.html")
    assert site.writer.text(folder + "img/seed.png") == "png bytes"
    assert site.writer.objects[folder + "img/seed.png"].cache_control == CACHE_PREVIEW
    assert 'src="img/seed.png"' in site.preview(key)  # resolves beside the preview page
    assert site.report(key)["warnings"] == []  # the image is in the bundle
    assert "articles/wallet/img/seed.png" not in site.writer.objects  # a draft: not public
    site.upload(key, doc("Wallet", "![seed](img/seed.png)"))
    assert site.previews() == []
    assert site.writer.text("articles/wallet/img/seed.png") == "png bytes"


def test_without_a_key_there_are_no_previews() -> None:
    site = Site(previews=False)
    site.upload("articles/a.md", doc("A draft", draft="true"))
    assert "preview_url" not in site.report("articles/a.md")
    assert site.previews() == []


# -- link and image check ----------------------------------------------------------------------


def messages(report: dict[str, Any]) -> list[tuple[int | None, str]]:
    return [(w["line"], w["message"]) for w in report["warnings"]]


def test_broken_internal_links_images_and_anchors_are_warnings_with_lines(site: Site) -> None:
    site.content.put("media/2024/chart.png", b"png")
    site.upload("articles/other.md", doc("Other", "## Known heading\n\ntext"))
    site.upload("articles/wip.md", doc("Work in progress", draft="true"))
    body = "\n".join(
        [
            "## Intro {#intro}",  # line 7
            "",
            "Jump [up](#intro) and [down](#nowhere).",  # line 9
            "See [other](/articles/other/), [its heading](/articles/other/#known-heading),",
            "[a bad heading](../other/#missing), [gone](/articles/gone/) and [wip](../wip/).",
            "![chart](/media/2024/chart.png) ![lost](/media/2024/lost.png)",  # line 12
            "[External](https://example.org/x) [mail](mailto:a@b.c) [bitcoin](/category/bitcoin/)",
            "[no tag](/tag/nothing-here/) [home](/) [self](/articles/mine/#intro)",
            "",
            "[ref]: /articles/gone/",
        ]
    )
    outcome = site.upload("articles/mine.md", doc("Mine", body))
    assert outcome.status == "published"  # published anyway
    found = messages(site.report("articles/mine.md"))
    assert found == [
        (9, "broken link #nowhere: no heading or element with id 'nowhere' on this page"),
        (11, "broken link ../other/#missing: article 'other' has no heading or element with id "
             "'missing'"),
        (11, "broken link /articles/gone/: no article 'gone' on the site"),
        (11, "broken link ../wip/: article 'wip' is a draft: readers get a 404"),
        (12, "broken image /media/2024/lost.png: no file media/2024/lost.png in media/"),
        (14, "broken link /tag/nothing-here/: no tag 'nothing-here' with published articles on "
             "the site"),
        (16, "broken link /articles/gone/: no article 'gone' on the site"),
    ]  # fmt: skip
    assert page_key("mine") in site.writer.objects


def test_cjk_heading_anchors_and_footnotes_resolve(site: Site) -> None:
    body = "\n".join(
        [
            "## 比特币 ETF",  # line 7
            "",
            "See [中文](#比特币-etf), a note[^1] and [missing](#缺失).",  # line 9
            "",
            "[^1]: The note. [back](#fnref-1)",
        ]
    )
    site.upload("articles/cjk.md", doc("CJK", body))
    assert messages(site.report("articles/cjk.md")) == [
        (9, "broken link #缺失: no heading or element with id '缺失' on this page")
    ]


def test_page_bundle_relative_files_are_checked_against_the_bundle(site: Site) -> None:
    site.content.put("articles/guide/wallet/img/seed.png", b"png")
    site.content.put("articles/guide/wallet/card.pdf", b"pdf")
    body = "\n".join(
        [
            "![seed](img/seed.png) ![missing](./img/nope.png)",  # line 7
            "[card](card.pdf) [chapter](next.md) [abs](/articles/wallet/card.pdf)",
            "![other bundle](/articles/flat/x.png)",
        ]
    )
    site.upload("articles/flat.md", doc("Flat"))
    site.upload("articles/guide/wallet/index.md", doc("Wallet", body))
    found = messages(site.report("articles/guide/wallet/index.md"))
    assert found == [
        (7, "broken image ./img/nope.png: no file img/nope.png in this page bundle"),
        (8, "broken link next.md: next.md is not published as a file: a Markdown file is an "
            "article of its own (link to its page, /articles/<its slug>/)"),
        (9, "broken image /articles/flat/x.png: no file x.png in the page bundle of 'flat' "
            "('flat' is not a page bundle)"),
    ]  # fmt: skip


def test_link_check_cost_is_bounded_and_batched(site: Site) -> None:
    for n in range(30):
        site.upload(f"articles/a{n}.md", doc(f"A{n}"))
    links = " ".join(f"[a{n}](/articles/a{n}/#top) ![i](/media/x/{n}.png)" for n in range(30))
    site.store.calls.clear()
    site.upload("articles/few.md", doc("Few", "No links here."))
    without_links = site.store.calls["BatchGetItem"]
    site.store.calls.clear()
    site.content.calls.clear()
    site.writer.calls.clear()
    site.upload("articles/many.md", doc("Many", links))
    # ONE batch for the 30 links, and one for the 30 images' records in each of the page's two
    # renders (checked before the commit, written after it): not one read per link.
    assert site.store.calls["BatchGetItem"] == without_links + 3
    assert site.content.calls["ListObjectsV2"] == 1  # one folder: media/x/
    broken = [w for w in site.report("articles/many.md")["warnings"] if "media/x/" in w["message"]]
    assert len(broken) == 30
    assert {w["line"] for w in broken} == {7}


def test_real_world_corpus_links_are_all_found_once_everything_is_published() -> None:
    """Hugo, GitBook, ethereum.org and Jekyll sources (tests/data/corpus): bundle images
    (``./x.png``, ``img/x.png``, ``_images/x.png``), links between articles and anchors. Published
    in key order, a link to an article that comes later is reported (it is a 404 right then);
    published again once every article is there, nothing is reported: no false alarms."""
    from tests.unit.test_corpus import CORPUS, FILES, MARKDOWN, NOW, _upload_order

    site = Site(previews=False)
    keys = ["site.yaml", *sorted(FILES, key=_upload_order)]
    for key in keys:
        site.upload(key, (CORPUS / key).read_bytes(), NOW)
    first = {
        (key, w["line"], w["message"].split(":")[0])
        for key in MARKDOWN
        for w in site.report(key)["warnings"]
        if "broken" in w["message"]
    }
    viem = "articles/developers/tutorials/send-token-viem/index.md"
    assert first == {
        (viem, 52, "broken link /articles/send-token-viem-zh/"),
        (viem, 53, "broken link /articles/merkle-proofs/"),
    }
    for key in sorted(MARKDOWN):
        site.upload(key, (CORPUS / key).read_bytes(), NOW)
    reports = [site.report(key) for key in MARKDOWN]
    assert [w for r in reports for w in r["warnings"] if "broken" in w["message"]] == []


def test_a_huge_list_of_broken_links_is_reported_in_bounded_size(site: Site) -> None:
    lines = [f"[{n}](/media/gone/{n % 150}.png)" for n in range(150 * 8)]  # each link 8 times
    site.upload("articles/noisy.md", doc("Noisy", "\n".join(lines)))
    warnings = site.report("articles/noisy.md")["warnings"]
    assert len(warnings) == 100 * 5 + 1  # 100 links, their first 5 lines each, and a summary
    assert warnings[-1]["line"] is None
    assert "50 more broken links not listed" in warnings[-1]["message"]
    zero = "broken link /media/gone/0.png:"
    first = [w["line"] for w in warnings if w["message"].startswith(zero)]
    assert first == [7, 157, 307, 457, 607]
