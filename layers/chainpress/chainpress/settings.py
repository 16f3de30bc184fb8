"""Site settings: name, tagline, base URL, language, categories with labels, page size, and the
words pages are made of (``labels``, per language).

They live in the content bucket as ``site.yaml`` (so changing them is an upload, which triggers a
full rebuild). Anything missing falls back to the defaults below, which reproduce the real site.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml
from slugify import slugify

from chainpress.yamlguard import check_shape

SETTINGS_KEY = "site.yaml"
# libyaml's safe loader when present (~10x faster than the pure-Python one; same values).
_SAFE_LOADER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader

# The words of every page, per language. An article's pages use its own language (``lang:``);
# every other page the site's ``language``. site.yaml may override any of them per language:
#   labels: {zh: {time: "发布时间："}}
# ``{n}`` stands for a number. Names avoid dict method names (templates read them as t.<name>).
DEFAULT_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "language_name": "English",
        "skip": "Skip to content",
        "home": "Home",
        "hot": "Hot",
        "categories_nav": "Categories",
        "breadcrumb": "Breadcrumb",
        "about": "About us:",
        "sitemap1": "Sitemap1",
        "sitemap2": "Sitemap2",
        "sitemap_xml": "Sitemap XML",
        "rss": "RSS",
        "contact": "If there is infringement, please contact us at:",
        "time": "Time :",
        "author": "Author :",
        "updated": "Updated :",
        "reading": "{n} min read",
        "views": "Click :",
        "tags": "Tags",
        "previous": "Previous:",
        "next": "Next:",
        "no_more": "No more",
        "prev_next": "Previous and next articles",
        "related": "Related articles:",
        "no_related": "No related articles yet.",
        "translations": "Also in:",
        "latest": "Latest news",
        "all_by_month": "All articles by month",
        "no_articles": "No articles yet.",
        "newer": "Newer",
        "older": "Older",
        "pages": "Pages",
        "page": "Page {n}",
        "archive": "Archive",
        "sitemap": "Sitemap",
        "categories": "Categories",
        "no_tags": "No tags yet.",
        "more": "More",
        "archive_by_month": "Archive by month",
        "rss_feed": "RSS feed",
        "xml_sitemap": "XML sitemap",
        "nothing_yet": "Nothing yet.",
        "hot_24h": "Last 24 hours",
        "hot_7d": "Last 7 days",
        "not_found": "Page not found",
        "not_found_text": "The page you are looking for does not exist or has moved.",
        "back_home": "Back to the home page",
        "hot_articles": "Hot articles",
        "empty_page": "No articles on this page any more.",
        "tags_page": "Tags, page {n}",
        "no_tags_page": "No tags on this page any more.",
        "search": "Search",
        "search_label": "Search the site",
        "search_none": "No articles match.",
        "search_nojs": "Search runs in your browser and needs JavaScript. Without it, browse:",
    },
    "zh": {
        "language_name": "中文",
        "skip": "跳到正文",
        "home": "首页",
        "hot": "热门",
        "categories_nav": "分类",
        "breadcrumb": "当前位置",
        "about": "关于我们：",
        "sitemap1": "网站地图1",
        "sitemap2": "网站地图2",
        "sitemap_xml": "XML 网站地图",
        "rss": "RSS",
        "contact": "如有侵权，请联系：",
        "time": "时间：",
        "author": "作者：",
        "updated": "更新：",
        "reading": "阅读约 {n} 分钟",
        "views": "点击：",
        "tags": "标签",
        "previous": "上一篇：",
        "next": "下一篇：",
        "no_more": "没有了",
        "prev_next": "上一篇和下一篇",
        "related": "相关文章：",
        "no_related": "暂无相关文章。",
        "translations": "其他语言：",
        "latest": "最新资讯",
        "all_by_month": "按月浏览全部文章",
        "no_articles": "暂无文章。",
        "newer": "较新",
        "older": "较早",
        "pages": "分页",
        "page": "第 {n} 页",
        "archive": "归档",
        "sitemap": "网站地图",
        "categories": "分类",
        "no_tags": "暂无标签。",
        "more": "更多",
        "archive_by_month": "按月归档",
        "rss_feed": "RSS 订阅",
        "xml_sitemap": "XML 网站地图",
        "nothing_yet": "暂无内容。",
        "hot_24h": "最近 24 小时",
        "hot_7d": "最近 7 天",
        "not_found": "页面不存在",
        "not_found_text": "你要找的页面不存在或已被移动。",
        "back_home": "返回首页",
        "hot_articles": "热门文章",
        "empty_page": "本页已没有文章。",
        "tags_page": "标签，第 {n} 页",
        "no_tags_page": "本页已没有标签。",
        "search": "搜索",
        "search_label": "站内搜索",
        "search_none": "没有找到相关文章。",
        "search_nojs": "站内搜索在浏览器中运行，需要启用 JavaScript。也可以浏览：",
    },
}
LABEL_NAMES = frozenset(DEFAULT_LABELS["en"])

# BCP 47 in the shapes front matter uses: "zh", "zh-CN", "zh_cn", "zh-Hans", "zh-Hant-TW", "en-US".
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


def normalise_language(tag: str) -> str | None:
    """A language tag in its canonical case (``zh_cn`` -> ``zh-CN``, ``ZH-hans`` -> ``zh-Hans``),
    or None when ``tag`` is not one."""
    tag = tag.strip().replace("_", "-")
    if not _LANGUAGE_TAG.fullmatch(tag):
        return None
    first, *rest = tag.split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())  # script: Hans, Latn
        elif len(part) == 2 and part.isalpha():
            parts.append(part.upper())  # region: CN, US
        else:
            parts.append(part.lower())
    return "-".join(parts)


def category_key(text: str) -> str:
    """The URL-safe key a category name gets when site.yaml does not list it (``ERC`` ->
    ``erc``); "" when it has no letters or digits."""
    return slugify(text, allow_unicode=True)


class SettingsError(ValueError):
    """The settings file is not valid; the message says what is wrong."""


@dataclasses.dataclass(frozen=True, slots=True)
class Category:
    key: str  # URL segment, e.g. "bitcoin"
    label: str  # shown in navigation, e.g. "Bitcoin"


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("blockchain", "Blockchain"),
    Category("digital-currency", "Digital currency"),
    Category("wallet", "Wallet"),
    Category("exchange", "Exchange"),
    Category("metaverse", "Metaverse"),
    Category("bitcoin", "Bitcoin"),
    Category("ethereum", "Ethereum"),
    Category("contract", "Contract"),
    Category("financial-management", "Financial management"),
)


# URL schemes links and images may use besides http, https and mailto (which are always allowed).
DEFAULT_LINK_SCHEMES: tuple[str, ...] = ("ipfs", "ipns", "ar", "wss", "tel", "bitcoin")
# Never allowed: they run code or carry a document of their own.
FORBIDDEN_LINK_SCHEMES = frozenset({"javascript", "data", "vbscript"})
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")


@dataclasses.dataclass(frozen=True, slots=True)
class SiteSettings:
    name: str = "Blockchain Circle"
    tagline: str = "One stop hot information platform"
    base_url: str = "http://127.0.0.1:8080"  # no trailing slash
    language: str = "en"
    description: str = (
        "Blockchain Circle provides the latest information about blockchain, digital currency, "
        "digital wallet, exchange, metaverse, bitcoin, Ethereum, contract, financial management "
        "and so on, and always pays attention to the latest market."
    )
    categories: tuple[Category, ...] = DEFAULT_CATEGORIES
    page_size: int = 20
    timezone: str = "UTC"  # how times are shown on pages
    copyright: str = "© 2005-2032 Blockchain Circle. All Rights Reserved"
    contact: str = ""
    # Overrides of DEFAULT_LABELS: ((language tag, ((name, text), ...)), ...). Tuples, so that
    # settings stay hashable; site.yaml writes it as a mapping (see from_mapping).
    labels: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    link_schemes: tuple[str, ...] = DEFAULT_LINK_SCHEMES

    def category_label(self, key: str) -> str:
        for category in self.categories:
            if category.key == key:
                return category.label
        return key

    def find_category(self, text: str) -> str | None:
        """The key of the configured category ``text`` names: its key, or its label, in any
        case (``Bitcoin`` -> ``bitcoin``); None when site.yaml has no such category."""
        folded = text.casefold()
        for category in self.categories:
            if text == category.key:
                return category.key
        for category in self.categories:
            if folded in (category.key.casefold(), category.label.casefold()):
                return category.key
        slug = category_key(text)
        for category in self.categories:
            if slug and slug == category.key:
                return category.key
        return None

    def labels_for(self, language: str) -> dict[str, str]:
        """Every label in ``language``: English, then the built-in table of its primary language
        and of the full tag, then site.yaml's overrides in the same order."""
        return dict(_labels_for(self.labels, language))

    def absolute(self, path: str) -> str:
        """Absolute URL for a site path such as ``/articles/x/``."""
        return self.base_url + path

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SiteSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        values: dict[str, Any] = dict(data)
        if "categories" in values:
            values["categories"] = _parse_categories(values["categories"])
        if "link_schemes" in values:
            values["link_schemes"] = _parse_link_schemes(values["link_schemes"])
        if "page_size" in values:
            size = values["page_size"]
            if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 200:
                raise SettingsError("page_size must be a whole number from 1 to 200")
        for key in (
            "name",
            "tagline",
            "base_url",
            "language",
            "description",
            "timezone",
            "copyright",
            "contact",
        ):
            if key in values and not isinstance(values[key], str):
                raise SettingsError(f"{key} must be text")
        if "timezone" in values:
            try:
                if len(values["timezone"]) > 100:  # IANA names are short; lookups are slow
                    raise ValueError("too long")
                zoneinfo.ZoneInfo(values["timezone"])
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
                # OSError: a name too long for a file name. The value is quoted, cut short.
                raise SettingsError(
                    f"timezone {values['timezone'][:100]!r} is not a known IANA time zone"
                ) from exc
        if "base_url" in values:
            values["base_url"] = _check_base_url(values["base_url"]).rstrip("/")
        if "labels" in values:
            values["labels"] = _parse_labels(values["labels"])
        return cls(**values)

    @classmethod
    def from_yaml(cls, text: str) -> SiteSettings:
        try:
            check_shape(text)  # no aliases, no deep nesting: refused before anything expands
            data = yaml.load(text, Loader=_SAFE_LOADER) or {}  # noqa: S506 - a SafeLoader
        except yaml.YAMLError as exc:
            raise SettingsError(f"{SETTINGS_KEY} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise SettingsError(f"{SETTINGS_KEY} must be a mapping of settings")
        return cls.from_mapping(data)


def _parse_link_schemes(raw: Any) -> tuple[str, ...]:
    """A list of URL schemes, e.g. ``[ipfs, ipns, ar]``; case-insensitive, without ``:``."""
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise SettingsError("link_schemes must be a list of URL schemes, e.g. [ipfs, ipns, ar]")
    schemes = tuple(dict.fromkeys(s.strip().lower().removesuffix(":") for s in raw))
    for scheme in schemes:
        if not _SCHEME.fullmatch(scheme):
            raise SettingsError(f"link_schemes: {scheme!r} is not a URL scheme")
        if scheme in FORBIDDEN_LINK_SCHEMES:
            raise SettingsError(f"link_schemes: {scheme}: links are never allowed (they run code)")
    return schemes


def _parse_categories(raw: Any) -> tuple[Category, ...]:
    """Accepts a list of ``{key: label}`` / ``{key:, label:}`` entries or one mapping."""
    items: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        items = [(str(k), str(v)) for k, v in raw.items()]
    elif isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, dict) and "key" in entry:
                items.append((str(entry["key"]), str(entry.get("label", entry["key"]))))
            elif isinstance(entry, dict) and len(entry) == 1:
                ((k, v),) = entry.items()
                items.append((str(k), str(v)))
            elif isinstance(entry, str):
                items.append((entry, entry))
            else:
                raise SettingsError(f"cannot read category entry {entry!r}")
    else:
        raise SettingsError("categories must be a list or a mapping")
    if not items:
        raise SettingsError("at least one category is needed")
    seen: set[str] = set()
    for key, _label in items:
        _check_category_key(key)
        if key in seen:
            raise SettingsError(f"categories: {_shown(key)} is listed twice")
        seen.add(key)
    return tuple(Category(k, v) for k, v in items)


