"""The signed preview page is valid HTML (the W3C's Nu Html Checker), like every other page."""

from __future__ import annotations

from pathlib import Path

from tests.support.vnu import html_errors
from tests.unit.test_preview_and_links import Site, doc


def test_preview_page_is_valid_html(tmp_path: Path) -> None:
    site = Site()
    site.upload(
        "articles/a.md", doc("A draft", "## Heading\n\nText[^1].\n\n[^1]: Note.", draft="true")
    )
    page = tmp_path / "preview.html"
    page.write_text(site.preview("articles/a.md"), encoding="utf-8")
    assert html_errors([page]) == []
