"""Hostile uploads against a live site (in-memory ports, the real publish use case).

Each case uploads one hostile file to a site with real articles, a category and tag listings
and a theme override, and asserts what an attacker or a careless editor would see: the
upload's report says ``error`` with a message naming the problem, the live site (site bucket
bytes, article records, stored settings and theme) is byte-identical, and the invocation
stays under 5 s of CPU and 512 MB of Python allocations (tracemalloc peak).
"""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from chainpress.publishing import TOO_LONG_PREFIX, PublishOutcome
from tests.support.hostile import BASE_OVERRIDE, SITE_YAML, Site, article

MAX_SECONDS = 5.0
MAX_BYTES = 512 * 2**20


# The live theme reads the ninth category (site.yaml has nine): valid until a site.yaml with
# fewer categories comes, which the check must then refuse.
BASE_WITH_NINTH = (
    resources.files("chainpress")
    .joinpath("theme/templates/base.html")
    .read_text()
    .replace("</footer>", "<p>{{ site.categories[8].label }}</p>\n</footer>")
)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    site = Site()
    assert site.upload("site.yaml", SITE_YAML.encode()).status == "published"
    for i, title in enumerate(("First", "Second", "Third")):
        outcome = site.upload(f"articles/{title.lower()}.md", article(title, category=f"cat{i}"))
        assert outcome.status == "published", outcome
    assert site.upload("theme/article.html", BASE_OVERRIDE.encode()).status == "published"
    assert site.upload("theme/base.html", BASE_WITH_NINTH.encode()).status == "published"
    yield site
    if RESULTS:  # the figures for SECURITY.md (shown with -s)
        cpu = max(RESULTS, key=lambda r: r[2])
        peak = max(RESULTS, key=lambda r: r[4])
        print(
            f"\n{len(RESULTS)} hostile uploads; max CPU {cpu[2]:.2f} s ({cpu[1]!r}), "
            f"max wall {max(r[3] for r in RESULTS):.2f} s, "
            f"max tracemalloc peak {peak[4] / 2**20:.1f} MB ({peak[1]!r})"
        )


def theme(name: str, text: str, expect: str) -> tuple[str, bytes, str]:
    return (f"theme/{name}", text.encode(), expect)


def front(meta: str, body: str = "Body.") -> bytes:
    return f"---\n{meta}\n---\n\n{body}\n".encode()


NOPE = "{{ nope }}"
BUDGET = "budget"
LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}"
BOMB = "a: &l0 [x,x,x,x,x,x,x,x,x]\nb: &l1 [*l0,*l0,*l0,*l0,*l0,*l0,*l0,*l0,*l0]\n"
ISSUE_BOMB = "&l0 [x,x,x,x,x,x,x,x,x]" + "".join(
    f"\nl{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)
)