MAX_CATEGORY_KEY = 64
# One URL path segment (category/<key>/ in the site bucket and in URLs): no separators, no
# characters a URL or an S3 key would need to escape, never "." or "..".
_CATEGORY_KEY = re.compile(r"[^\s/\\?#%<>\"'`{}|^\[\]\x00-\x1f\x7f]+")


def _shown(text: str, limit: int = 80) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _check_category_key(key: str) -> None:
    if (
        not key
        or len(key) > MAX_CATEGORY_KEY
        or key in {".", ".."}
        or not _CATEGORY_KEY.fullmatch(key)
    ):
        suggestion = category_key(key)[:MAX_CATEGORY_KEY]
        hint = f" (e.g. {suggestion!r})" if suggestion else ""
        raise SettingsError(
            f"categories: key {_shown(key)} must be one URL segment of at most "
            f"{MAX_CATEGORY_KEY} characters: letters, digits and '-', no '/', spaces, '?', '#', "
            f"'%' or '..'{hint}"
        )


def _check_base_url(value: str) -> str:
    """An absolute http(s) origin with an optional path: ``https://news.example.com`` or
    ``https://example.com/news``; no user, query or fragment."""
    problem = ""
    try:
        parts = urlsplit(value.strip())
        port = parts.port  # raises on a bad port
    except ValueError:
        parts, port, problem = None, None, "is not a URL"
    del port
    if parts is not None:
        if value != value.strip() or any(c.isspace() or ord(c) < 0x20 for c in value):
            problem = "contains spaces or control characters"
        elif parts.scheme not in ("http", "https"):
            problem = "must start with https:// (or http://)"
        elif not parts.hostname:
            problem = "has no host name"
        elif parts.username is not None or parts.password is not None:
            problem = "may not contain a user name or password"
        elif parts.query or "?" in value:
            problem = "may not have a query (?...)"
        elif parts.fragment or "#" in value:
            problem = "may not have a fragment (#...)"
        elif any(segment in (".", "..") for segment in parts.path.split("/")):
            problem = "may not contain '.' or '..' path segments"
    if problem:
        raise SettingsError(
            f"base_url {_shown(value)} {problem}: give the site's address, like "
            "https://news.example.com or https://example.com/news"
        )
    return value


