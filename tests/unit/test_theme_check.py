"""Themes checked against the real site before they go live, and the render budget."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from chainpress.budget import RENDER_SECONDS, BudgetExceeded, cpu_budget
from chainpress.paging import HOME
from chainpress.publishing import page_key, render_article_page
from chainpress.render import Theme, ThemeError
from chainpress.settings import SiteSettings
from chainpress.site import load_site
from chainpress.themecheck import _sample_article
from tests.support.hostile import BASE_OVERRIDE, SITE_YAML, Site, article

LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


@pytest.fixture
def site() -> Site:
    site = Site()
    assert site.upload("site.yaml", SITE_YAML.encode()).status == "published"
    for i, title in enumerate(("First", "Second")):
        outcome = site.upload(f"articles/{title.lower()}.md", article(title, category=f"cat{i}"))
        assert outcome.status == "published"
    return site


def test_the_issue_example_is_refused_on_real_articles(site: Site) -> None:
    trap = b"{% if article.slug != 'sample' %}{{ nope }}{% endif %}"
    outcome = site.upload("theme/article.html", trap)
    assert outcome.status == "error"
    assert outcome.error == (
        "theme/article.html was not published: theme/article.html (line 1): "
        "UndefinedError: 'nope' is undefined"
    )
    assert outcome.line == 1
    assert site.store.get_site().theme == {}


def test_an_empty_site_is_checked_on_a_sample() -> None:
    site = Site()
    assert site.upload("theme/article.html", BASE_OVERRIDE.encode()).status == "published"
    broken = site.upload("theme/listing.html", b"{{ nope }}")
    assert broken.status == "error"
    assert "nope" in broken.error


def test_an_article_the_theme_cannot_render_is_not_committed(site: Site) -> None:
    # The override renders every article there is, so it passes the check...
    trap = "{% if article.slug == 'boom' %}{{ nope }}{% endif %}" + BASE_OVERRIDE
    assert site.upload("theme/article.html", trap.encode()).status == "published"
    before = site.live()
    home = [a.slug for a in site.store.newest(HOME, 10)]
    # ...then an article it cannot render arrives: its report says so, and nothing changed.
    outcome = site.upload("articles/boom.md", article("Boom"))
    assert outcome.status == "error"
    assert outcome.error.startswith("the site's theme cannot render this article's page: ")
    assert "theme/article.html (line 1): UndefinedError: 'nope' is undefined" in outcome.error
    assert site.content.reports["articles/boom.md"]["status"] == "error"
    assert site.store.get_article("boom") is None
    assert [a.slug for a in site.store.newest(HOME, 10)] == home
    assert site.live() == before
    # An edit of a live article the theme cannot render keeps the live page and record.
    edited = b"---\ntitle: First\nslug: first\ndate: 2024-04-30 08:00\n---\n\nboom\n"
    page = site.writer.text(page_key("first"))
    trap2 = "{% if 'boom' in body %}{{ nope }}{% endif %}" + BASE_OVERRIDE
    assert site.upload("theme/article.html", trap2.encode()).status == "published"
    assert site.upload("articles/first.md", edited).status == "error"
    assert site.writer.text(page_key("first")) == page
    assert site.store.get_article("first") is not None


def test_settings_that_break_the_current_theme_are_refused(site: Site) -> None:
    ninth = "{{ site.categories[8].label }}" + BASE_OVERRIDE
    assert site.upload("theme/article.html", ninth.encode()).status == "published"
    before = site.live()
    two = b"name: Two\ncategories:\n  - key: cat0\n    label: A\n  - key: cat1\n    label: B\n"
    outcome = site.upload("site.yaml", two)
    assert outcome.status == "error"
    assert outcome.error.startswith(
        "site.yaml was not published: the current theme cannot render the site with these "
        "settings: theme/article.html (line 1): UndefinedError: tuple object has no element 8"
    )
    assert site.live() == before
    assert site.store.get_site().yaml_text == SITE_YAML


def test_budget_stops_a_render_in_a_worker_thread_too() -> None:
    # Signals reach only the main thread: elsewhere every loop polls the deadline.
    theme = Theme(SiteSettings(), {"404.html": LOOPS})
    caught: list[BaseException] = []

    def render() -> None:
        try:
            theme.not_found_page()
        except ThemeError as exc:
            caught.append(exc)

    started = time.process_time()
    worker = threading.Thread(target=render)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert "BudgetExceeded" in str(caught[0])
    assert time.process_time() - started < RENDER_SECONDS + 2


def test_budgets_nest_and_the_timer_is_disarmed_after() -> None:
    started = time.process_time()

    def spin() -> None:
        while True:
            pass

    with pytest.raises(BudgetExceeded), cpu_budget(10.0), cpu_budget(0.2):
        spin()
    assert time.process_time() - started < 2
    with cpu_budget(0.05):
        pass
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # no late signal from a budget that ended
        pass


def test_other_threads_cpu_does_not_spend_the_rendering_threads_budget() -> None:
    # A rebuild writes search files from a thread pool while the main thread renders: only the
    # rendering thread's own CPU time counts against its template's budget.
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            pass

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        with cpu_budget(0.2):
            time.sleep(0.8)  # the other thread spends ~0.8 s of CPU meanwhile
    finally:
        stop.set()
        worker.join()


def test_bundled_theme_renders_large_pages_within_budget() -> None:
    theme = Theme(SiteSettings())
    body = "<p>" + "比特币 " * 300_000 + "</p>"  # a page from the largest article
    page = theme.article_page(_sample_article(), body, previous=None, next=None, related=[])
    assert body in page


def test_rebuilds_render_a_page_the_overrides_fail_on_with_the_bundled_theme(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    # A template that passed the check fails on a page the check did not render: the rebuild
    # writes that page with the bundled templates (and logs it) rather than stopping.
    trap = "{% if article.slug == 'second' %}{{ nope }}{% endif %}<h1 class='custom'>x</h1>"
    site.store.site = dataclasses.replace(site.store.site, theme={"article.html": trap})
    _, theme = load_site(site.store.get_site())
    second = site.store.get_article("second")
    first = site.store.get_article("first")
    assert first is not None
    assert second is not None
    assert "class='custom'" in render_article_page(theme, site.store, first, "<p>1</p>")
    page = render_article_page(theme, site.store, second, "<p>2</p>")
    assert "<p>2</p>" in page
    assert "custom" not in page
    assert "page rendered with the bundled theme: theme/article.html (line 1)" in caplog.text
    with pytest.raises(ThemeError):  # the publish path asks for the strict theme
        render_article_page(theme.strict(), site.store, second, "<p>2</p>")
