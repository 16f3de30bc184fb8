"""Real image bytes made in the test (Pillow): photo-like gradients and noise, small icons,
decompression bombs and broken files."""

from __future__ import annotations

import functools
import io
import random
import struct
import zlib

from PIL import Image, ImageDraw, ImageFilter


@functools.cache
def photo(width: int, height: int, *, fmt: str = "JPEG", seed: int = 1, exif: bytes = b"") -> bytes:
    """A photo-like image: a colour gradient with shapes and fine noise (JPEG by default)."""
    rng = random.Random(seed)
    small = Image.new("RGB", (max(1, width // 16), max(1, height // 16)))
    small.putdata(
        [
            (x * 255 // small.width, y * 255 // small.height, rng.randrange(256))
            for y in range(small.height)
            for x in range(small.width)
        ]
    )
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(4, max(5, min(width, height) // 4))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in "rgb"))
    image = image.filter(ImageFilter.GaussianBlur(1))
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    image = Image.blend(image, noise, 0.08)
    out = io.BytesIO()
    options: dict[str, object] = {"quality": 88} if fmt == "JPEG" else {}
    if exif:
        options["exif"] = exif
    image.save(out, fmt, **options)
    return out.getvalue()


def png(width: int = 8, height: int = 8, *, alpha: bool = False) -> bytes:
    """A small flat PNG (an icon, a diagram)."""
    image = Image.new(
        "RGBA" if alpha else "RGB", (width, height), (20, 120, 200, 128)[: 4 if alpha else 3]
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@functools.cache
def bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """A small, valid PNG that decodes to ``width`` x ``height`` black pixels (1 bit each):
    a decompression bomb. Written chunk by chunk (Pillow would build the whole image first)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" * (1 + (width + 7) // 8)  # filter type 0, then the packed bits
    pixels = zlib.compress(row * height, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def truncated(data: bytes) -> bytes:
    """The first half of an image file: the header reads, the pixels do not."""
    return data[: len(data) // 2]


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def format_of(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        return str(image.format)
