"""A reader in a real browser: Debian's Chromium driven by Playwright, against the local stack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import BROWSER_UA, RunningStack

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# What this machine's Chromium needs as root in a closed network (docs: machines/python.md);
# Playwright adds --headless itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_reader_follows_a_link_and_the_view_count_rises(local_stack: RunningStack) -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium); "
            "CI does this in .ci/run"
        )
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            # Headless Chromium says "HeadlessChrome", which the views function counts as a bot.
            context = browser.new_context(user_agent=BROWSER_UA)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                # A failed load is checked below with its URL (the browser's own favicon
                # request is allowed to miss: the theme has none).
                lambda msg: (
                    None
                    if msg.type != "error" or msg.text.startswith("Failed to load resource")
                    else errors.append(msg.text)
                ),
            )
            page.on(
                "response",
                lambda r: (
                    errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )

            page.goto(local_stack.site_url + "/")
            expect(page.locator(".site-name")).to_have_text("Blockchain Circle")
            link = page.locator(".card-title a").first
            title = link.inner_text()
            link.click()
            page.wait_for_url(re.compile(r".*/articles/[^/]+/$"))
            expect(page.locator("h1")).to_have_text(title)

            count = page.locator(".views[data-count-view] .views-n")
            expect(count).to_have_text(re.compile(r"\d"))
            first = int(re.sub(r"\D", "", count.inner_text()))
            page.reload()
            expect(count).to_have_text(re.compile(r"\d"))
            second = int(re.sub(r"\D", "", count.inner_text()))
            assert second == first + 1
            assert errors == [], errors  # no script error, no CSP violation
        finally:
            browser.close()


@pytest.mark.parametrize(
    "title",
    [
        "Bitcoin's fourth halving cuts the block reward to 3.125 BTC",
        "以太坊上海升级完成，质押ETH终于可以提取",
    ],
)
def test_reader_searches_for_an_exact_title(local_stack: RunningStack, title: str) -> None:
    """The header's search form, then /search/: the article with that title comes first."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context(user_agent=BROWSER_UA).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(local_stack.site_url + "/")
            box = page.locator(".site-search input[name=q]")
            box.fill(title)
            box.press("Enter")
            page.wait_for_url(re.compile(r".*/search/\?q=.*"))
            expect(page.locator("#search-q")).to_have_value(title)  # the query is shown
            first = page.locator("#search-results li a").first
            expect(first).to_have_text(title)
            first.click()
            page.wait_for_url(re.compile(r".*/articles/[^/]+/$"))
            expect(page.locator("h1")).to_have_text(title)
            assert errors == [], errors
        finally:
            browser.close()
