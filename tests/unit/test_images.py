"""Responsive images, the pure parts: WebP variants of real images made here (sizes, never
upscaled, orientation), the refusal of bombs and broken files, and the markup pages get
(``width``/``height``, ``srcset``/``sizes``)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image

from chainpress.images import MAX_PIXELS, ImageError, process_image
from chainpress.model import Article
from chainpress.render import Theme
from chainpress.responsive import (
    ImageInfo,
    cover_key,
    image_keys,
    is_image_key,
    is_variant_key,
    responsive_html,
    srcset,
    variant_key,
)
from chainpress.settings import SiteSettings
from tests.support.images import bomb, format_of, photo, png, size_of, truncated


def test_a_wide_photo_gets_three_webp_variants_with_its_aspect_ratio() -> None:
    result = process_image(photo(1800, 1200))
    assert (result.width, result.height) == (1800, 1200)
    assert [(v.width, v.height) for v in result.variants] == [(480, 320), (960, 640), (1600, 1067)]
    for variant in result.variants:
        assert format_of(variant.data) == "WEBP"
        assert size_of(variant.data) == (variant.width, variant.height)


@pytest.mark.parametrize(
    ("width", "expected"),
    [(1200, [480, 960]), (960, [480]), (700, [480]), (480, []), (200, [])],
)
def test_variants_are_never_wider_than_the_original(width: int, expected: list[int]) -> None:
    result = process_image(png(width, width // 2))
    assert [v.width for v in result.variants] == expected
    assert (result.width, result.height) == (width, width // 2)


def test_transparency_is_kept_in_the_variants() -> None:
    result = process_image(png(1000, 500, alpha=True))
    with Image.open(io.BytesIO(result.variants[0].data)) as variant:
        assert variant.mode == "RGBA"


def test_a_rotated_phone_photo_is_measured_as_it_is_shown() -> None:
    # Stored landscape, EXIF orientation 6 (rotate 90): browsers show it portrait.
    exif = Image.Exif()
    exif[0x0112] = 6
    result = process_image(photo(1200, 800, exif=exif.tobytes()))
    assert (result.width, result.height) == (800, 1200)
    assert [(v.width, v.height) for v in result.variants] == [(480, 720)]
    assert size_of(result.variants[0].data) == (480, 720)


def test_a_decompression_bomb_is_refused_and_not_served() -> None:
    data = bomb(10_000, 10_000)  # 12 KB that decode to 100 megapixels
    assert len(data) < 100_000
    assert MAX_PIXELS < 10_000 * 10_000
    with pytest.raises(ImageError) as caught:
        process_image(data)
    assert "too large (10,000 x 10,000): more than 50,000,000 pixels" in caught.value.message
    assert caught.value.serve_original is False


def test_a_larger_bomb_is_stopped_by_pillows_own_check() -> None:
    with pytest.raises(ImageError) as caught:
        process_image(bomb(20_000, 10_000))  # 200 megapixels
    assert caught.value.message.startswith("the image is too large (Image size (200000000 pixels)")
    assert caught.value.serve_original is False


@pytest.mark.parametrize(
    "data",
    [truncated(photo(1200, 800)), b"\x89PNG\r\n\x1a\nnot really", b"GIF89a", b""],
    ids=["truncated-jpeg", "fake-png", "header-only-gif", "empty"],
)
def test_a_broken_image_is_refused_but_may_be_served(data: bytes) -> None:
    with pytest.raises(ImageError) as caught:
        process_image(data)
    assert caught.value.message.startswith("the image cannot be read")
    assert caught.value.serve_original is True


def test_an_animated_gif_keeps_its_frames_no_variants() -> None:
    frames = [Image.new("RGB", (900, 300), colour) for colour in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    result = process_image(out.getvalue())
    assert (result.width, result.height, result.variants) == (900, 300, ())


# -- keys and markup ------------------------------------------------------------------------

INFO = ImageInfo("articles/send-token/img/fees.png", 2400, 1600, (480, 960, 1600))


def test_variant_names_sit_beside_the_original_and_are_reserved() -> None:
    assert variant_key("media/a b.png", 480) == "media/a b.png.480w.webp"
    assert is_variant_key("media/a b.png.480w.webp")
    assert not is_image_key("media/a b.png.480w.webp")
    assert is_image_key("media/photo.JPG")
    assert is_image_key("articles/x/y.webp")
    assert not is_image_key("media/doc.pdf")
    assert not is_image_key("media/logo.svg")


def test_image_keys_resolve_like_the_browser_does() -> None:
    body = (
        '<p><img src="img/fees.png" alt=""><img src="./img/fees.png" alt="">'
        '<img src="/media/2022/%E9%93%BE.png" alt="">'
        '<img src="../other/pic.jpg" alt=""><img src="https://cdn.example/x.png" alt="">'
        '<img src="data:image/png;base64,AAAA" alt=""><img src="/media/doc.pdf" alt=""></p>'
    )
    assert image_keys(body, "/articles/send-token/") == [
        "articles/send-token/img/fees.png",
        "media/2022/链.png",
        "articles/other/pic.jpg",
    ]
    assert cover_key("/media/c.jpg") == "media/c.jpg"
    assert cover_key("https://example.com/c.jpg") is None


def test_a_known_image_gets_its_size_and_srcset() -> None:
    body = '<p><img src="img/fees.png" alt="Fees" loading="lazy" decoding="async"></p>'
    out = responsive_html(body, "/articles/send-token/", {INFO.key: INFO})
    prefix = "/articles/send-token/img/fees.png"
    assert out == (
        '<p><img src="img/fees.png" alt="Fees" loading="lazy" decoding="async" '
        'width="2400" height="1600" '
        f'srcset="{prefix}.480w.webp 480w, {prefix}.960w.webp 960w, '
        f'{prefix}.1600w.webp 1600w, {prefix} 2400w" '
        'sizes="(max-width: 48rem) 100vw, 46rem"></p>'
    )


def test_markup_keeps_what_the_author_set_and_what_it_does_not_know() -> None:
    small = ImageInfo("media/icon.png", 64, 64)
    body = (
        '<img src="/media/icon.png" alt="">'
        '<img src="img/fees.png" width="300" alt="">'
        '<img src="/media/unknown.png" alt="">'
    )
    out = responsive_html(body, "/articles/send-token/", {small.key: small, INFO.key: INFO})
    assert '<img src="/media/icon.png" alt="" width="64" height="64">' in out  # no srcset
    assert 'width="300" alt="" srcset=' in out
    assert 'height="1600"' not in out
    assert '<img src="/media/unknown.png" alt="">' in out
    assert responsive_html(body, "/articles/send-token/", {}) == body


def test_srcset_urls_are_percent_encoded() -> None:
    info = ImageInfo("media/链 圈.png", 1000, 500, (480, 960))
    assert srcset(info) == (
        "/media/%E9%93%BE%20%E5%9C%88.png.480w.webp 480w, "
        "/media/%E9%93%BE%20%E5%9C%88.png.960w.webp 960w, "
        "/media/%E9%93%BE%20%E5%9C%88.png 1000w"
    )


def _article(cover: str) -> Article:
    when = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    return Article(
        slug="with-cover",
        title="With a cover",
        date=when,
        source_key="articles/with-cover.md",
        content_hash="0",
        cover=cover,
        summary="Summary.",
    )


def test_listing_cards_show_the_cover_with_srcset_and_the_article_page_too() -> None:
    theme = Theme(SiteSettings(base_url="https://news.example"))
    cover = ImageInfo("media/cover.jpg", 2000, 1000, (480, 960, 1600))
    article = _article("/media/cover.jpg")
    listing = theme.listing_page(
        title="x",
        path="/tag/x/",
        articles=[article],
        page=None,
        pages=1,
        base_path="/tag/x/",
        images={cover.key: cover},
    )
    assert (
        '<img src="/media/cover.jpg" alt="" loading="lazy" decoding="async"'
        ' width="2000" height="1000" srcset="/media/cover.jpg.480w.webp 480w,'
    ) in listing
    assert 'sizes="(max-width: 48rem) 100vw, 12rem"' in listing
    page = theme.article_page(
        article, "<p>x</p>", previous=None, next=None, related=[], images={cover.key: cover}
    )
    assert (
        '<figure class="cover"><img src="/media/cover.jpg" alt="" '
        'width="2000" height="1000" srcset=' in page
    )
    # Not processed (yet): the card shows the cover as uploaded.
    plain = theme.home_page(articles=[article], pages=1, hot=[])
    assert '<img src="/media/cover.jpg" alt="" loading="lazy" decoding="async">' in plain
    assert 'class="card-cover"' not in theme.home_page(articles=[_article("")], pages=1, hot=[])
