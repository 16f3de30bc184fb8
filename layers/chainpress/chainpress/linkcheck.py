"""Link and image check of one upload: internal links, images and anchors that lead nowhere.

Every ``<a href>`` and ``<img src>`` of the rendered body (what readers will click, raw HTML
included) is resolved against the article's own URL (``/articles/<slug>/``), the way a browser
does, and checked against the site:

- ``#id`` and ``/articles/<own slug>/#id``: an ``id`` in the rendered body (headings, footnotes;
  the sanitiser drops ``id`` and ``name`` from raw HTML, so those anchors do not exist);
- ``/articles/<slug>/`` (also ``../slug/``, ``/articles/slug``, ``.../index.html``): a live
  article (a draft, a scheduled or a removed one is reported: readers get a 404);
- ``/articles/<slug>/#id``: an ``id`` in that article's stored body (``_internal/bodies``);
- ``/articles/<slug>/<file>`` (``img/x.png``, ``./diagram.png``): a file of that article's
  page bundle in the content bucket (a ``.md`` file is an article of its own, never a file);
- ``/media/<path>``: a ``media/`` object in the content bucket;
- ``/category/<key>/``, ``/tag/<key>/``: a listing with articles (or a site.yaml category).

Anything else (external links, ``mailto:``, the site's generated pages, aliases) is not checked
and never fetched. Broken ones come back as warnings with the line(s) of the source where the
link is written; the page is published anyway.

Cost is bounded per publish whatever the size of the site: one ``BatchGetItem`` for the linked
articles (at most ``MAX_ARTICLES``), one ``heads`` read for the listings, one listing request
per folder of linked files (at most ``MAX_FOLDERS``), and one body read per other article whose
anchors are linked (at most ``MAX_BODIES``). Past those limits the rest is left unchecked, and a
warning says so. Other articles' heading ids are read from their stored body rather than kept on
the article record: a record's fields are copied into every listing it belongs to.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

from chainpress.content import bundle_folder
from chainpress.model import ARTICLE_PREFIX, Article, Problem, article_path, tag_key
from chainpress.ports import ArticleStore, ContentSource, SiteWriter, body_key
from chainpress.settings import SiteSettings

__all__ = ["MAX_ARTICLES", "MAX_BODIES", "MAX_FOLDERS", "MAX_LINKS", "check_links", "find_links"]

MAX_LINKS = 500  # distinct link targets checked per upload
MAX_ARTICLES = 100  # one BatchGetItem
MAX_FOLDERS = 20  # content-bucket listings (1,000 keys each)
MAX_BODIES = 10  # other articles' bodies read for their anchors
MAX_REPORTED = 100  # broken links listed (each searched for in the source's lines)
MAX_LINES = 5  # lines listed per broken link (a link repeated on every line is one problem)
_FOLDER_KEYS = 1000

_LINK = re.compile(r"<(a|img)\s[^>]*?\b(href|src)=\"([^\"]*)\"", re.IGNORECASE)
_ID = re.compile(r"\sid=\"([^\"]*)\"")
# Fragments every browser resolves without an element: the top of the page.
_TOP = frozenset({"", "top"})


@dataclasses.dataclass(frozen=True, slots=True)
class _Link:
    written: str  # as in the HTML (unescaped): what the editor typed, near enough
    kind: str  # "link" | "image"


@dataclasses.dataclass(slots=True)
class _Plan:
    """What the links need looked up, gathered before any request is made."""

    slugs: set[str] = dataclasses.field(default_factory=set)
    listings: set[str] = dataclasses.field(default_factory=set)
    keys: set[str] = dataclasses.field(default_factory=set)  # content keys (media/)
    bundle: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # slug -> paths
    anchors: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # slug -> ids


def find_links(body_html: str) -> list[tuple[str, str]]:
    """``(kind, URL)`` of every link and image of a rendered body, in order, URL unescaped."""
    found = []
    for match in _LINK.finditer(body_html):
        kind = "image" if match[1].lower() == "img" else "link"
        if (kind == "image") == (match[2].lower() == "src"):
            found.append((kind, html.unescape(match[3])))
    return found


def _ids(body_html: str) -> set[str]:
    return {html.unescape(value) for value in _ID.findall(body_html)}


def _is_external(url: str, site_host: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme and parts.scheme not in ("http", "https"):
        return True  # mailto:, ipfs:, tel: ...: not pages of this site
    return bool(parts.netloc) and parts.netloc.lower() != site_host


def _target(url: str, own: str) -> tuple[str, str]:
    """(decoded path, decoded fragment) of ``url`` resolved against the page ``own``."""
    parts = urlsplit(urljoin(own, url))
    return unquote(parts.path), unquote(parts.fragment)


def _article_part(path: str) -> tuple[str, str] | None:
    """``(slug, rest)`` of a path under ``/articles/``; rest "" for the page itself."""
    prefix = f"/{ARTICLE_PREFIX}/"
    if not path.startswith(prefix):
        return None
    slug, _, rest = path[len(prefix) :].partition("/")
    if not slug:
        return None
    return slug, "" if rest == "index.html" else rest


def check_links(
    *,
    body_html: str,
    source_text: str,
    article: Article,
    source_key: str,
    settings: SiteSettings,
    store: ArticleStore,
    content: ContentSource,
    site: SiteWriter,
) -> tuple[Problem, ...]:
    """Warnings for the broken internal links, images and anchors of an upload (one per line
    where each is written). Reads are batched and bounded (see the module docstring)."""
    site_host = urlsplit(settings.base_url).netloc.lower()
    own = article_path(article.slug)
    own_ids = _ids(body_html)
    links: dict[str, _Link] = {}
    seen: set[str] = set()
    for kind, url in find_links(body_html):
        if url not in seen:  # a link repeated 1,000 times is resolved once
            seen.add(url)
            if url and not _is_external(url, site_host):
                links[url] = _Link(url, kind)
    skipped = max(0, len(links) - MAX_LINKS)
    checked = list(links.values())[:MAX_LINKS]

    plan = _Plan()
    for link in checked:
        path, fragment = _target(link.written, own)
        part = _article_part(path)
        if part is not None:
            slug, rest = part
            if slug != article.slug:
                plan.slugs.add(slug)
                if rest:
                    plan.bundle.setdefault(slug, set()).add(rest)
                elif fragment not in _TOP:
                    plan.anchors.setdefault(slug, set()).add(fragment)
            elif rest:
                plan.bundle.setdefault(slug, set()).add(rest)
        elif path.startswith("/media/"):
            plan.keys.add(path.lstrip("/"))
        else:
            listing = _listing(path)
            if listing:
                plan.listings.add(listing)

    limits: list[str] = []
    slugs = sorted(plan.slugs)[:MAX_ARTICLES]
    if len(plan.slugs) > MAX_ARTICLES:
        limits.append(f"links to more than {MAX_ARTICLES} articles")
    found = store.get_articles(slugs) if slugs else {}
    heads = store.heads(sorted(plan.listings)) if plan.listings else {}
    live_listings = {name for name, head in heads.items() if head.count > 0}
    live_listings |= {f"category/{c.key}" for c in settings.categories}
    if article.status == "live":  # its own listings exist once it is published
        live_listings |= {f"tag/{tag_key(t)}" for t in article.tags}
        if article.category:
            live_listings.add(f"category/{article.category}")

    # Files: media keys, and bundle files (own bundle from this upload's key, others from
    # their record's source key), looked up by listing their folders.
    keys: dict[tuple[str, str], str] = {}  # (slug or "", path) -> content key
    for key in plan.keys:
        keys[("", key)] = key
    for slug, paths in plan.bundle.items():
        other = found.get(slug)
        source = source_key if slug == article.slug else other.source_key if other else ""
        folder = bundle_folder(source) if source else None
        for inside in paths:
            if folder is not None and not inside.lower().endswith(".md"):
                keys[(slug, inside)] = folder + inside
    folders = sorted({str(PurePosixPath(k).parent) + "/" for k in keys.values()})
    if len(folders) > MAX_FOLDERS:
        limits.append(f"files in more than {MAX_FOLDERS} folders")
    existing: set[str] = set()
    listed: set[str] = set()
    for folder in folders[:MAX_FOLDERS]:
        names = content.list_keys(folder, limit=_FOLDER_KEYS + 1, recursive=False)
        existing.update(names)
        if len(names) <= _FOLDER_KEYS:
            listed.add(folder)

    bodies: dict[str, set[str]] = {}
    anchored = sorted(s for s in plan.anchors if s in found and found[s].status == "live")
    if len(anchored) > MAX_BODIES:
        limits.append(f"anchors in more than {MAX_BODIES} other articles")
    for slug in anchored[:MAX_BODIES]:
        body = site.read(body_key(slug))
        if body is not None:
            bodies[slug] = _ids(body.decode("utf-8", "replace"))

    problems: list[tuple[_Link, str]] = []
    for link in checked:
        path, fragment = _target(link.written, own)
        why = _why_broken(
            path,
            fragment,
            article=article,
            own_ids=own_ids,
            found=found,
            slugs=set(slugs),
            live_listings=live_listings,
            checked_listings=plan.listings,
            keys=keys,
            existing=existing,
            listed=listed,
            bodies=bodies,
        )
        if why:
            problems.append((link, why))

    warnings = _with_lines(problems[:MAX_REPORTED], source_text)
    if len(problems) > MAX_REPORTED:
        limits.append(f"{len(problems) - MAX_REPORTED} more broken links not listed")
    if skipped:
        limits.append(f"more than {MAX_LINKS} distinct internal links")
    if limits:
        limited = "; ".join(limits)
        warnings.append(Problem(f"link check: not everything was checked or listed ({limited})"))
    return tuple(warnings)


def _listing(path: str) -> str:
    """``category/<key>`` or ``tag/<key>`` for a listing page or feed path, else ""."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] in ("category", "tag"):
        return f"{parts[0]}/{parts[1]}"
    return ""