# (key, bytes, a word the report's message must contain)
THEME_TRAPS = [
    # Templates that render a sample but fail on the site's real data.
    theme("article.html", "{% if article.slug != 'sample' %}" + NOPE + "{% endif %}", "nope"),
    theme("article.html", "{% if related|length > 1 %}" + NOPE + "{% endif %}", "nope"),
    theme("article.html", "{% for r in related %}{{ r.nope }}{% endfor %}", "nope"),
    theme("listing.html", "{% if title != 'x' %}" + NOPE + "{% endif %}", "nope"),
    theme("listing.html", "{% for a in articles %}{{ a.no_field }}{% endfor %}", "no_field"),
    theme("home.html", "{% if articles|length != 1 %}" + NOPE + "{% endif %}", "nope"),
    theme("home.html", "{% if pager.pages == 2 %}ok{% else %}{{ nope }}{% endif %}", "nope"),
    theme(
        "hot.html",
        "{% for l in lists %}{% for e in l.entries %}{% if e.slug != 'sample' %}"
        "{{ nope }}{% endif %}{% endfor %}{% endfor %}",
        "nope",
    ),
    theme("base.html", "{{ site.categories[9].label }}", "no element 9"),
    theme("base.html", "{% if canonical.endswith('/first/') %}" + NOPE + "{% endif %}", "nope"),
    theme("404.html", NOPE, "nope"),
    theme("sitemap.html", "{% for c in categories %}{{ c.nope }}{% endfor %}", "nope"),
    theme("archive.html", "{% for m in months %}{{ m.label.nope }}{% endfor %}", "nope"),
    theme("archive_month.html", "{% if label != '2024-01' %}" + NOPE + "{% endif %}", "nope"),
    theme("_macros.html", "{% macro nothing() %}{% endmacro %}", "macro"),
    # Syntax errors, and templates that do not exist.
    theme("article.html", "line one\n{% if %}\n", "line 2"),
    theme("article.html", "{% for x in %}", "TemplateSyntaxError"),
    theme("article.html", "{% block main %}{% block main %}{% endblock %}{% endblock %}", "main"),
    theme("article.html", '{% include "nope.html" %}', "nope.html"),
    theme("article.html", '{% extends "../../etc/passwd" %}', "passwd"),
    theme("article.html", '{% import "/etc/passwd" as x %}', "passwd"),
    theme("article.html", '{% extends "article.html" %}', "Recursion"),
    theme("article.html", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "Recursion"),
    theme("evil.html", "hi", "does not replace"),
    theme("article.html", "{{ 1 / 0 }}", "ZeroDivisionError"),
    theme("article.html", "{{ [][1] }}", "UndefinedError"),
    # Sandbox escapes.
    theme("article.html", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    theme("article.html", "{{ article.__class__.__init__.__globals__ }}", "unsafe"),
    theme("article.html", "{{ site.from_yaml.__func__.__globals__ }}", "unsafe"),
    theme("article.html", "{{ cycler.__init__.__globals__ }}", "unsafe"),
    theme("article.html", "{{ self._TemplateReference__context }}", "unsafe"),
    theme("article.html", "{{ lipsum.__globals__['os'] }}", "unsafe"),
    theme("article.html", "{{ range.__self__ }}", "__self__"),
    theme("article.html", "{{ (site|attr('__class__')).__base__ }}", "unsafe"),
    theme("article.html", "{{ ''.format.__globals__ }}", "unsafe"),
    theme("article.html", "{{ '{0.__class__}'.format(site) }}", "unsafe"),
    theme("article.html", "{{ t.__class__.__subclasses__() }}", "unsafe"),
    theme("article.html", "{{ namespace.__init__.__globals__ }}", "unsafe"),
]

BUDGET_BOMBS = [
    # CPU time (the timer).
    theme("base.html", LOOPS + "{% endfor %}{% endfor %}", BUDGET),
    theme(
        "listing.html",
        "{% set s = 'x'*100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        BUDGET,
    ),
    theme(
        "article.html",
        "{% set l = [] %}" + LOOPS + "{{ l.append(j) or '' }}{% endfor %}{% endfor %}",
        BUDGET,
    ),
    theme(
        "article.html",
        "{% macro m(n) %}{% if n %}{{ m(n-1) }}{{ m(n-1) }}{% else %}xxxxxxxx{% endif %}"
        "{% endmacro %}{{ m(40) }}",
        BUDGET,
    ),
    # Numbers, texts and sequences made too large in one operation.
    theme("article.html", "{{ 9**(9**9) }}", BUDGET),
    theme("article.html", "{{ 2**100000 }}", BUDGET),
    theme("article.html", "{{ (9**999) * (9**999) * (9**999) * (9**999) * (9**999) }}", BUDGET),
    theme("article.html", "{{ 'x'*300000000 }}", BUDGET),
    theme("article.html", "{{ 300000000*'x' }}", BUDGET),
    theme("article.html", "{{ body * 100000000 }}", BUDGET),
    theme("article.html", "{{ [0] * 100000000 }}", BUDGET),
    theme("article.html", "{{ site.categories * 10000000 }}", BUDGET),
    theme("article.html", "{{ (range(100000)|list) * 100 }}", BUDGET),
    theme("article.html", "{{ 'x'.center(999999999) }}", BUDGET),
    theme("article.html", "{{ 'x'.ljust(999999999) }}", BUDGET),
    theme("article.html", "{{ 'x'.zfill(999999999) }}", BUDGET),
    theme("article.html", "{{ ('\\t' * 1000).expandtabs(100000) }}", BUDGET),
    theme("article.html", "{{ ('x' * 1000000).replace('', 'y' * 100) }}", BUDGET),
    theme("article.html", "{{ ('x' * 1000000).replace('x', 'y' * 20) }}", BUDGET),
    theme("article.html", "{{ ('y' * 10000000).join(range(100000)|list) }}", BUDGET),
    theme("article.html", "{{ 'abc'.translate({97: 'x' * 10000000}) }}", BUDGET),
    theme("article.html", "{{ '%0999999999d' % 1 }}", BUDGET),
    theme("article.html", "{{ '%*d' % (999999999, 1) }}", BUDGET),
    theme("article.html", "{{ '{:>999999999}'.format(1) }}", BUDGET),
    theme("article.html", "{{ '{:>{w}}'.format(1, w=999999999) }}", BUDGET),
    theme("article.html", "{{ '{0}{0}{0}{0}{0}{0}'.format('x' * 10000000) }}", BUDGET),
    theme("article.html", "{{ '%s%s'|format('x' * 10000000, 'x' * 10000000) }}", BUDGET),
    theme("article.html", "{{ 'x'|center(999999999) }}", BUDGET),
    theme("article.html", "{{ ('x\\n' * 1000000)|indent(100) }}", BUDGET),
    theme("article.html", "{{ ('x' * 10000000)|wordwrap(1, true, 'yy') }}", BUDGET),
    theme("article.html", "{{ ('x' * 1000000)|replace('x', 'y' * 20) }}", BUDGET),
    theme("article.html", "{{ range(100000)|join('y' * 1000) }}", BUDGET),
    theme("article.html", "{{ range(100000)|list|tojson(indent=1000000) }}", BUDGET),
    theme("article.html", "{{ ('x' * 10000000) ~ ('x' * 10000000) }}", BUDGET),
    # Growth over many operations: values, page output, buffered output, values made in all.
    theme(
        "article.html",
        "{% set ns = namespace(x='x') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}"
        "{% endfor %}{{ ns.x }}",
        BUDGET,
    ),
    theme(
        "article.html",
        "{% set ns = namespace(x=[1]) %}{% for i in range(64) %}{% set ns.x = ns.x + ns.x %}"
        "{% endfor %}{{ ns.x }}",
        BUDGET,
    ),
    theme("article.html", "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", BUDGET),
    theme(
        "article.html",
        "{% set x %}{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}{{ x }}",
        BUDGET,
    ),
    theme(
        "article.html",
        "{% set l = [] %}{% for i in range(100000) %}{{ l.append('x' * 10000000) or '' }}"
        "{% endfor %}",
        BUDGET,
    ),
]

ARTICLES = [
    ("articles/latin1.md", "---\ntitle: caf\xe9\n---\n\nx\n".encode("latin-1"), "UTF-8"),
    ("articles/utf16.md", "---\ntitle: x\n---\n\nx\n".encode("utf-16"), "UTF-16"),
    ("articles/nul.md", b"---\ntitle: a\x00b\n---\n\nx\n", "binary"),
    ("articles/binary.md", bytes(range(256)) * 10, "binary"),
    ("articles/empty.md", b"", "empty"),
    ("articles/no-front.md", b"just text", "front matter"),
    ("articles/python-tag.md", front("title: !!python/object/apply:os.system ['id']"), "tag"),
    ("articles/deep.md", front("title: x\nextra: " + "[" * 100000), "nesting"),
    ("articles/large.md", front("title: x", "x" * (2**20 + 10)), "too large"),
    ("articles/no-title.md", front("date: 2024-01-01"), "title"),
    ("articles/bad-date.md", front("title: x\ndate: 2024-13-45"), "date"),
    ("articles/list.md", front("- a\n- b"), "list"),
    ("articles/title-map.md", front("title: {a: 1}"), "title"),
    ("articles/nested-tags.md", front("title: x\ntags: [[a]]"), "tag"),
    ("articles/bad-slug.md", front("title: x\nslug: ../../etc"), "slug"),
    # The issue's alias bomb (446 bytes), anchors in a field, then aliases of them elsewhere.
    ("articles/alias-bomb.md", front("title: x\nsummary: " + ISSUE_BOMB + "\ndraft: *l8"), "alias"),
    (
        "articles/alias-list.md",
        front("title: x\nsummary: " + ISSUE_BOMB + "\naliases: [*l8]"),
        "alias",
    ),
    ("articles/anchor.md", front("title: &t x\nsummary: *t"), "alias"),
    ("articles/nested.md", front("title: x\nextra: " + "[" * 17 + "]" * 17), "nested"),
    ("articles/echo.md", front("title: x\ndraft: '" + "y" * 500_000 + "'"), "draft"),
    ("articles/echo-lang.md", front("title: x\nlanguage: '" + "y" * 500_000 + "'"), "language"),
    # Sizes DynamoDB (400 KB items) or S3 (1,024-byte keys) would refuse: the editor's error.
    ("articles/big-title.md", front("title: " + "x" * 900_000), "title"),
    ("articles/big-summary.md", front("title: x\nsummary: " + "s" * 300_000), "summary"),
    ("articles/big-author.md", front("title: x\nauthor: " + "a" * 300_000), "author"),
    ("articles/big-slug.md", front("title: x\nslug: " + "a" * 900_000), "slug"),
    ("articles/big-tag.md", front("title: x\ntags: [" + "t" * 300_000 + "]"), "tag"),
    (
        "articles/many-tags.md",
        front("title: x\ntags: [" + ",".join(f"t{i}" for i in range(5000)) + "]"),
        "tag",
    ),
    ("articles/big-alias.md", front("title: x\naliases: [/" + "a" * 900_000 + "/]"), "alias"),
    (
        "articles/21-aliases.md",
        front("title: x\naliases: [" + ",".join(f"/a{i}/" for i in range(21)) + "]"),
        "aliases",
    ),
    (
        "articles/20k-aliases.md",
        front("title: x\naliases: [" + ",".join(f"/a{i}/" for i in range(20_000)) + "]"),
        "aliases",
    ),
    ("articles/big-cover.md", front("title: x\ncover: /media/" + "c" * 300_000 + ".png"), "cover"),
    ("articles/big-key.md", front("title: x\ntranslation_key: " + "k" * 300_000), "translation"),
    ("articles/" + "k" * 1100 + ".md", front("title: x"), "key"),
    ("articles/" + "链" * 340 + ".md", front("title: x"), "key"),
    ("media/" + "m" * 1100 + ".png", b"\x89PNG", "key"),
    ("theme/" + "t" * 1100 + ".html", b"hi", "key"),
]

SETTINGS = [
    ("site.yaml", b"name: [oops\n", "YAML"),
    ("site.yaml", b"colour: red\n", "unknown setting"),
    ("site.yaml", b"name: !!python/object/apply:os.system ['id']\n", "tag"),
    ("site.yaml", "name: caf\xe9\n".encode("latin-1"), "UTF-8"),
    ("site.yaml", b"name: " + b"x" * (2**20 + 10), "too large"),
    ("site.yaml", b"- a\n- b\n", "mapping"),
    ("site.yaml", b"description: " + b"d" * 300_000 + b"\n", "too large"),
    ("theme/404.html", b"{% extends 'base.html' %}" + b"<p>404</p>" * 30_000, "too large"),
    ("site.yaml", b"categories: 5\n", "categories"),
    ("site.yaml", b"page_size: -1\n", "page_size"),
    ("site.yaml", (BOMB + "categories: *l1\n").encode(), "alias"),
    ("site.yaml", ("x: " + ISSUE_BOMB + "\ncategories: *l8\n").encode(), "alias"),
    ("site.yaml", b"categories: " + b"[" * 100_000, "nesting"),
    ("site.yaml", b"labels: " + b"{a: " * 20 + b"b" + b"}" * 20, "nested"),
    ("site.yaml", b"timezone: '" + b"y" * 200_000 + b"'\n", "timezone"),
    # Valid settings the current theme cannot render with (it reads the ninth category).
    ("site.yaml", b"name: Two\ncategories:\n  - key: a\n    label: A\n", "element 8"),
]


def case_id(case: tuple[str, bytes, str]) -> str:
    return f"{case[0]}:{case[1][:40].decode('utf-8', 'replace')}"


def too_long(key: str) -> str:
    return TOO_LONG_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def cases(found: list[tuple[str, bytes, str]]) -> Any:
    return pytest.mark.parametrize(
        ("key", "data", "expect"), found, ids=[case_id(c) for c in found]
    )


def check(site: Site, key: str, data: bytes, expect: str) -> PublishOutcome:
    before = site.live()
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        outcome = site.upload(key, data)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    RESULTS.append((key, data[:60], cpu, wall, peak))
    assert outcome.status == "error", outcome
    report = site.content.reports.get(key) or site.content.reports[too_long(key)]
    assert report["status"] == "error"
    message = report["error"]["message"]
    assert expect.lower() in message.lower(), message
    assert len(message) <= 1000, "an error message must not echo an unbounded value"
    assert site.live() == before, "the live site changed"
    assert cpu < MAX_SECONDS, f"{cpu:.2f} s of CPU"
    assert peak < MAX_BYTES, f"{peak / 2**20:.0f} MB"
    return outcome


RESULTS: list[tuple[str, bytes, float, float, int]] = []


@cases(THEME_TRAPS)
def test_theme_traps_are_refused(site: Site, key: str, data: bytes, expect: str) -> None:
    outcome = check(site, key, data, expect)
    assert outcome.error.startswith(f"{key} ") or "does not replace" in outcome.error


@cases(BUDGET_BOMBS)
def test_budget_bombs_are_refused_quickly(site: Site, key: str, data: bytes, expect: str) -> None:
    outcome = check(site, key, data, expect)
    assert "BudgetExceeded" in outcome.error


@cases(ARTICLES)
def test_hostile_articles_are_refused(site: Site, key: str, data: bytes, expect: str) -> None:
    check(site, key, data, expect)


@cases(SETTINGS)
def test_hostile_settings_are_refused(site: Site, key: str, data: bytes, expect: str) -> None:
    check(site, key, data, expect)


def test_at_least_80_hostile_inputs() -> None:
    assert len(THEME_TRAPS + BUDGET_BOMBS + ARTICLES + SETTINGS) >= 80
