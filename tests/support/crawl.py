"""Internal links of a static export: every ``href`` and ``src`` of every page, and whether the
file a browser (or CloudFront's index rewrite) would fetch for it exists in the folder."""

from __future__ import annotations

import html.parser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)
            elif tag == "meta" and name == "content" and value and value.startswith("http"):
                self.links.append(value)  # og:url, og:image


def page_url(out: Path, page: Path) -> str:
    """The URL path a page is served at (``articles/x/index.html`` -> ``/articles/x/``)."""
    relative = page.relative_to(out).as_posix()
    return "/" + relative.removesuffix("index.html")


def target_file(out: Path, path: str) -> Path:
    """The exported file a URL path is served from (``/x/`` -> ``x/index.html``)."""
    local = out / unquote(path).lstrip("/")
    if path.endswith("/") or local.is_dir():
        return local / "index.html"
    return local


def broken_links(out: Path, base_url: str) -> list[tuple[str, str]]:
    """(page, link) for every internal link of every exported page that resolves to nothing."""
    host = urlsplit(base_url).netloc
    broken = []
    for page in sorted(out.rglob("*.html")):
        if "_internal" in page.parts:
            continue
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        here = page_url(out, page)
        for link in parser.links:
            parts = urlsplit(urljoin(base_url + here, link))
            if parts.scheme not in ("http", "https") or parts.netloc != host:
                continue  # another site, mailto:, javascript: ...
            if not target_file(out, parts.path).is_file():
                broken.append((here, link))
    return broken
