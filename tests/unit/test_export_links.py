"""The static export of the sample site has no broken internal links: every ``href`` and ``src``
on every exported page (navigation, /hot/, pagers, tags, media, bundle images, canonical URLs)
resolves to an exported file."""

from __future__ import annotations

from pathlib import Path

from chainpress_dev import cli
from tests.support.crawl import broken_links
from tests.support.paths import ROOT

BASE = "https://news.example.com"


def test_every_internal_link_of_the_exported_sample_site_resolves(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli.build_site(ROOT / "samples" / "blockchain-circle", out, base_url=BASE)
    assert result.errors == []
    pages = list(out.rglob("*.html"))
    assert len(pages) > 50
    assert (out / "hot" / "index.html").is_file()  # every page links to it
    assert broken_links(out, BASE) == []


def test_the_crawler_sees_a_broken_link(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "index.html").write_text('<a href="/a/">a</a> <img src="/missing.png">')
    (out / "a" / "index.html").write_text(
        f'<a href="../">up</a> <link href="{BASE}/nowhere/"> <a href="https://other.example/x">'
    )
    assert broken_links(out, BASE) == [("/a/", f"{BASE}/nowhere/"), ("/", "/missing.png")]
