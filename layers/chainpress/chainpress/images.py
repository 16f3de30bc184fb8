"""Resized WebP variants of an uploaded image (Pillow; pure, no AWS).

The publish path calls ``process_image`` for an image uploaded under ``media/`` or in a page
bundle, writes the variants beside the original in the site bucket
(``responsive.variant_key``: ``<key>.<width>w.webp``) and records a ``responsive.ImageInfo``
(the original's size and the variant widths) in the articles table; pages read those records
when they render (see responsive.py).

Limits: an image of more than ``MAX_PIXELS`` pixels (a decompression bomb, or just a huge
photo) is refused before it is decoded; a file Pillow cannot decode is refused too. Both become
an ``error`` in the upload's status report (``ImageError``), never an exception Lambda retries.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from collections.abc import Iterable

from PIL import Image, ImageOps, UnidentifiedImageError

from chainpress.responsive import WIDTHS

__all__ = ["MAX_PIXELS", "ImageError", "ProcessedImage", "Variant", "process_image"]

# Refused before decoding: 50 megapixels is ~200 MB as RGBA, within the publish function's
# 1,024 MB with the resized copies.
MAX_PIXELS = 50_000_000
WEBP_QUALITY = 80
# WebP encoder effort (0 fast .. 6 small): 4 is Pillow's default, a fair middle.
WEBP_METHOD = 4

# Pillow's own check (at open, before decoding) is the backstop: it warns past this, which is
# turned into a refusal below, and raises past twice this.
Image.MAX_IMAGE_PIXELS = 2 * MAX_PIXELS


class ImageError(Exception):
    """An image that cannot be processed (the message goes to the status report)."""

    def __init__(self, message: str, *, serve_original: bool) -> None:
        super().__init__(message)
        self.message = message
        # Corrupt bytes are harmless to serve as uploaded; a decompression bomb is not.
        self.serve_original = serve_original


@dataclasses.dataclass(frozen=True, slots=True)
class Variant:
    width: int
    height: int
    data: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class ProcessedImage:
    width: int
    height: int
    variants: tuple[Variant, ...]


def process_image(data: bytes, widths: Iterable[int] = WIDTHS) -> ProcessedImage:
    """The image's displayed size and its WebP variants at each of ``widths`` narrower than it.
    Raises ``ImageError`` for a file Pillow cannot read or one of more than MAX_PIXELS pixels.
    An animated image gets no variants (they would keep only the first frame)."""
    with warnings.catch_warnings():
        # Pillow warns past MAX_IMAGE_PIXELS and raises past twice that: refuse both.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _too_large(width, height)
            oriented = _oriented_size(image)
            if getattr(image, "n_frames", 1) > 1:
                return ProcessedImage(oriented[0], oriented[1], ())
            wanted = sorted({w for w in widths if 0 < w < oriented[0]})
            if not wanted:
                image.load()  # a small image: still refuse a broken one
                return ProcessedImage(oriented[0], oriented[1], ())
            # JPEG: decode at a reduced scale when the largest variant allows (much faster).
            scale = wanted[-1] / oriented[0]
            image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
            image = ImageOps.exif_transpose(image)
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise _too_large(0, 0, f" ({exc})") from exc
        except ImageError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            message = (
                f"the image cannot be read ({exc}): it is served as uploaded, without variants"
            )
            raise ImageError(message, serve_original=True) from exc
    variants = []
    source = image
    for target in reversed(wanted):
        # Widest first, each from the previous one: at most 1/2 of the work of resizing the
        # original every time, and the same Lanczos quality at these ratios.
        target_height = max(1, round(oriented[1] * target / oriented[0]))
        source = source.resize((target, target_height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        source.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
        variants.append(Variant(target, target_height, out.getvalue()))
    return ProcessedImage(oriented[0], oriented[1], tuple(reversed(variants)))


def _too_large(width: int, height: int, detail: str = "") -> ImageError:
    size = f" ({width:,} x {height:,})" if width else detail
    return ImageError(
        f"the image is too large{size}: more than {MAX_PIXELS:,} pixels; it is not served. "
        "Scale it down (e.g. to 4,000 px wide) and upload it again",
        serve_original=False,
    )


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
