"""Responsive images through the publish use case (in-memory ports): what an editor sees when
images and the articles that show them arrive in either order, are replaced, deleted, or are
bombs and broken files."""

from __future__ import annotations

import pytest

from chainpress import publishing
from chainpress.pages import BuildContext, Page, build
from chainpress.site import load_site
from chainpress_dev.memory import (
    InMemoryHotLists,
)
from tests.support.images import bomb, photo, png, size_of, truncated
from tests.unit.test_bundles import NOW
from tests.unit.test_bundles import Editor as BundleEditor

PHOTO = photo(1700, 850)
ARTICLE = (
    b"---\ntitle: Gas fees explained\ndate: 2024-04-01\ncategory: blockchain\n"
    b"cover: /media/cover.jpg\n---\n\n![Fees chart](/media/chart.jpg)\n"
)
FOLDER = "articles/tutorials/send-token/"


class Editor(BundleEditor):
    """The page-bundle tests' editor (same clock), reading pages back as text."""

    def page(self, key: str) -> str:
        return self.site.objects[key].data.decode()


@pytest.fixture
def editor() -> Editor:
    return Editor()


CHART_SRCSET = (
    'width="1700" height="850" srcset="/media/chart.jpg.480w.webp 480w, '
    "/media/chart.jpg.960w.webp 960w, /media/chart.jpg.1600w.webp 1600w, /media/chart.jpg 1700w"
)


def test_a_media_image_gets_webp_variants_beside_it_and_the_original_stays(editor: Editor) -> None:
    outcome = editor.upload("media/chart.jpg", PHOTO)
    assert outcome.status == "published"
    assert editor.site.objects["media/chart.jpg"].data == PHOTO
    for width, height in [(480, 240), (960, 480), (1600, 800)]:
        variant = editor.site.objects[f"media/chart.jpg.{width}w.webp"]
        assert variant.content_type == "image/webp"
        assert size_of(variant.data) == (width, height)
    assert editor.report("media/chart.jpg")["status"] == "published"


@pytest.mark.parametrize("image_first", [True, False], ids=["image-first", "article-first"])
def test_the_article_page_gets_srcset_whichever_arrives_first(
    editor: Editor, image_first: bool
) -> None:
    uploads = [("media/chart.jpg", PHOTO), ("articles/gas.md", ARTICLE)]
    for key, data in uploads if image_first else uploads[::-1]:
        editor.upload(key, data)
    page = editor.page("articles/gas/index.html")
    assert CHART_SRCSET in page
    assert 'alt="Fees chart"' in page


def test_the_cover_arriving_later_renders_the_page_again(editor: Editor) -> None:
    editor.upload("articles/gas.md", ARTICLE)
    assert "srcset" not in editor.page("articles/gas/index.html").split("article-body")[0]
    outcome = editor.upload("media/cover.jpg", photo(1200, 600, seed=2))
    assert "articles/gas/index.html" in outcome.written
    head = editor.page("articles/gas/index.html").split("article-body")[0]
    assert 'cover.jpg" alt="" width="1200" height="600" srcset="/media/cover.jpg.480w.webp' in head
    assert "/media/cover.jpg.960w.webp 960w" in head


def test_a_replaced_image_updates_the_page_and_a_deleted_one_drops_its_srcset(
    editor: Editor,
) -> None:
    editor.upload("articles/gas.md", ARTICLE)
    editor.upload("media/chart.jpg", PHOTO)
    editor.upload("media/chart.jpg", photo(900, 900, seed=3))  # smaller, square
    page = editor.page("articles/gas/index.html")
    assert (
        'width="900" height="900" srcset="/media/chart.jpg.480w.webp 480w, /media/chart.jpg 900w"'
        in page
    )
    assert "media/chart.jpg.960w.webp" not in editor.site.objects  # no stale variant left
    editor.delete("media/chart.jpg")
    assert not any(k.startswith("media/chart.jpg") for k in editor.site.objects)
    assert 'src="/media/chart.jpg"' in editor.page("articles/gas/index.html")
    assert "chart.jpg.480w" not in editor.page("articles/gas/index.html")


def test_the_same_bytes_again_are_not_processed_twice(editor: Editor) -> None:
    editor.upload("media/chart.jpg", PHOTO)
    puts = editor.store.calls["PutItem"]
    again = editor.upload("media/chart.jpg", PHOTO)
    assert again.status == "published"
    assert again.written == ()
    assert editor.store.calls["PutItem"] == puts  # no new image record


def test_bundle_images_get_variants_under_the_article_and_follow_a_slug_change(
    editor: Editor,
) -> None:
    index = "---\ntitle: Send tokens\ndate: 2024-04-01\n{}---\n\n![Fees](img/fees.png)\n"
    editor.upload(FOLDER + "img/fees.png", png(1000, 400))  # before its article: pending
    editor.upload(FOLDER + "index.md", index.format("").encode())
    page = editor.page("articles/send-token/index.html")
    assert (
        'width="1000" height="400" srcset="/articles/send-token/img/fees.png.480w.webp 480w, '
        "/articles/send-token/img/fees.png.960w.webp 960w, /articles/send-token/img/fees.png 1000w"
    ) in page
    assert editor.report(FOLDER + "img/fees.png")["status"] == "published"
    editor.upload(FOLDER + "index.md", index.format("slug: send\n").encode())
    assert "articles/send/img/fees.png.960w.webp" in editor.site.objects
    assert not any(k.startswith("articles/send-token/") for k in editor.site.objects)
    assert "/articles/send/img/fees.png.480w.webp 480w" in editor.page("articles/send/index.html")


