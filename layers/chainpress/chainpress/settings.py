"""Site settings: name, tagline, base URL, language, categories with labels, page size.

They live in the content bucket as ``site.yaml`` (so changing them is an upload, which triggers a
full rebuild). Anything missing falls back to the defaults below, which reproduce the real site.
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

import yaml

SETTINGS_KEY = "site.yaml"


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
    link_schemes: tuple[str, ...] = DEFAULT_LINK_SCHEMES

    def category_label(self, key: str) -> str:
        for category in self.categories:
            if category.key == key:
                return category.label
        return key

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
                zoneinfo.ZoneInfo(values["timezone"])
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise SettingsError(
                    f"timezone {values['timezone']!r} is not a known IANA time zone"
                ) from exc
        if "base_url" in values:
            values["base_url"] = values["base_url"].rstrip("/")
        return cls(**values)

    @classmethod
    def from_yaml(cls, text: str) -> SiteSettings:
        try:
            data = yaml.safe_load(text) or {}
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
    return tuple(Category(k, v) for k, v in items)
