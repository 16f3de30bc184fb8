"""Responsive images in pages: ``width``/``height`` and ``srcset``/``sizes`` on local ``<img>``.

Pure, and light (no Pillow): every function that renders pages imports it. An image's record
(``ImageInfo``: size as displayed, variant widths) is written by the publish function when it
processes the upload (images.py) and read by pages when they render: one batched read per
article page (its body's local images and its cover), one per listing page (the cards'
covers). An image without a record yet keeps its plain ``<img>``.
"""

from __future__ import annotations

import dataclasses
import html
import posixpath
import re
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlsplit

__all__ = [
    "CARD_SIZES",
    "IMAGE_EXTENSIONS",
    "MAX_IMAGES_PER_PAGE",
    "SIZES",
    "WIDTHS",
    "ImageInfo",
    "cover_key",
    "image_keys",
    "is_image_key",
    "is_variant_key",
    "responsive_html",
    "srcset",
    "variant_key",
]

# Variant widths in CSS pixels; only those narrower than the original (never upscaled).
WIDTHS = (480, 960, 1600)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
# Local images of one page looked up in its batched read (more keep their plain <img>).
MAX_IMAGES_PER_PAGE = 100
# The sizes hints: the article column (full width on narrow screens), a listing card's cover.
SIZES = "(max-width: 48rem) 100vw, 46rem"
CARD_SIZES = "(max-width: 48rem) 100vw, 12rem"

# Generated variant names (x.png.480w.webp): an upload may not take one.
_VARIANT = re.compile(r"\.(?:png|jpe?g|webp|gif)\.\d+w\.webp$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True, slots=True)
class ImageInfo:
    """What a page needs to know about an image: its site key, its size as displayed (EXIF
    orientation applied) and the widths of its WebP variants (ascending, all < width)."""

    key: str  # site-bucket key, no leading slash: media/x.png, articles/<slug>/img/x.png
    width: int
    height: int
    variants: tuple[int, ...] = ()
    sha256: str = ""  # of the original's bytes: an identical re-upload is not processed again

    def to_item(self) -> dict[str, object]:
        return {
            "width": self.width,
            "height": self.height,
            "variants": list(self.variants),
            "sha256": self.sha256,
        }

    @classmethod
    def from_item(cls, key: str, item: Mapping[str, object]) -> ImageInfo:
        raw = item.get("variants") or []
        variants = raw if isinstance(raw, list | tuple) else []
        return cls(
            key=key,
            width=int(str(item.get("width", 0))),
            height=int(str(item.get("height", 0))),
            variants=tuple(int(str(w)) for w in variants),
            sha256=str(item.get("sha256", "")),
        )


# -- markup ------------------------------------------------------------------------------------

_IMG = re.compile(r"<img\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r'\s([a-zA-Z][\w:-]*)(?:="([^"]*)")?')


def _attributes(text: str) -> dict[str, str]:
    return {m.group(1).lower(): html.unescape(m.group(2) or "") for m in _ATTR.finditer(text)}


def _site_key(src: str, page_path: str) -> str | None:
    """The site-bucket key an ``<img src>`` on the page at ``page_path`` points to, or None
    for an external (or data:) URL."""
    src = src.strip()
    parts = urlsplit(src)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    path = parts.path if parts.path.startswith("/") else posixpath.join(page_path, parts.path)
    path = posixpath.normpath(unquote(path))
    key = path.lstrip("/")
    if not is_image_key(key) or not key.startswith(("media/", "articles/")):
        return None
    return key


def image_keys(body_html: str, page_path: str) -> list[str]:
    """Site keys of the local images a rendered body shows (first MAX_IMAGES_PER_PAGE)."""
    keys: dict[str, None] = {}
    for match in _IMG.finditer(body_html):
        key = _site_key(_attributes(match.group(1)).get("src", ""), page_path)
        if key is not None:
            keys[key] = None
            if len(keys) >= MAX_IMAGES_PER_PAGE:
                break
    return list(keys)


def cover_key(cover: str) -> str | None:
    """The site key of an article's cover (a site path), None for an external URL."""
    return _site_key(cover, "/") if cover else None


def _url(key: str) -> str:
    return quote("/" + key, safe="/-._~!$&'()*+,;=:@")


def srcset(info: ImageInfo) -> str:
    """``srcset`` of an image: each variant, then the original at its own width."""
    entries = [f"{_url(variant_key(info.key, w))} {w}w" for w in info.variants]
    entries.append(f"{_url(info.key)} {info.width}w")
    return ", ".join(entries)


def responsive_html(
    body_html: str, page_path: str, images: Mapping[str, ImageInfo], sizes: str = SIZES
) -> str:
    """``body_html`` with ``width``/``height`` (unless the author set them) and, for images with
    variants, ``srcset``/``sizes`` on each local ``<img>`` whose record is in ``images``."""
    if not images:
        return body_html

    def rewrite(match: re.Match[str]) -> str:
        text = match.group(1)
        attrs = _attributes(text)
        key = _site_key(attrs.get("src", ""), page_path)
        info = images.get(key) if key is not None else None
        if info is None or info.width <= 0 or info.height <= 0:
            return match.group()
        closing = "/" if text.rstrip().endswith("/") else ""
        text = text.rstrip().removesuffix("/").rstrip()
        extra = []
        if "width" not in attrs and "height" not in attrs:
            extra.append(f'width="{info.width}" height="{info.height}"')
        if info.variants and "srcset" not in attrs:
            extra.append(f'srcset="{html.escape(srcset(info))}" sizes="{html.escape(sizes)}"')
        if not extra:
            return match.group()
        return f"<img{text} {' '.join(extra)}{closing}>"

    return _IMG.sub(rewrite, body_html)


# -- keys --------------------------------------------------------------------------------


def is_image_key(key: str) -> bool:
    """An image we make variants of (by extension; the bytes decide later)."""
    return posixpath.splitext(key.lower())[1] in IMAGE_EXTENSIONS and not is_variant_key(key)


def is_variant_key(key: str) -> bool:
    """A name of the form the generated variants take (``x.png.480w.webp``): reserved."""
    return bool(_VARIANT.search(key))


def variant_key(key: str, width: int) -> str:
    return f"{key}.{width}w.webp"
