"""Responsive images: milliseconds per uploaded image to make its WebP variants.

For each size, a photo-like JPEG (colour gradients, shapes and fine sensor-like noise, quality
88, as a camera or phone exports) or a screenshot-like PNG is made once, then
``chainpress.images.process_image`` (open, size check, JPEG draft decoding, EXIF transpose,
Lanczos resize to every width in WIDTHS narrower than the image, WebP quality 80 method 4) is
timed: CPU time of this process (``time.process_time``: the machine may be shared), median of
``--runs``. Reported with the bytes of the original and of its variants, and the peak resident
memory of a fresh interpreter that processes that one image (what the publish function's
1,024 MB has to hold).

Usage: python bench/bench_images.py [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from chainpress.images import MAX_PIXELS, process_image
from chainpress.responsive import WIDTHS

SIZES = [
    ("JPEG", 1200, 800),  # a web-sized photo
    ("JPEG", 2400, 1600),  # a resized camera photo
    ("JPEG", 4000, 3000),  # a 12-megapixel phone photo, as taken
    ("PNG", 1920, 1080),  # a screenshot or chart
]


def photo_like(fmt: str, width: int, height: int, seed: int = 7) -> bytes:
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
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(4, max(5, min(width, height) // 5))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in "rgb"))
    if fmt == "PNG":  # a screenshot: flat areas and text-like strokes, no noise
        for _ in range(400):
            x, y = rng.randrange(width), rng.randrange(height)
            draw.rectangle((x, y, x + rng.randrange(20, 200), y + 2), fill=(30, 30, 30))
    else:
        image = image.filter(ImageFilter.GaussianBlur(1.2))
        noise = Image.effect_noise((width, height), 28).convert("RGB")
        image = Image.blend(image, noise, 0.1)
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 88} if fmt == "JPEG" else {"optimize": True}))
    return out.getvalue()


def peak_rss_mb(path: Path) -> float:
    """Peak RSS (MiB) that processing ``path`` adds in a fresh interpreter: its VmHWM (per
    address space; ru_maxrss would carry this process's peak over the exec) after processing,
    minus the one after imports and reading."""
    code = (
        "import re, sys; from chainpress.images import process_image; "
        "hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]); "
        "data = open(sys.argv[1], 'rb').read(); base = hwm(); process_image(data); "
        "print(hwm() - base)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout
    return int(out) / 1024  # KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"WebP variants at {', '.join(map(str, WIDTHS))} px (never upscaled); CPU time\n")
    print("| original | bytes | variants (bytes) | ms per image (median) | peak memory added |")
    print("|---|---|---|---|---|")
    medians = []
    with tempfile.TemporaryDirectory() as folder:
        for fmt, width, height in SIZES:
            data = photo_like(fmt, width, height)
            times = []
            for _ in range(args.runs):
                start = time.process_time()
                result = process_image(data)
                times.append((time.process_time() - start) * 1000)
            median = statistics.median(times)
            medians.append(median)
            path = Path(folder) / f"image.{fmt.lower()}"
            path.write_bytes(data)
            variants = ", ".join(f"{v.width}: {len(v.data) // 1024:,} KB" for v in result.variants)
            print(
                f"| {fmt} {width}x{height} | {len(data) // 1024:,} KB | {variants} "
                f"| {median:,.0f} ms | {peak_rss_mb(path):,.0f} MiB |"
            )
        # The largest image accepted (MAX_PIXELS): a PNG (no draft decoding), timed once.
        side = int(MAX_PIXELS**0.5) - 1
        data = photo_like("PNG", side, side)
        start = time.process_time()
        result = process_image(data)
        elapsed = (time.process_time() - start) * 1000
        path = Path(folder) / "limit.png"
        path.write_bytes(data)
        print(
            f"| PNG {side}x{side} (the pixel limit; one run) | {len(data) // 1024:,} KB "
            f"| {len(result.variants)} variants | {elapsed:,.0f} ms "
            f"| {peak_rss_mb(path):,.0f} MiB |"
        )
    print(
        f"\nmedian over the first {len(SIZES)} sizes: "
        f"{statistics.median(medians):,.0f} ms per image"
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process peaked at {own:,.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