def _why_broken(
    path: str,
    fragment: str,
    *,
    article: Article,
    own_ids: set[str],
    found: dict[str, Article],
    slugs: set[str],
    live_listings: set[str],
    checked_listings: set[str],
    keys: dict[tuple[str, str], str],
    existing: set[str],
    listed: set[str],
    bodies: dict[str, set[str]],
) -> str:
    """Why the target is broken ("" when it is fine or could not be checked)."""
    part = _article_part(path)
    if part is None and path.startswith("/media/"):
        key = path.lstrip("/")
        return _missing_file(key, existing, listed, f"no file {key} in media/")
    if part is None:
        listing = _listing(path)
        if listing in checked_listings and listing not in live_listings:
            kind, key = listing.split("/", 1)
            return f"no {kind} '{key}' with published articles on the site"
        return ""
    slug, rest = part
    if slug == article.slug:
        if rest:
            return _bundle_problem(slug, rest, keys, existing, listed, own=True)
        if fragment not in _TOP and fragment not in own_ids:
            return f"no heading or element with id '{fragment}' on this page"
        return ""
    if slug not in slugs:
        return ""  # past the limit: not checked
    target = found.get(slug)
    if target is None or target.status == "removed":
        return f"no article '{slug}' on the site"
    if rest:
        return _bundle_problem(slug, rest, keys, existing, listed, own=False)
    if target.status != "live":
        state = "a draft" if target.status == "draft" else f"{target.status}, not published yet"
        return f"article '{slug}' is {state}: readers get a 404"
    ids = bodies.get(slug)
    if fragment not in _TOP and ids is not None and fragment not in ids:
        return f"article '{slug}' has no heading or element with id '{fragment}'"
    return ""


