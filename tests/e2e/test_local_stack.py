"""The local stack over HTTP: the sample site as a reader sees it, views, and publishing through
the content bucket (boto3 at the moto endpoint, and the watched folder)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from chainpress.content import parse_source
from chainpress.model import Article
from chainpress.settings import SiteSettings
from tests.e2e.conftest import INDEXNOW_KEY, SAMPLE, RunningStack
from tests.support import images

pytestmark = pytest.mark.e2e

CARD_LINK = re.compile(r'class="card-title"><a href="([^"]+)"')
PAGER_LINK = re.compile(r'href="(/page/\d+/)"')
DEADLINE = 5.0  # seconds from an upload to the home page (the promise)
# The home page is one of the first pages a rebuild writes; the rest of that rebuild (tag pages,
# sitemaps, neighbours) goes on for a moment. An editor does not delete within that moment, and
# the delete's deadline should measure the delete, not the tail of the previous rebuild.
SETTLE = 2.0
HTML = "text/html; charset=utf-8"


@cache
def sample_articles() -> dict[str, tuple[Article, str]]:
    """slug -> (article, plain-text lead) for every sample article, as publish will see it."""
    settings = SiteSettings.from_yaml((SAMPLE / "site.yaml").read_text(encoding="utf-8"))
    now = dt.datetime.now(dt.UTC)
    found: dict[str, tuple[Article, str]] = {}
    for path in sorted((SAMPLE / "articles").rglob("*.md")):
        key = path.relative_to(SAMPLE).as_posix()
        parsed = parse_source(key, path.read_bytes(), settings=settings, now=now)
        found[parsed.article.slug] = (parsed.article, parsed.body.lead)
    return found


def live_slugs() -> set[str]:
    return {slug for slug, (a, _) in sample_articles().items() if a.status == "live"}


def page_text(markup: str) -> str:
    """What a reader reads: tags removed, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def slug_of(link: str) -> str:
    found = re.fullmatch(r"/articles/([^/]+)/", link)
    assert found, link
    return unquote(found.group(1))


def crawl_listing(stack: RunningStack) -> tuple[list[str], set[str]]:
    """Article links of the home page, and of every page reachable through its pager."""
    home = stack.get("/")
    assert home.status == 200
    home_links = CARD_LINK.findall(home.text)
    seen, todo, links = {"/"}, PAGER_LINK.findall(home.text), set(home_links)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        page = stack.get(path)
        assert page.status == 200, path
        links.update(CARD_LINK.findall(page.text))
        todo.extend(PAGER_LINK.findall(page.text))
    return home_links, links


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - began


def report(stack: RunningStack, key: str) -> dict[str, Any] | None:
    s3 = stack.s3()
    try:
        obj = s3.get_object(Bucket=stack.content_bucket, Key=f"_status/{key}.json")
    except s3.exceptions.NoSuchKey:
        return None
    data: dict[str, Any] = json.loads(obj["Body"].read())
    return data


def article_source(title: str, body: str) -> bytes:
    date = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    return (
        f"---\ntitle: {title}\ndate: {date}\nauthor: e2e\ncategory: bitcoin\n"
        f"tags: [e2e]\n---\n\n{body}\n"
    ).encode()


# ------------------------------------------------------------------------------ reading


def test_every_link_of_the_header_and_footer_answers_once_the_stack_is_ready(
    local_stack: RunningStack,
) -> None:
    # First in this file: right after "ready". /hot/ is written by the trending run, which the
    # stack awaits once before announcing the site.
    home = local_stack.get("/")
    paths = sorted(
        set(re.findall(r'href="(/(?:hot|search|sitemap|archive|category/[^"/]+)/)"', home.text))
    )
    assert "/hot/" in paths
    assert "/search/" in paths
    assert "/archive/" in paths
    for path in paths:
        assert local_stack.get(path).status == 200, path


def test_the_indexnow_stand_in_hears_of_every_live_article(local_stack: RunningStack) -> None:
    """IndexNow on (a key and a local endpoint): the rebuilds announced every live article in
    batched POSTs, and the key file is served at the site root."""
    live = live_slugs()
    heard: set[str] = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        heard = {
            unquote(url.rstrip("/").rsplit("/", 1)[-1])
            for request in list(local_stack.indexnow)
            for url in request["urlList"]
        }
        if live <= heard:
            break
        time.sleep(0.5)
    assert live <= heard
    assert {request["key"] for request in local_stack.indexnow} == {INDEXNOW_KEY}
    assert len(local_stack.indexnow) < len(live)  # batched, not one request per article
    key_file = local_stack.get(f"/{INDEXNOW_KEY}.txt")
    assert (key_file.status, key_file.text) == (200, INDEXNOW_KEY)


