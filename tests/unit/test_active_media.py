"""Uploaded files that a browser would run (HTML, XHTML, XML, SVG, scripts) never run on the
site's origin: stored as attachments (or, SVG under media/, viewable but sandboxed by the CDN),
and URL attributes in Markdown never carry a script scheme."""

from __future__ import annotations

import pytest

from chainpress.content import media_disposition
from chainpress.markdown import render_markdown
from chainpress.model import pad_sequencer
from chainpress.publishing import PublishPorts, SourceEvent, publish_event
from chainpress_dev.local.cdn import behaviour_headers, headers_for
from chainpress_dev.memory import InMemoryArticleStore, InMemoryContentSource, InMemorySiteWriter
from tests.support.images import png
from tests.support.template import template

ACTIVE = ["x.html", "x.htm", "x.xhtml", "x.xht", "x.xml", "x.xsl", "x.js", "x.mjs", "feed.rss"]
PASSIVE = ["x.png", "x.jpg", "x.webp", "x.pdf", "x.mp4", "x.css", "x.txt", "x.json", "x.woff2"]


@pytest.mark.parametrize("name", ACTIVE)
def test_active_types_are_attachments(name: str) -> None:
    assert media_disposition(f"media/{name}") == "attachment"
    assert media_disposition(f"articles/post/{name}", bundle=True) == "attachment"


@pytest.mark.parametrize("name", PASSIVE)
def test_passive_types_stay_inline(name: str) -> None:
    assert media_disposition(f"media/{name}") == ""
    assert media_disposition(f"articles/post/{name}", bundle=True) == ""


def test_svg_is_inline_under_media_and_an_attachment_in_a_bundle() -> None:
    # media/ answers with CSP sandbox (MediaHeadersPolicy); /articles/* cannot (pages live
    # there), so a bundle's SVG downloads when opened; <img src> ignores the header either way.
    assert media_disposition("media/chart.SVG") == ""
    assert media_disposition("articles/post/chart.svg", bundle=True) == "attachment"


def publish(content: InMemoryContentSource, ports: PublishPorts, key: str, data: bytes) -> str:
    version = content.put(key, data)
    seq = pad_sequencer(f"{len(content.reports) + 1:X}")
    return publish_event(SourceEvent(key, version, seq, "created"), ports, _now()).status


def _now():  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def test_uploaded_media_are_stored_with_their_disposition() -> None:
    content, site, store = InMemoryContentSource(), InMemorySiteWriter(), InMemoryArticleStore()
    ports = PublishPorts(content, site, store)
    script = b"<script>document.title='pwned'</script>"
    assert publish(content, ports, "media/x.html", script) == "published"
    assert publish(content, ports, "media/x.svg", b"<svg onload='alert(1)'/>") == "published"
    assert publish(content, ports, "media/x.png", png()) == "published"
    assert site.objects["media/x.html"].disposition == "attachment"
    assert site.objects["media/x.svg"].disposition == ""
    assert site.objects["media/x.png"].disposition == ""
    # A file stored before this rule (no disposition) is rewritten when uploaded again.
    site.objects["media/x.js"] = type(site.objects["media/x.png"])(b"x", "text/javascript", "")
    assert publish(content, ports, "media/x.js", b"x") == "published"
    assert site.objects["media/x.js"].disposition == "attachment"


def test_local_cdn_sandboxes_media_like_the_template() -> None:
    behaviours = behaviour_headers(template())
    media = headers_for(behaviours, "/media/2024/x.svg")
    page = headers_for(behaviours, "/articles/x/")
    api = headers_for(behaviours, "/api/views")
    assert media["Content-Security-Policy"].startswith("sandbox;")
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "sandbox" not in page["Content-Security-Policy"]
    assert api == page
    assert media["X-Content-Type-Options"] == "nosniff"


# Payloads tried on every URL-carrying attribute the sanitiser keeps (href, src, cite).
SCHEMES = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "&#106;avascript:alert(1)",
    "&#x6A;avascript&colon;alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:image/svg+xml,<svg onload=alert(1)>",
]


@pytest.mark.parametrize("url", SCHEMES)
@pytest.mark.parametrize(
    "template_",
    [
        '<q cite="{}">quoted</q>',
        '<blockquote cite="{}">quoted</blockquote>',
        '<a href="{}">link</a>',
        '<img src="{}" alt="pic">',
    ],
)
def test_no_url_attribute_keeps_a_script_scheme(template_: str, url: str) -> None:
    html = render_markdown("Text " + template_.format(url) + "\n").html.lower()
    for bad in ("javascript", "vbscript", "data:"):
        assert bad not in html.replace("&amp;", "&"), html


def test_cite_keeps_web_urls() -> None:
    html = render_markdown('<q cite="https://example.com/src">quoted</q>\n').html
    assert 'cite="https://example.com/src"' in html
    html = render_markdown('<blockquote cite="/articles/x/">quoted</blockquote>\n').html
    assert 'cite="/articles/x/"' in html


def test_bundle_files_of_active_types_are_attachments() -> None:
    content, site, store = InMemoryContentSource(), InMemorySiteWriter(), InMemoryArticleStore()
    ports = PublishPorts(content, site, store)
    svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"
    assert publish(content, ports, "articles/post/chart.svg", svg) == "pending"
    index = b"---\ntitle: Post\ndate: 2024-05-01\n---\n\n![chart](chart.svg)\n"
    assert publish(content, ports, "articles/post/index.md", index) == "published"
    assert publish(content, ports, "articles/post/page.html", b"<script>x</script>") == "published"
    assert publish(content, ports, "articles/post/photo.png", png()) == "published"
    assert site.objects["articles/post/chart.svg"].disposition == "attachment"
    assert site.objects["articles/post/page.html"].disposition == "attachment"
    assert site.objects["articles/post/photo.png"].disposition == ""
    assert site.objects["articles/post/index.html"].disposition == ""  # the page itself
