"""Site settings and theme as stored in the articles table, ready to render with.

Every publish needs the settings and the Theme; building a Theme compiles templates, which costs
more than rendering one page. Settings change rarely, so a warm container keeps the last few
(settings, Theme) pairs, keyed on the exact inputs: a new upload is a new key, never a stale hit.
"""

from __future__ import annotations

import functools
import logging

from chainpress.ports import SiteSource
from chainpress.render import Theme
from chainpress.settings import SettingsError, SiteSettings

__all__ = ["load_site"]

_log = logging.getLogger(__name__)

# Small: one live version, plus the new one while a settings upload is being rolled out.
_CACHE_SIZE = 4


def load_site(source: SiteSource) -> tuple[SiteSettings, Theme]:
    """Settings (defaults when no ``site.yaml`` was uploaded) and the Theme with the overrides."""
    return _load(source.yaml_text, tuple(sorted(source.theme.items())))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _load(yaml_text: str, theme: tuple[tuple[str, str], ...]) -> tuple[SiteSettings, Theme]:
    settings = SiteSettings()
    if yaml_text.strip():
        try:
            settings = SiteSettings.from_yaml(yaml_text)
        except SettingsError as exc:
            # Publish validates site.yaml before storing it, so this only happens if a deploy
            # changed what is valid. Render with defaults rather than stop every publish.
            _log.warning("stored site.yaml is no longer valid, using defaults: %s", exc)
    # Rebuilds render with it: a page its overrides fail on falls back to the bundled theme
    # (uploads are checked strictly before they are stored: chainpress.themecheck).
    return settings, Theme(settings, dict(theme), fallback=True)


def clear_cache() -> None:
    """Forget cached themes (tests that change the bundled templates)."""
    _load.cache_clear()