def test_home_page_lists_every_live_sample_article(local_stack: RunningStack) -> None:
    settings = SiteSettings.from_yaml((SAMPLE / "site.yaml").read_text(encoding="utf-8"))
    home_links, links = crawl_listing(local_stack)
    live = live_slugs()
    newest = sorted(live, key=lambda s: sample_articles()[s][0].date, reverse=True)
    assert len(live) >= 18
    # The front page shows the newest page_size; the pager reaches all the others.
    assert [slug_of(link) for link in home_links] == newest[: settings.page_size]
    assert {slug_of(link) for link in links} == live  # not the draft, not the 2030 one


def test_every_article_page_has_its_title_and_body(local_stack: RunningStack) -> None:
    _, links = crawl_listing(local_stack)
    for link in sorted(links):
        page = local_stack.get(link)
        assert page.status == 200, link
        assert page.headers["Content-Type"] == HTML
        article, lead = sample_articles()[slug_of(link)]
        text = page_text(page.text)
        assert article.title in text, link
        assert " ".join(lead.split())[:60] in text, link
    hidden = {s for s, (a, _) in sample_articles().items() if a.status != "live"}
    assert len(hidden) == 2
    for slug in hidden:
        assert local_stack.get(f"/articles/{quote(slug)}/").status == 404, slug


def test_pages_are_served_like_cloudfront(local_stack: RunningStack) -> None:
    page = local_stack.get("/articles/bitcoin-fourth-halving/")
    assert page.status == 200
    assert page.headers["Cache-Control"] == "public, max-age=300, s-maxage=86400"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    # /x without an extension is /x/index.html, like the viewer-request function.
    assert local_stack.get("/articles/bitcoin-fourth-halving").body == page.body
    head = local_stack.request("HEAD", "/articles/bitcoin-fourth-halving/")
    assert head.status == 200
    assert head.body == b""
    assert int(head.headers["Content-Length"]) == len(page.body)
    image = local_stack.get("/media/2024/halving-chart.png")
    assert image.status == 200
    assert image.headers["Content-Type"] == "image/png"
    assert image.body == (SAMPLE / "media/2024/halving-chart.png").read_bytes()


def test_internal_objects_are_refused(local_stack: RunningStack) -> None:
    key = "_internal/bodies/bitcoin-fourth-halving.html"
    # It exists in the bucket: the 404 is CloudFront being denied, not a missing object.
    local_stack.s3().head_object(Bucket=local_stack.site_bucket, Key=key)
    assert local_stack.get("/" + key).status == 404


def test_unknown_paths_get_the_404_page(local_stack: RunningStack) -> None:
    page = local_stack.get("/no/such/page/")
    assert page.status == 404
    assert page.body == local_stack.get("/404.html").body
    assert "Blockchain Circle" in page.text
    assert local_stack.get("/api/no-such-route").status == 404


# ------------------------------------------------------------------------------ views


@pytest.mark.parametrize("slug", ["bitcoin-fourth-halving", "链圈-news"])
def test_posting_a_view_increments_the_count(local_stack: RunningStack, slug: str) -> None:
    path = f"/api/views/{quote(slug)}"
    first = local_stack.request("POST", path)
    assert first.status == 200, first.text
    second = local_stack.request("POST", path)
    n = json.loads(first.body)["views"]
    assert json.loads(second.body)["views"] == n + 1
    totals = json.loads(local_stack.get(f"/api/views?slugs={quote(slug)}").body)["views"]
    assert totals[slug] == n + 1


# ------------------------------------------------------------------------------ publishing


def test_an_upload_is_live_within_seconds_and_a_delete_removes_it(
    local_stack: RunningStack,
) -> None:
    s3 = local_stack.s3()
    tag = uuid.uuid4().hex[:8]
    title = f"E2E upload {tag}"
    key = f"articles/e2e/e2e upload {tag}.md"  # a space: the event key is URL-encoded
    put = s3.put_object(
        Bucket=local_stack.content_bucket, Key=key, Body=article_source(title, "Hello from e2e.")
    )
    wait_for(lambda: title in local_stack.get("/").text, DEADLINE, "upload on the home page")
    published = report(local_stack, key)
    assert published is not None
    assert published["status"] == "published"
    # The event carried the version that was uploaded, not just the key.
    assert published["version_id"] == put["VersionId"]
    assert local_stack.get(published["url"]).status == 200
    time.sleep(SETTLE)

    s3.delete_object(Bucket=local_stack.content_bucket, Key=key)
    wait_for(lambda: title not in local_stack.get("/").text, DEADLINE, "delete off the home page")
    wait_for(lambda: local_stack.get(published["url"]).status == 404, DEADLINE, "page deleted")


def stable_page(stack: RunningStack, path: str) -> bytes:
    """The page once no rebuild is changing it (the same bytes twice, a second apart)."""
    previous = stack.get(path).body
    for _ in range(20):
        time.sleep(1.0)
        current = stack.get(path).body
        if current == previous:
            return current
        previous = current
    pytest.fail(f"{path} keeps changing")