def _parse_labels(raw: Any) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """``{zh: {time: "时间："}, en: {...}}``: known label names only, text values."""
    if not isinstance(raw, dict):
        raise SettingsError("labels must be a mapping of language -> {label name: text}")
    parsed = []
    for language, names in raw.items():
        tag = normalise_language(str(language))
        if tag is None:
            raise SettingsError(f"labels: {language!r} is not a language tag like en or zh-CN")
        if not isinstance(names, dict):
            raise SettingsError(f"labels.{language} must be a mapping of label name -> text")
        unknown = sorted(str(n) for n in names if n not in LABEL_NAMES)
        if unknown:
            raise SettingsError(
                f"labels.{language}: unknown label(s) {', '.join(unknown)}; "
                f"known labels: {', '.join(sorted(LABEL_NAMES))}"
            )
        for name, text in names.items():
            if not isinstance(text, str):
                raise SettingsError(f"labels.{language}.{name} must be text")
        parsed.append((tag, tuple(sorted((str(n), str(t)) for n, t in names.items()))))
    return tuple(parsed)


@functools.lru_cache(maxsize=64)
def _labels_for(
    overrides: tuple[tuple[str, tuple[tuple[str, str], ...]], ...], language: str
) -> tuple[tuple[str, str], ...]:
    tag = normalise_language(language) or "en"
    primary = tag.split("-")[0]
    site = dict(overrides)
    merged = dict(DEFAULT_LABELS["en"])
    for table in (
        DEFAULT_LABELS.get(primary),
        DEFAULT_LABELS.get(tag),
        dict(site.get(primary, ())),
        dict(site.get(tag, ())) if tag != primary else None,
    ):
        if table:
            merged.update(table)
    return tuple(merged.items())