def _missing_file(key: str, existing: set[str], listed: set[str], why: str) -> str:
    folder = str(PurePosixPath(key).parent) + "/"
    if folder not in listed or key in existing:
        return ""  # present, or its folder was too large (or past the limit) to be sure
    return why


def _bundle_problem(
    slug: str,
    rest: str,
    keys: dict[tuple[str, str], str],
    existing: set[str],
    listed: set[str],
    *,
    own: bool,
) -> str:
    where = "this page bundle" if own else f"the page bundle of '{slug}'"
    if rest.lower().endswith(".md"):
        return (
            f"{rest} is not published as a file: a Markdown file is an article of its own "
            "(link to its page, /articles/<its slug>/)"
        )
    key = keys.get((slug, rest))
    if key is None:
        return f"no file {rest} in {where} ('{slug}' is not a page bundle)"
    return _missing_file(key, existing, listed, f"no file {rest} in {where}")


def _lines(source_text: str) -> list[str]:
    return source_text.splitlines()


def _candidates(written: str) -> list[str]:
    forms = [written, unquote(written)]
    return [form for i, form in enumerate(forms) if form and form not in forms[:i]]


def _where(lines: Sequence[str], written: str) -> list[int]:
    """1-based numbers of the (first ``MAX_LINES``) lines that hold ``written`` as a link
    destination."""
    patterns = [
        re.compile(r"(?<![\w.~/%#{-])" + re.escape(form) + r"(?![\w.~/%-])")
        for form in _candidates(written)
    ]
    forms = _candidates(written)
    found: list[int] = []
    for number, line in enumerate(lines, 1):
        if any(form in line for form in forms) and any(p.search(line) for p in patterns):
            found.append(number)
            if len(found) == MAX_LINES:
                break
    return found


def _with_lines(problems: Iterable[tuple[_Link, str]], source_text: str) -> list[Problem]:
    lines = _lines(source_text)
    warnings: list[Problem] = []
    for link, why in problems:
        label = "broken image" if link.kind == "image" else "broken link"
        message = f"{label} {unquote(link.written)}: {why}"  # as typed: 中文, not %E4%B8%AD
        numbers: list[int | None] = [*_where(lines, link.written)] or [None]
        warnings += [Problem(message, number) for number in numbers]
    return sorted(warnings, key=lambda p: (p.line is None, p.line or 0))
