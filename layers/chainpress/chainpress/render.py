"""The theme: every HTML page of the site, as a pure function of records and settings.

``Theme`` wraps one Jinja2 environment. Templates come from the bundled theme
(``chainpress/theme/templates``) unless an editor uploaded an override of the same name
(``theme/<name>.html`` in the content bucket); overrides are untrusted, hence the sandbox.
Pages never contain anything that changes without a rebuild (view counts are filled in by
``views.js``), so a page's bytes depend only on its records: writers can skip identical bytes
and numbered listing pages stay CDN-cacheable.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import (
    BaseLoader,
    BytecodeCache,
    ChoiceLoader,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
)
from markupsafe import Markup, escape

from chainpress.budget import RENDER_SECONDS, BudgetedSandbox, cpu_budget
from chainpress.model import Article, article_path, format_time, tag_key
from chainpress.ports import HotItem
from chainpress.responsive import CARD_SIZES, SIZES, ImageInfo, cover_key, srcset
from chainpress.settings import Category, SiteSettings

__all__ = [
    "STATIC_TYPES",
    "TEMPLATES",
    "Theme",
    "ThemeError",
    "absolute_url",
    "category_path",
    "format_date",
    "href",
    "jsonld",
    "page_path",
    "tag_path",
]

# The bundled templates a site needs (partials such as ``_macros.html`` aside); editors may
# override any of them, or a partial, by name.
TEMPLATES: tuple[str, ...] = (
    "base.html",
    "article.html",
    "listing.html",
    "home.html",
    "hot.html",
    "sitemap.html",
    "archive.html",
    "404.html",
    "search.html",
)

STATIC_TYPES: dict[str, str] = {
    "style.css": "text/css; charset=utf-8",
    "views.js": "text/javascript; charset=utf-8",
    # Site search (chainpress.search): the page's script and the Snowball English stemmer it
    # imports (generated JavaScript, the same algorithm as the Python snowballstemmer).
    "search.js": "text/javascript; charset=utf-8",
    "english-stemmer.js": "text/javascript; charset=utf-8",
    "base-stemmer.js": "text/javascript; charset=utf-8",
}

# Labels for the hot windows the trending function produces (the label ``hot_<key>`` in the
# page's language); unknown keys are shown as is.
HOT_WINDOWS: dict[str, str] = {"24h": "Last 24 hours", "7d": "Last 7 days"}

# How many numbered pages the front page of a listing links to directly (newest first);
# older ones are reached page by page or through the monthly archive.
PAGER_NEWEST = 10

# Characters kept as they are in URL paths (RFC 3986 pchar minus "%", plus "/"): everything
# else, CJK included, is percent-encoded so hrefs match the sitemaps and feeds byte for byte.
_PATH_SAFE = "/-._~!$&'()*+,;=:@"

_UTC = dt.UTC
_log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16384)  # the same paths recur on every page of a rebuild
def href(path: str) -> str:
    """A site path made safe for an ``href``: percent-encoded UTF-8, ``/`` kept."""
    return quote(path, safe=_PATH_SAFE)


def absolute_url(settings: SiteSettings, path: str) -> str:
    """Absolute URL of a site path (encoded); URLs that already are absolute pass through."""
    if path.startswith(("https://", "http://")):
        return path
    return settings.absolute(href("/" + path.lstrip("/")))


def category_path(key: str) -> str:
    return f"/category/{key}/"


def tag_path(tag: str) -> str:
    """Listing path of a tag, from its label (``"Layer 2"`` -> ``/tag/layer-2/``)."""
    return f"/tag/{tag_key(tag)}/"


def archive_path(label: str, page: int = 1) -> str:
    """URL of a month of the archive (``"2024-05"`` -> ``/archive/2024/05/``) or of its page K."""
    base = "/archive/" + label.replace("-", "/") + "/"
    return base if page <= 1 else f"{base}page/{page}/"


def sitemap_tags_path(page: int) -> str:
    return f"/sitemap/tags/{page}/"


def page_path(base_path: str, page: int | None) -> str:
    """URL of a listing page: the front page (``None``) or numbered page K (1 is the oldest)."""
    return base_path if page is None else f"{base_path}page/{page}/"


@functools.cache
def _zone(name: str) -> dt.tzinfo:
    # A bad timezone in site.yaml must not take the whole site down: fall back to UTC.
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return _UTC


def _aware(value: dt.datetime) -> dt.datetime:
    # Naive datetimes are taken as UTC (the model's convention), never as the host's local time.
    return value if value.tzinfo is not None else value.replace(tzinfo=_UTC)


def format_date(value: dt.datetime, settings: SiteSettings, *, with_time: bool = True) -> str:
    """A time as readers see it, in ``settings.timezone``: ``2022-05-03 14:30``.

    Year-month-day: unambiguous for every reader (the seed's ``05/03/2022`` is not).
    """
    return _format_local(value, settings.timezone, with_time)


# Cached: a rebuild formats the same few thousand dates over and over (cards on many pages).
@functools.lru_cache(maxsize=8192)
def _format_local(value: dt.datetime, zone: str, with_time: bool) -> str:
    local = _aware(value).astimezone(_zone(zone))
    return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


@functools.lru_cache(maxsize=8192)
def _isodate(value: dt.datetime) -> str:
    return format_time(_aware(value))


def jsonld(data: Mapping[str, Any]) -> Markup:
    """JSON for a ``<script type="application/ld+json">`` block.

    Autoescaping does not apply inside <script>, so the characters that could end the block or
    start markup are written as JSON escapes (still the same JSON once parsed).
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return Markup(text)  # noqa: S704 - escaped above


def _safe_link(url: str, fallback: str) -> str:
    """Only site paths and http(s) URLs become links (hot items come from a table)."""
    if (url.startswith("/") and not url.startswith("//")) or url.startswith(
        ("https://", "http://")
    ):
        return url
    return fallback


@functools.cache
def _static_assets() -> dict[str, bytes]:
    folder = resources.files("chainpress").joinpath("theme", "static")
    return {name: folder.joinpath(name).read_bytes() for name in STATIC_TYPES}


@functools.cache
def _static_version(name: str) -> str:
    return hashlib.sha256(_static_assets()[name]).hexdigest()[:10]


def static_url(name: str) -> str:
    """``/static/<name>?v=<hash>``: a new asset gets a new URL, so it can be cached long."""
    return f"/static/{name}?v={_static_version(name)}"


class ThemeError(Exception):
    """A page could not be rendered: an error in template code (an editor override's, as a
    rule), or over the render budget (chainpress.budget). ``message`` names the template and
    the problem, ``line`` is the template line when known; never longer than a few hundred
    characters (a template's error may quote any value)."""

    def __init__(self, message: str, template: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.template = template
        self.line = line


_MAX_ERROR = 300  # characters of an exception's own text kept in a ThemeError


def theme_error(page: str, exc: Exception) -> ThemeError:
    """Which template (``theme/<name>`` for an override) and line failed, and why."""
    template, line = "", getattr(exc, "lineno", None)
    name = getattr(exc, "filename", None) or getattr(exc, "name", None)
    if isinstance(name, str) and name.startswith("theme/"):
        template = name
    tb = exc.__traceback__
    while tb is not None:  # the innermost template frame (Jinja rewrites them: file = template)
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith("theme/") or filename.endswith(".html"):
            template = filename if filename.startswith("theme/") else filename.rsplit("/", 1)[-1]
            line = tb.tb_lineno
        tb = tb.tb_next
    text = str(exc)
    if len(text) > _MAX_ERROR:
        text = text[:_MAX_ERROR] + "..."
    where = template or page
    at = f" (line {line})" if line else ""
    return ThemeError(f"{where}{at}: {type(exc).__name__}: {text}", template, line)


class _OverrideLoader(BaseLoader):
    """The editor's overrides, named ``theme/<name>`` in tracebacks (hence in error reports)."""

    def __init__(self, overrides: Mapping[str, str]) -> None:
        self.overrides = overrides

    def get_source(self, environment: Any, template: str) -> tuple[str, str | None, Any]:
        if template not in self.overrides:
            raise TemplateNotFound(template)
        return self.overrides[template], f"theme/{template}", lambda: True

    def list_templates(self) -> list[str]:
        return sorted(self.overrides)


class _CompiledTemplates(BytecodeCache):
    """Compiled templates shared by every Theme of the process, by template and source
    checksum: a new Theme (new settings, an override checked) compiles only what changed."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[str | None, Any]] = {}

    def load_bytecode(self, bucket: Any) -> None:
        found = self._code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket: Any) -> None:
        if len(self._code) > 256:  # one entry per template name: only a flood of names
            self._code.clear()
        self._code[bucket.key] = (bucket.checksum, bucket.code)


_COMPILED = _CompiledTemplates()


class _Sandbox(BudgetedSandbox):
    """The sandbox, with a fast path for the plain records the theme passes to templates.

    For these types the stock check reduces to "no leading underscore" (they are none of the
    function/frame/generator types it guards), but it costs a chain of isinstance calls on every
    attribute read: about a sixth of an article page's render time.
    """

    _RECORDS: frozenset[type] = frozenset({Article, SiteSettings, Category, HotItem})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if type(obj) in self._RECORDS:
            return not attr.startswith("_")
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Same answers as the stock method, minus its generic checks, for the two shapes that
        # make up nearly every lookup: records (no str.format values to wrap) and the plain
        # dicts render.py builds (a key that is not also a dict method name).
        kind = type(obj)
        if kind in self._RECORDS and not attribute.startswith("_"):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                return self.undefined(obj=obj, name=attribute)
        if kind is dict and attribute in obj and not hasattr(dict, attribute):
            return obj[attribute]
        return super().getattr(obj, attribute)


class Theme:
    """Renders the pages of one site (settings + optional editor template overrides).

    Build one per settings/overrides version and reuse it: templates compile once.
    """

    def __init__(
        self,
        settings: SiteSettings,
        overrides: Mapping[str, str] | None = None,
        *,
        fallback: bool = False,
    ) -> None:
        self.settings = settings
        self.overrides = dict(overrides or {})
        # fallback: a page the overrides fail to render (ThemeError) is rendered with the
        # bundled templates instead, and logged: a rebuild never stops on a page the upload
        # check did not render. Strict (False) where the error is reported to the editor.
        self.fallback = fallback and bool(self.overrides)
        self._bundled: Theme | None = None
        self._labels: dict[str, dict[str, str]] = {}
        loader = ChoiceLoader(
            [_OverrideLoader(self.overrides), PackageLoader("chainpress", "theme/templates")]
        )
        self.env = _Sandbox(
            loader=loader,
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates never change under a Theme: skip the per-render up-to-date check.
            auto_reload=False,
            bytecode_cache=_COMPILED,
        )
        self.env.filters.update(
            date=self._date,
            isodate=_isodate,
            href=href,
            absolute=self._absolute,
            category_label=settings.category_label,
            category_url=lambda key: href(category_path(key)),
            tag_url=lambda tag: href(tag_path(tag)),
        )
        self.env.globals.update(
            site=settings,
            static=static_url,
            format_date=self._date,
            cover_img=self._cover_img,
            # The page's words and language: the site's, except on an article page in another
            # language (its context shadows these; macros imported without context use these).
            t=self.labels(settings.language),
            lang=settings.language,
        )
        self._templates: dict[str, Template] = {}

    def check(self) -> None:
        """Compile every page template and override now, so a broken override is reported when
        it is uploaded (``jinja2.TemplateSyntaxError`` carries the name and line) rather than
        failing later renders."""
        for name in (*TEMPLATES, *sorted(self.overrides)):
            self._template(name)

    # -- helpers ---------------------------------------------------------------------------

    def _date(self, value: dt.datetime, with_time: bool = False) -> str:
        return format_date(value, self.settings, with_time=with_time)

    def labels(self, language: str) -> dict[str, str]:
        """The page words in ``language`` (built-in table, then site.yaml's ``labels``)."""
        found = self._labels.get(language)
        if found is None:
            found = self._labels[language] = self.settings.labels_for(language)
        return found

    def _shown_dates(self, article: Article) -> tuple[str, str]:
        """(date, update) as the article page shows them: a day alone when the front matter
        gave no time; the update only when it shows differently from the date."""
        date = self._date(article.date, not article.date_only)
        if article.updated is None:
            return date, ""
        with_time = not (article.updated_date_only or article.date_only)
        updated = self._date(article.updated, with_time)
        if updated == self._date(article.date, with_time):
            return date, ""
        return date, self._date(article.updated, not article.updated_date_only)

    def _absolute(self, path: str) -> str:
        return absolute_url(self.settings, path)

    def _template(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self.env.get_template(name)
        return template

    def _render(self, name: str, **context: Any) -> str:
        context.setdefault("canonical", "")
        context.setdefault("current_category", "")
        context.setdefault("feeds", [])
        context.setdefault("is_home", False)
        # Template code may be an editor's: bounded in CPU time and size, and whatever it
        # raises is reported as a ThemeError naming the template and line.
        try:
            with cpu_budget(RENDER_SECONDS):
                return self._template(name).render(**context)
        except Exception as exc:
            error = theme_error(name, exc)
            if not self.fallback:
                raise error from exc
        _log.warning("page rendered with the bundled theme: %s", error.message)
        if self._bundled is None:
            self._bundled = Theme(self.settings)
        return self._bundled._render(name, **context)

    def strict(self) -> Theme:
        """This theme without the fallback (shares its compiled templates)."""
        if not self.fallback:
            return self
        strict = copy.copy(self)
        strict.fallback = False
        return strict

    def _feeds(self, *extra: tuple[str, str]) -> list[dict[str, str]]:
        feeds = [{"title": self.settings.name, "url": "/feed.xml"}]
        feeds += [{"title": title, "url": href(url)} for title, url in extra]
        return feeds

    def _category(self, key: str) -> dict[str, str] | None:
        if not key:
            return None
        return {
            "key": key,
            "label": self.settings.category_label(key),
            "url": href(category_path(key)),
        }

    def _cover(self, article: Article) -> str:
        return absolute_url(self.settings, article.cover) if article.cover else ""

    def _cover_img(
        self, article: Article, images: Mapping[str, ImageInfo], lazy: bool = True
    ) -> Markup:
        """The ``<img>`` of an article's cover (empty without one): with ``width``/``height``
        and, when it has variants, ``srcset``/``sizes`` once the image has been processed."""
        if not article.cover:
            return Markup("")
        key = cover_key(article.cover)
        info = images.get(key) if key is not None else None
        src = self._cover(article)
        own = self.settings.base_url + "/"
        if src.startswith(own):
            # The site's own image by its path: the page may be served under another origin
            # (a preview, the local stack, a custom domain) and the CSP allows only 'self'.
            src = src[len(own) - 1 :]
        attrs = {"src": src, "alt": ""}
        if lazy:
            attrs.update(loading="lazy", decoding="async")
        if info is not None and info.width > 0 and info.height > 0:
            attrs.update(width=str(info.width), height=str(info.height))
            if info.variants:
                attrs.update(srcset=srcset(info), sizes=CARD_SIZES if lazy else SIZES)
        text = " ".join(f'{name}="{escape(value)}"' for name, value in attrs.items())
        return Markup(f"<img {text}>")  # noqa: S704 - every value is escaped

    def _article_jsonld(self, article: Article, canonical: str, cover: str) -> Markup:
        settings = self.settings
        publisher = {"@type": "Organization", "name": settings.name, "url": settings.base_url + "/"}
        author: dict[str, str] | list[dict[str, str]] = (
            {"@type": "Person", "name": article.author} if article.author else dict(publisher)
        )
        if article.authors:
            author = [{"@type": "Person", "name": name} for name in article.authors]
        data: dict[str, Any] = {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": article.title,
            "datePublished": _isodate(article.date),
            "dateModified": _isodate(article.updated or article.date),
            "author": author,
            "publisher": publisher,
            "mainEntityOfPage": {"@type": "WebPage", "@id": canonical},
            "url": canonical,
            "inLanguage": article.language or settings.language,
            "wordCount": article.word_count,
            "keywords": [*article.tags, *_keywords(article)],
        }
        if article.summary:
            data["description"] = article.summary
        if article.category:
            data["articleSection"] = settings.category_label(article.category)
        if cover:
            data["image"] = [cover]
        return jsonld(data)

    # -- pages -----------------------------------------------------------------------------

    def article_page(
        self,
        article: Article,
        body_html: str,
        *,
        previous: Article | None,
        next: Article | None,  # shadows the builtin: the agreed keyword
        related: Sequence[Article],
        translations: Sequence[Article] = (),
        images: Mapping[str, ImageInfo] | None = None,
    ) -> str:
        """The article page. ``body_html`` is trusted: markdown.py has sanitised it.

        ``previous`` is the older neighbour and ``next`` the newer one (the newest article
        says "Next: No more", like the real site). ``translations`` are the other live
        articles with its translation key: hreflang alternates and "Also in" links.
        """
        canonical = absolute_url(self.settings, article.url)
        cover = self._cover(article)
        category = self._category(article.category)
        feeds = self._feeds(
            *([(category["label"], f"/category/{article.category}/feed.xml")] if category else [])
        )
        language = article.language or self.settings.language
        shown_date, shown_update = self._shown_dates(article)
        return self._render(
            "article.html",
            t=self.labels(language),
            lang=language,
            shown_date=shown_date,
            shown_update=shown_update,
            alternates=self._alternates(article, translations),
            keywords=_keywords(article),
            article=article,
            body=Markup(body_html),  # noqa: S704 - sanitised by markdown.py
            previous=previous,
            next=next,
            related=list(related),
            category=category,
            current_category=article.category,
            tags=[{"label": t, "url": href(tag_path(t))} for t in article.tags],
            description=article.summary or self.settings.description,
            canonical=canonical,
            cover_url=cover,
            images=dict(images or {}),
            jsonld=self._article_jsonld(article, canonical, cover),
            feeds=feeds,
        )

    def _alternates(
        self, article: Article, translations: Sequence[Article]
    ) -> list[dict[str, str]]:
        """hreflang links of an article and its translations, by language (empty when alone);
        ``x-default`` is the one in the site's language."""
        others = [a for a in translations if a.slug != article.slug]
        if not others:
            return []
        site = self.settings.language
        links = []
        for item in sorted([article, *others], key=lambda a: (a.language or site, a.slug)):
            language = item.language or site
            links.append(
                {
                    "lang": language,
                    "url": absolute_url(self.settings, item.url),
                    "href": href(item.url),
                    "name": self._language_name(language),
                    "title": item.title,
                    "current": "true" if item.slug == article.slug else "",
                }
            )
        default = next((link for link in links if link["lang"] == site), None)
        if default is not None:
            links.append({**default, "lang": "x-default", "current": "default"})
        return links

    def _language_name(self, language: str) -> str:
        """How a language calls itself ("中文"); the tag for one without labels ("fr")."""
        name = self.labels(language)["language_name"]
        english = language.split("-")[0].lower() == "en"
        return name if english or name != self.labels("en")["language_name"] else language

    def listing_page(
        self,
        *,
        title: str,
        path: str,
        articles: Sequence[Article],
        page: int | None,
        pages: int,
        base_path: str,
        feed_path: str | None = None,
        description: str = "",
        images: Mapping[str, ImageInfo] | None = None,
    ) -> str:
        """One page of a listing (home, category or tag).

        ``page`` None is the front page (the newest articles); numbered page K counts from the
        oldest (1) so it keeps its bytes as new articles arrive. Only the front page and the
        newest numbered page depend on ``pages``.
        """
        current = ""
        if base_path.startswith("/category/"):
            current = base_path.removeprefix("/category/").strip("/")
        return self._render(
            "listing.html",
            title=title,
            description=description,
            articles=list(articles),
            page=page,
            pager=pagination(page, pages, base_path),
            canonical=absolute_url(self.settings, path),
            current_category=current,
            feeds=self._feeds(*([(title, feed_path)] if feed_path else [])),
            images=dict(images or {}),
        )

    def home_page(
        self,
        *,
        articles: Sequence[Article],
        pages: int,
        hot: Sequence[HotItem],
        images: Mapping[str, ImageInfo] | None = None,
    ) -> str:
        return self._render(
            "home.html",
            articles=list(articles),
            images=dict(images or {}),
            hot=self._hot_items(hot),
            pager=pagination(None, pages, "/"),
            canonical=absolute_url(self.settings, "/"),
            feeds=self._feeds(),
            is_home=True,
            website_jsonld=jsonld(
                {
                    "@context": "https://schema.org",
                    "@type": "WebSite",
                    "name": self.settings.name,
                    "description": self.settings.description,
                    "url": self.settings.base_url + "/",
                    "inLanguage": self.settings.language,
                }
            ),
        )

    def hot_page(self, *, lists: Mapping[str, Sequence[HotItem]]) -> str:
        return self._render(
            "hot.html",
            lists=[
                {
                    "key": key,
                    "label": self.labels(self.settings.language).get(
                        f"hot_{key}", HOT_WINDOWS.get(key, key)
                    ),
                    "entries": self._hot_items(items),
                }
                for key, items in lists.items()
            ],
            canonical=absolute_url(self.settings, "/hot/"),
            feeds=self._feeds(),
        )

    def sitemap_page(
        self,
        *,
        categories: Sequence[tuple[Category, int | None]],
        tags: Sequence[tuple[str, str, int | None]],
        tag_pages: int = 0,
    ) -> str:
        """HTML sitemap ("Sitemap1"): categories as (category, count or None), tags as (label,
        key, count or None), and links to ``tag_pages`` pages of tags (``sitemap_tags_page``)
        when the tags are not listed here."""
        return self._render(
            "sitemap.html",
            categories=[
                {"label": c.label, "url": href(category_path(c.key)), "count": n}
                for c, n in categories
            ],
            tags=[
                {"label": label, "url": href(f"/tag/{key}/"), "count": n} for label, key, n in tags
            ],
            tag_pages=[
                {"number": k, "url": href(sitemap_tags_path(k))} for k in range(1, tag_pages + 1)
            ],
            canonical=absolute_url(self.settings, "/sitemap/"),
            feeds=self._feeds(),
        )

    def sitemap_tags_page(self, *, tags: Sequence[tuple[str, str]], page: int, pages: int) -> str:
        """One page of the tag index, tags as (label, key): ``/sitemap/tags/K/``."""
        return self._render(
            "sitemap_tags.html",
            tags=[{"label": label, "url": href(f"/tag/{key}/")} for label, key in tags],
            page=page,
            pager={
                "older": href(sitemap_tags_path(page - 1)) if page > 1 else None,
                "newer": href(sitemap_tags_path(page + 1)) if page < pages else None,
                "numbers": [],
            },
            canonical=absolute_url(self.settings, sitemap_tags_path(page)),
            feeds=self._feeds(),
        )

    def archive_page(self, *, months: Sequence[tuple[str, int]]) -> str:
        """Archive index ("Sitemap2"): ``months`` as (label such as "2022-05", articles),
        newest first, each linking its month page."""
        return self._render(
            "archive.html",
            months=[
                {"label": label, "count": count, "url": href(archive_path(label))}
                for label, count in months
            ],
            canonical=absolute_url(self.settings, "/archive/"),
            feeds=self._feeds(),
        )

    def archive_month_page(
        self, *, label: str, articles: Sequence[Article], page: int, pages: int
    ) -> str:
        """Page ``page`` of a month of the archive (1 holds the month's first articles)."""
        return self._render(
            "archive_month.html",
            label=label,
            articles=list(articles),
            page=page,
            pager={
                "older": href(archive_path(label, page - 1)) if page > 1 else None,
                "newer": href(archive_path(label, page + 1)) if page < pages else None,
                "numbers": [],
            },
            canonical=absolute_url(self.settings, archive_path(label, page)),
            feeds=self._feeds(),
        )

    def not_found_page(self) -> str:
        return self._render("404.html", feeds=self._feeds())

    def search_page(self) -> str:
        """``/search/``: the form, and the script that fetches the term files a query needs."""
        return self._render(
            "search.html",
            canonical=absolute_url(self.settings, "/search/"),
            feeds=self._feeds(),
        )

    def static_files(self) -> dict[str, tuple[bytes, str]]:
        """Theme assets by site key: ``{"static/style.css": (bytes, content type), ...}``."""
        return {
            f"static/{name}": (data, STATIC_TYPES[name]) for name, data in _static_assets().items()
        }

    def _hot_items(self, items: Sequence[HotItem]) -> list[dict[str, Any]]:
        return [
            {
                "slug": item.slug,
                "title": item.title,
                "url": href(_safe_link(item.url, article_path(item.slug))),
                "category": self._category(item.category),
                "views": item.views,
            }
            for item in items
        ]


def _keywords(article: Article) -> list[str]:
    """Front matter ``keywords`` (kept in ``extra`` by content.py), as text."""
    raw = article.extra.get("keywords")
    return [str(k) for k in raw] if isinstance(raw, list) else []


def pagination(page: int | None, pages: int, base_path: str) -> dict[str, Any]:
    """Links between the pages of a listing.

    The front page shows the newest articles; numbered page K (1 = oldest) links to K-1
    ("older") and K+1 ("newer"; the front page from the newest numbered page). The front page
    links to the numbered pages, newest first, and its "older" link skips page ``pages``: that
    page holds the newest ``count % size`` (or ``size``) articles, all shown on the front page.
    Numbered pages do not list the others: that would change every old page on each new one.
    """
    older: int | None
    newer: str | None
    numbers: list[dict[str, Any] | None] = []
    if page is None:
        older = pages - 1 if pages >= 2 else None
        newer = None
        if pages >= 2:
            shown = list(range(pages, max(pages - PAGER_NEWEST, 0), -1))
            numbers = [{"number": k, "url": href(page_path(base_path, k))} for k in shown]
            if shown[-1] > 1:
                if shown[-1] > 2:
                    numbers.append(None)  # an ellipsis
                numbers.append({"number": 1, "url": href(page_path(base_path, 1))})
    else:
        older = page - 1 if page > 1 else None
        newer = href(page_path(base_path, page + 1 if page < pages else None))
    return {
        "page": page,
        "pages": pages,
        "front": href(base_path),
        "older": href(page_path(base_path, older)) if older is not None else None,
        "older_number": older,
        "newer": newer,
        "numbers": numbers,
    }