def test_a_decompression_bomb_is_an_error_in_its_report_and_not_served(editor: Editor) -> None:
    outcome = editor.upload("media/huge.png", bomb())
    assert outcome.status == "error"
    report = editor.report("media/huge.png")
    assert report["status"] == "error"
    assert report["url"] == ""
    assert report["error"]["message"].startswith("the image is too large")
    assert not any(k.startswith("media/huge.png") for k in editor.site.objects)


def test_a_corrupt_image_is_an_error_but_still_served_as_uploaded(editor: Editor) -> None:
    broken = truncated(PHOTO)
    outcome = editor.upload("media/broken.jpg", broken)
    assert outcome.status == "error"
    report = editor.report("media/broken.jpg")
    assert report["error"]["message"].startswith("the image cannot be read")
    assert report["url"] == "/media/broken.jpg"
    assert editor.site.objects["media/broken.jpg"].data == broken
    assert "media/broken.jpg.480w.webp" not in editor.site.objects
    # A fixed upload under the same key is published normally.
    assert editor.upload("media/broken.jpg", PHOTO).status == "published"


def test_a_corrupt_bundle_image_is_reported_and_the_article_still_published(
    editor: Editor,
) -> None:
    editor.upload(FOLDER + "index.md", b"---\ntitle: Send\n---\n\n![x](x.png)\n")
    outcome = editor.upload(FOLDER + "x.png", b"\x89PNG\r\n\x1a\nbroken")
    assert outcome.status == "error"
    assert editor.report(FOLDER + "x.png")["error"]["message"].startswith("the image cannot")
    assert "articles/send-token/x.png" in editor.site.objects
    assert editor.report(FOLDER + "index.md")["status"] == "published"


def test_a_variant_name_cannot_be_uploaded(editor: Editor) -> None:
    outcome = editor.upload("media/chart.jpg.480w.webp", PHOTO)
    assert outcome.status == "error"
    assert "kept for the resized variants" in outcome.error
    assert "media/chart.jpg.480w.webp" not in editor.site.objects


def test_listing_cards_read_their_covers_in_one_batch(editor: Editor) -> None:
    editor.upload("media/cover.jpg", photo(1200, 600, seed=2))
    for n in range(3):
        editor.upload(f"articles/a{n}.md", ARTICLE.replace(b"Gas fees", f"Story {n}".encode()))
    settings, theme = load_site(editor.store.get_site())
    ctx = BuildContext(editor.store, editor.site, InMemoryHotLists(), settings, theme, NOW)
    before = editor.store.calls["BatchGetItem"]
    [(_, output)] = build(Page("listing", "home"), ctx)
    assert output is not None
    html = output.data.decode()
    assert html.count('class="card-cover"') == 3
    assert html.count('width="1200" height="600" srcset="/media/cover.jpg.480w.webp 480w') == 3
    assert editor.store.calls["BatchGetItem"] - before == 1


def test_a_big_bundle_gets_its_variants_over_several_publishes_of_its_index(
    editor: Editor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "MAX_BUNDLE_IMAGES", 2)
    for n in range(3):
        editor.upload(f"{FOLDER}p{n}.png", png(600 + n, 300))  # pending: no index yet
    text = b"---\ntitle: Send\n---\n\n![a](p0.png) ![b](p1.png) ![c](p2.png)\n"
    editor.upload(FOLDER + "index.md", text)
    made = [n for n in range(3) if f"articles/send-token/p{n}.png.480w.webp" in editor.site.objects]
    assert made == [0, 1]
    assert "articles/send-token/p2.png" in editor.site.objects  # served as uploaded meanwhile
    warning = editor.report(FOLDER + "index.md")["warnings"][0]["message"]
    assert warning.startswith("1 images of the bundle are published as uploaded")
    assert "upload index.md again" in warning
    editor.upload(FOLDER + "index.md", text + b"\nEdited.\n")
    assert "articles/send-token/p2.png.480w.webp" in editor.site.objects
    assert editor.report(FOLDER + "index.md")["warnings"] == []
    assert editor.page("articles/send-token/index.html").count("srcset=") == 3


def test_a_bundle_stops_making_variants_when_its_time_is_spent(
    editor: Editor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "MAX_BUNDLE_IMAGE_SECONDS", 0.0)  # spent at once
    editor.upload(FOLDER + "a.png", png(700, 300))
    editor.upload(FOLDER + "index.md", b"---\ntitle: Send\n---\n\n![a](a.png)\n")
    assert "articles/send-token/a.png" in editor.site.objects
    assert "articles/send-token/a.png.480w.webp" not in editor.site.objects
    warning = editor.report(FOLDER + "index.md")["warnings"][0]["message"]
    assert "or 0 s of work, per publish" in warning
    assert editor.upload(FOLDER + "a.png", png(700, 300)).status == "published"  # its own event
    assert "articles/send-token/a.png.480w.webp" in editor.site.objects