def test_a_broken_upload_leaves_the_live_page_as_it_was(local_stack: RunningStack) -> None:
    s3 = local_stack.s3()
    # A category the other tests do not publish in: its pages only change because of this test.
    key = "articles/2023/metaverse-land-prices-cool.md"
    url = "/articles/metaverse-land-prices-cool/"
    before = stable_page(local_stack, url)
    put = s3.put_object(
        Bucket=local_stack.content_bucket, Key=key, Body=b"---\ntitle: [unclosed\n---\nbroken\n"
    )

    def rejected() -> bool:
        status = report(local_stack, key)
        return status is not None and status["version_id"] == put["VersionId"]

    wait_for(rejected, DEADLINE, "error report")
    status = report(local_stack, key)
    assert status is not None
    assert status["status"] == "error"
    assert isinstance(status["error"]["line"], int)  # where the editor should look
    time.sleep(1.0)  # give a wrong rebuild the time to happen
    assert local_stack.get(url).body == before
    assert url in crawl_listing(local_stack)[1]

    # Put the original back (the stack is shared with other tests).
    original = (SAMPLE / key).read_bytes()
    put = s3.put_object(Bucket=local_stack.content_bucket, Key=key, Body=original)

    def restored() -> bool:
        status = report(local_stack, key)
        return status is not None and status["version_id"] == put["VersionId"]

    wait_for(restored, DEADLINE, "restored report")
    status = report(local_stack, key)
    assert status is not None
    assert status["status"] == "published"
    # (Republished: its "updated" time is new, so the bytes may differ from ``before``.)
    assert local_stack.get(url).status == 200


def test_saving_in_the_watched_folder_publishes(local_stack: RunningStack) -> None:
    s3 = local_stack.s3()
    tag = uuid.uuid4().hex[:8]
    title = f"Watched file {tag}"
    relative = f"articles/e2e/watched-{tag}.md"
    path: Path = local_stack.content_dir / relative

    def in_bucket() -> bool:
        found = s3.list_objects_v2(Bucket=local_stack.content_bucket, Prefix=relative)
        return found.get("KeyCount", 0) == 1

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(article_source(title, "Saved in the editor."))
    wait_for(in_bucket, 2.5, "saved file in the bucket")  # debounce, then one upload
    wait_for(lambda: title in local_stack.get("/").text, DEADLINE, "saved file on home")
    time.sleep(SETTLE)
    path.unlink()
    wait_for(lambda: not in_bucket(), 2.5, "deleted file gone from the bucket")
    wait_for(lambda: title not in local_stack.get("/").text, DEADLINE, "deleted file off home")


def test_a_page_bundle_saved_in_the_watched_folder_is_served_with_its_image(
    local_stack: RunningStack,
) -> None:
    # An ethereum.org-style tutorial folder: the watcher uploads the image and the index.md
    # (in whatever order), the article is Chinese and its image resolves beside it.
    tag = uuid.uuid4().hex[:8]
    folder: Path = local_stack.content_dir / "articles" / "e2e" / f"bundle-{tag}"
    png = images.png(1000, 500) + tag.encode()  # a real image (unique bytes after its end)
    folder.mkdir(parents=True)
    (folder / "diagram.png").write_bytes(png)
    (folder / "index.md").write_text(
        f"---\ntitle: 捆绑 {tag}\nlang: zh\npublished: 2001-01-01\nskill: beginner\n---\n\n"
        "![图](./diagram.png)\n",
        encoding="utf-8",
    )
    url = f"/articles/bundle-{tag}-zh/"
    wait_for(lambda: local_stack.get(url + "diagram.png").status == 200, 3 * DEADLINE, "image")
    image = local_stack.get(url + "diagram.png")
    assert (image.headers["Content-Type"], image.body) == ("image/png", png)
    page = local_stack.get(url).text
    assert '<html lang="zh">' in page
    assert '<img src="./diagram.png"' in page
    # Its WebP variants are served beside it, and the page (rendered again when the image was
    # processed, whichever arrived first) gives its size and srcset.
    variant = local_stack.get(url + "diagram.png.480w.webp")
    assert (variant.status, variant.headers["Content-Type"]) == (200, "image/webp")
    srcset = f"{quote(url)}diagram.png.480w.webp 480w, {quote(url)}diagram.png.960w.webp 960w"
    wait_for(lambda: srcset in local_stack.get(url).text, 3 * DEADLINE, "srcset")
    assert 'width="1000" height="500" srcset=' in local_stack.get(url).text
    assert '<time datetime="2001-01-01">2001-01-01</time>' in page
    status = report(local_stack, f"articles/e2e/bundle-{tag}/index.md")
    assert status is not None
    assert [w["line"] for w in status["warnings"]] == [5]
    time.sleep(SETTLE)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    wait_for(lambda: local_stack.get(url).status == 404, 3 * DEADLINE, "page gone")
    wait_for(lambda: local_stack.get(url + "diagram.png").status == 404, 3 * DEADLINE, "image")
    variant_path = url + "diagram.png.480w.webp"
    wait_for(lambda: local_stack.get(variant_path).status == 404, 3 * DEADLINE, "variant")
