"""Hostile uploads in a real browser (Debian's Chromium, Playwright) against the local stack,
whose CDN applies template.yaml's response headers policies per cache behaviour: uploaded HTML,
XHTML, SVG and script media and Markdown XSS payloads run no script. Every payload would log
``PWNED`` to the console, set ``document.title`` or open a dialog if it ran."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import BROWSER_UA, RunningStack
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

RUN = "console.log('PWNED');document.title='PWNED'"
MEDIA = {
    "media/hostile/page.html": (
        f"<!doctype html><title>x</title><script>{RUN}</script>"
        f'<script src="/media/hostile/run.js"></script><img src=x onerror="{RUN}">'
    ),
    "media/hostile/page.xhtml": (
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head>'
        f"<body><script>{RUN}</script></body></html>"
    ),
    "media/hostile/image.svg": (
        f'<svg xmlns="http://www.w3.org/2000/svg" onload="{RUN}" width="10" height="10">'
        f'<script>{RUN}</script><rect width="10" height="10"/></svg>'
    ),
    "media/hostile/data.xml": (
        f'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">{RUN}</x:script>'
    ),
    "media/hostile/run.js": RUN,
}
# Markdown payloads (raw HTML and Markdown links): each would run RUN if kept.
PAYLOADS = [
    f'<img src=x onerror="{RUN}">',
    f"[link](javascript:{RUN})",
    f'<a href="jav&#x09;ascript:{RUN}">tab</a>',
    f'<a href="&#106;avascript:{RUN}">entity</a>',
    f'<q cite="javascript:{RUN}">quote</q>',
    f'<blockquote cite="javascript:{RUN}">block</blockquote>',
    f'<svg onload="{RUN}"></svg>',
    f"<script>{RUN}</script>",
    f'<iframe srcdoc="<script>{RUN}</script>"></iframe>',
    f'<details open ontoggle="{RUN}"><summary>s</summary>d</details>',
    f'<math><mtext><table><mglyph><style><img src=x onerror="{RUN}">',
    f"![img](javascript:{RUN})",
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    "`<img src=x onerror=alert(1)>`",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    f'<input autofocus onfocus="{RUN}">',
    f'<video><source onerror="{RUN}"></video>',
    '<base href="javascript:/">',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="/media/hostile/image.svg">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    f'<a href="/x" onclick="{RUN}">onclick</a>',
    f'<p style="background:url(javascript:{RUN})">style</p>',
    '<img src="/media/hostile/image.svg" alt="svg as an image">',
]


def wait_for(stack: RunningStack, path: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.get(path).status == 200:
            return
        time.sleep(0.5)
    pytest.fail(f"{path} was not published:\n" + "\n".join(stack.output[-30:]))


def test_hostile_media_and_markdown_run_no_script(local_stack: RunningStack) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    s3 = local_stack.s3()
    for key, text in MEDIA.items():
        s3.put_object(Bucket=local_stack.content_bucket, Key=key, Body=text.encode())
    body = "\n\n".join(f"Payload {n}: {payload}" for n, payload in enumerate(PAYLOADS))
    article = f"---\ntitle: Hostile payloads\ndate: 2024-01-02\n---\n\n{body}\n"
    s3.put_object(
        Bucket=local_stack.content_bucket, Key="articles/hostile.md", Body=article.encode()
    )
    for key in MEDIA:
        wait_for(local_stack, "/" + key)
    wait_for(local_stack, "/articles/hostile/")

    # The headers, as a reader's browser gets them.
    for key in MEDIA:
        headers = {k.lower(): v for k, v in local_stack.get("/" + key).headers.items()}
        assert headers["content-security-policy"].startswith("sandbox;"), key
        assert headers["x-content-type-options"] == "nosniff", key
        expected = "" if key.endswith(".svg") else "attachment"
        assert headers.get("content-disposition", "") == expected, key

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(user_agent=BROWSER_UA, accept_downloads=True)
            page = context.new_page()
            ran: list[str] = []
            page.on("console", lambda m: ran.append(m.text) if "PWNED" in m.text else None)
            page.on("dialog", lambda d: (ran.append(f"dialog {d.message}"), d.dismiss()))

            def visit(path: str) -> Any:
                try:
                    return page.goto(local_stack.site_url + path, wait_until="load")
                except PlaywrightError as exc:
                    # An attachment downloads instead of opening: nothing of it ran.
                    if "Download is starting" not in str(exc):
                        raise
                    return None

            # The listeners see a script that does run (the check below is not vacuous).
            visit("/")
            page.evaluate("console.log('PWNED-control')")
            page.wait_for_timeout(200)
            assert ran == ["PWNED-control"], ran
            ran.clear()

            opened = 0
            for key in MEDIA:
                if visit("/" + key) is not None:
                    opened += 1
                    page.wait_for_timeout(300)
                    assert page.evaluate("document.title") != "PWNED", key
            assert opened >= 1  # the SVG opens (sandboxed); the others download

            visit("/articles/hostile/")
            page.wait_for_timeout(500)
            assert page.evaluate("document.title") != "PWNED"
            # Nothing clickable or loadable carries a script: every URL attribute is checked.
            leftovers = page.evaluate(
                """() => [...document.querySelectorAll('.article-body *')].flatMap(el =>
                    [...el.attributes].filter(a => /^on/i.test(a.name) ||
                        /^\\s*(javascript|data|vbscript):/i.test(a.value))
                    .map(a => el.tagName + ' ' + a.name + '=' + a.value))"""
            )
            assert leftovers == []
            for link in page.locator(".article-body a").all():
                link.click(modifiers=[], no_wait_after=True, timeout=2000)
                page.wait_for_timeout(100)
                if "/articles/hostile/" not in page.url:
                    visit("/articles/hostile/")
            assert ran == [], ran
        finally:
            browser.close()
    local_stack.remove("articles/hostile.md", "/articles/hostile/")  # the sample site as it was
