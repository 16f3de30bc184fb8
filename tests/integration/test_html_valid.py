"""Every page the site generates is valid HTML for the W3C's Nu Html Checker (0 errors).

The sample site, and the corpus written in the styles of real repositories (Hugo and Docusaurus
bundles, ERC specs, a Chinese tutorial, raw HTML in prose: tests/data/corpus), are exported with
``chainpress build`` (the same use cases and theme the Lambda functions run) and every exported
page is checked in one run of the checker.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from chainpress_dev import cli
from tests.support.images import png
from tests.support.paths import ROOT
from tests.support.vnu import html_errors

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def exported_pages(content: Path, out: Path) -> list[Path]:
    cli.build_site(content, out, base_url="https://news.example.com", now=NOW)
    return sorted(p for p in out.rglob("*.html") if "_internal" not in p.parts)


def test_every_page_of_the_sample_site_is_valid_html(tmp_path: Path) -> None:
    pages = exported_pages(ROOT / "samples" / "blockchain-circle", tmp_path / "site")
    kinds = {p.relative_to(tmp_path / "site").parts[0] for p in pages}
    # Article, listing, category, tag, sitemap, archive and 404 pages are all among them.
    assert {"articles", "category", "tag", "sitemap", "archive", "404.html"} <= kinds
    assert html_errors(pages) == []


def test_every_page_of_the_real_style_corpus_is_valid_html(tmp_path: Path) -> None:
    pages = exported_pages(ROOT / "tests" / "data" / "corpus", tmp_path / "site")
    assert sum(1 for p in pages if p.parts[-3] == "articles") >= 10
    assert html_errors(pages) == []


def test_pages_with_responsive_images_are_valid_html(tmp_path: Path) -> None:
    # srcset/sizes/width/height on a body image (Markdown and raw HTML), the cover on the
    # article page, and the cards' covers on listings.
    content = tmp_path / "content"
    (content / "media").mkdir(parents=True)
    (content / "media" / "chart.png").write_bytes(png(1200, 600))
    bundle = content / "articles" / "guide"
    bundle.mkdir(parents=True)
    (bundle / "wide.png").write_bytes(png(2000, 900))
    (bundle / "index.md").write_text(
        "---\ntitle: Guide\ndate: 2025-01-02\ncategory: blockchain\ncover: wide.png\n---\n\n"
        '![Chart](/media/chart.png)\n\n<img src="wide.png" alt="Wide">\n',
        encoding="utf-8",
    )
    pages = exported_pages(content, tmp_path / "site")
    article = (tmp_path / "site" / "articles" / "guide" / "index.html").read_text()
    assert article.count("srcset=") == 3
    home = (tmp_path / "site" / "index.html").read_text()
    assert 'class="card-cover"' in home
    assert "/articles/guide/wide.png.1600w.webp 1600w" in home
    assert (tmp_path / "site" / "media" / "chart.png.960w.webp").is_file()
    assert html_errors(pages) == []
