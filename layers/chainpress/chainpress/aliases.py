"""Where an alias's redirect page lives, and which article owns it (pure).

An alias is a site path an article also answers at (``aliases: [/2022/05/old/]``), served as a
small redirect page. Several articles may name the same path, and a path may be an old article
page (a renamed article keeps its old URL as an alias). So that the redirect does not depend on
the order events arrive in, every live article *claims* its alias keys in the articles table
(``alias#<key>`` items, written in the commit that makes it live or not, ``paging.plan_commit``),
and the page at a key is a function of the table: the page of a live article whose slug it is;
else a redirect to the claimant with the oldest sort key (date, then slug); else nothing.
"""

from __future__ import annotations

from chainpress.model import ARTICLE_PREFIX, Article

__all__ = ["alias_key", "claimed_keys", "claimed_slug"]

# Top-level site paths an alias may never take over (generated pages, assets, private data).
_RESERVED_TOP = frozenset(
    {"page", "category", "tag", "sitemaps", "sitemap", "archive", "hot", "static", "media",
     "_internal", "_status", "api"}
)  # fmt: skip
_RESERVED_FILES = frozenset({"index.html", "feed.xml", "sitemap.xml", "robots.txt", "404.html"})


def _page_key(slug: str) -> str:
    return f"{ARTICLE_PREFIX}/{slug}/index.html"


def alias_key(alias: str, slug: str) -> str | None:
    """Site key of the redirect page for ``alias`` (a site path such as ``/2022/05/old/``), or
    None when the alias is unsafe or would take over a generated page."""
    path = alias.strip()
    if "://" in path or "\\" in path or "?" in path or "#" in path:
        return None
    parts = path.strip("/").split("/")
    if not parts or any(p in ("", ".", "..") for p in parts) or parts[0] in _RESERVED_TOP:
        return None
    # A file URL (/old.html, /news.php) gets the redirect at that key; a folder, its index.html.
    key = "/".join(parts if "." in parts[-1] else [*parts, "index.html"])
    if key in _RESERVED_FILES or key.startswith("sitemap") or key == _page_key(slug):
        return None
    return key


def claimed_keys(article: Article | None) -> frozenset[str]:
    """The alias keys ``article`` claims in the table: those of a live article."""
    if article is None or not article.is_listed:
        return frozenset()
    keys = (alias_key(alias, article.slug) for alias in article.aliases)
    return frozenset(key for key in keys if key is not None)


def claimed_slug(key: str) -> str | None:
    """The slug whose article page ``key`` is (``articles/<slug>/index.html``), if it is one."""
    inside = key.removeprefix(f"{ARTICLE_PREFIX}/")
    if inside == key or not inside.endswith("/index.html"):
        return None
    slug = inside.removesuffix("/index.html")
    return slug if slug and "/" not in slug else None
