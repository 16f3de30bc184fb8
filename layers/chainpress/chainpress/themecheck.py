"""Checking a theme before it goes live: the pages it renders, on the site's real data.

An uploaded template (``theme/<name>.html``) or ``site.yaml`` is stored, and so rolled out to
every page, only when the theme that would result renders a bounded sample of the real site
without error and within budget (chainpress.budget): the newest articles with their real
neighbours, related articles and translations, the home page and its numbered page 1, the
newest article's category and tag listings, the hot page, the HTML sitemap, the archive and
its newest month, and the 404 page. A template that only fails on data it has not been shown
(``{% if article.slug != 'sample' %}``) fails here on the real articles. An empty site is
checked on a bundled sample article instead.

Bounded: a few store reads and ~15 page renders, all together under ``CHECK_SECONDS`` of CPU.
Pure (no AWS).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from chainpress.budget import CHECK_SECONDS, BudgetExceeded, cpu_budget
from chainpress.model import Article, tag_key
from chainpress.paging import HOME
from chainpress.ports import ArticleStore, HotItem, SiteWriter, body_key
from chainpress.render import Theme, ThemeError, theme_error
from chainpress.settings import SiteSettings

__all__ = ["ARTICLES_CHECKED", "check_theme"]

# How many of the newest articles are rendered (each with its own neighbours and related).
ARTICLES_CHECKED = 3


@dataclasses.dataclass(frozen=True, slots=True)
class _SampleHot:
    """Hot lists for the check: the newest articles, as the trending function would list them."""

    items: tuple[HotItem, ...]

    def get(self, window: str, category: str | None = None) -> list[HotItem]:
        return [i for i in self.items if category is None or i.category == category]


def _hot_item(article: Article, views: int) -> HotItem:
    return HotItem(article.slug, article.title, article.url, article.category, views)


def check_theme(
    store: ArticleStore,
    site: SiteWriter,
    settings: SiteSettings,
    overrides: Mapping[str, str],
    now: dt.datetime,
) -> None:
    """Raise ThemeError when ``overrides`` over the bundled theme, with ``settings``, fail to
    compile or to render the site's pages (or go over budget). Store errors propagate."""
    theme = Theme(settings, overrides)
    try:
        theme.check()  # every template compiles (syntax errors carry their line)
    except Exception as exc:
        raise theme_error("", exc) from exc
    try:
        with cpu_budget(CHECK_SECONDS):
            newest = store.newest(HOME, ARTICLES_CHECKED)
            if newest:
                _render_site(theme, store, site, settings, newest, now)
            else:
                _render_sample(theme, settings)
    except BudgetExceeded as exc:  # between two renders: the check as a whole took too long
        raise ThemeError(
            f"the theme took more than {CHECK_SECONDS:g} s of CPU to render the checked pages "
            f"({exc})"
        ) from exc


def _render_site(
    theme: Theme,
    store: ArticleStore,
    site: SiteWriter,
    settings: SiteSettings,
    newest: list[Article],
    now: dt.datetime,
) -> None:
    # Imported here: pages and publishing import this module's importers.
    from chainpress import pages
    from chainpress.publishing import render_article_page
    from chainpress.views import WINDOWS

    for article in newest:
        body = site.read(body_key(article.slug))
        text = body.decode("utf-8", "replace") if body is not None else f"<p>{article.title}</p>"
        render_article_page(theme, store, article, text)
    hot = _SampleHot(tuple(_hot_item(a, len(newest) - i) for i, a in enumerate(newest)))
    theme.hot_page(lists={window: hot.get(window) for window in WINDOWS})
    ctx = pages.BuildContext(store, site, hot, settings, theme, now)
    first = newest[0]
    listings = [HOME]
    category = first.category or (settings.categories[0].key if settings.categories else "")
    if category:
        listings.append(f"category/{category}")
    listings += [f"tag/{tag_key(tag)}" for tag in first.tags[:1]]
    checked = [pages.Page("listing", listing, 0) for listing in listings]
    checked += [
        pages.Page("listing", HOME, 1),
        pages.Page("html-sitemap"),
        pages.Page("archive"),
        pages.Page("not-found"),
    ]
    months = store.months()
    if months:
        checked.append(pages.Page("month", months[-1][0], 1))
    for page in checked:
        pages.build(page, ctx)


def _sample_article() -> Article:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return Article(
        slug="sample",
        title="Sample",
        date=when,
        source_key="articles/sample.md",
        content_hash="0",
        author="Editor",
        category="blockchain",
        tags=("sample",),
        summary="Sample.",
        related=("sample",),
        updated=when,
    )


def _render_sample(theme: Theme, settings: SiteSettings) -> None:
    """An empty site: every page kind once, on a sample article."""
    sample = _sample_article()
    theme.article_page(sample, "<p>x</p>", previous=sample, next=sample, related=[sample])
    theme.listing_page(
        title="x", path="/tag/x/", articles=[sample], page=1, pages=2, base_path="/tag/x/"
    )
    theme.home_page(articles=[sample], pages=2, hot=[])
    hot = _hot_item(sample, 1)
    theme.hot_page(lists={"24h": [hot]})
    categories = settings.categories[:1]
    theme.sitemap_page(categories=[(c, 1) for c in categories], tags=[("Sample", "sample", 1)])
    theme.sitemap_page(categories=[(c, None) for c in categories], tags=[], tag_pages=2)
    theme.sitemap_tags_page(tags=[("Sample", "sample")], page=1, pages=2)
    theme.archive_page(months=[("2024-01", 1)])
    theme.archive_month_page(label="2024-01", articles=[sample], page=1, pages=2)
    theme.not_found_page()
