"""The publish handler under moto: real-shaped S3 events in, pages, records and reports out.

Every test uploads real objects to the versioned content bucket first, then delivers the sample
event from events/ with that upload's versionId, sequencer and size, the way S3 would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chainpress.aws import clients
from chainpress.content import MAX_SOURCE_BYTES
from chainpress.ports import CACHE_ARTICLE
from functions.publish import app
from tests.support.aws import create_stack
from tests.support.events import load_event
from tests.support.images import png
from tests.support.lambda_context import Context

KEY = "articles/2022/链圈 news.md"  # the sample event's key, once decoded
SLUG = "链圈-news"
PAGE = f"articles/{SLUG}/index.html"
CHART = "media/2022/链圈-chart.png"
PNG = png(24, 16)  # a real image: small, so it gets no variants (its size is recorded)

ARTICLE = """---
title: 链圈快讯：比特币现货 ETF 获批
date: 2022-05-03 14:30
author: 王小明
category: bitcoin
tags: [比特币, ETF, Layer 2]
---

比特币现货 ETF 今日获批，市场反应热烈。分析人士预计资金将持续流入。

## 链上数据

```python
print("链圈 news")
```

![比特币走势图](/media/2022/链圈-chart.png)
"""


def article(title: str, date: str, **extra: str) -> bytes:
    lines = [f"title: {title}", f"date: {date}", "category: bitcoin", "tags: [ETF]"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("---\n" + "\n".join(lines) + f"\n---\n\n{title} 的正文。\n").encode()


class Stack:
    """The content bucket as an editor uses it, and the handler as S3 would invoke it."""

    def __init__(self, names: dict[str, str]) -> None:
        self.content = names["ContentBucket"]
        self.site = names["SiteBucket"]
        self.table = names["ArticlesTable"]
        self.s3 = clients.s3()
        self.ddb = clients.dynamodb()
        self.sequence = 0x0062C4D4A1B2C3D4E5

    def event(self, name: str, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = load_event(name)
        record = event["Records"][0]
        record["s3"]["bucket"]["name"] = self.content
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{self.content}"
        record["s3"]["object"].update(obj, key=quote_plus(key, safe="/"))
        return event

    def next_sequencer(self) -> str:
        self.sequence += 1
        return f"{self.sequence:X}"

    def put(self, key: str, data: bytes) -> dict[str, Any]:
        """Upload ``data`` and return the event S3 sends for it (not delivered yet)."""
        answer = self.s3.put_object(Bucket=self.content, Key=key, Body=data)
        name = {"media": "s3_media_put.json", "site.yaml": "s3_settings_put.json"}.get(
            key.split("/")[0], "s3_article_put.json"
        )
        obj = {
            "versionId": answer["VersionId"],
            "sequencer": self.next_sequencer(),
            "size": len(data),
            "eTag": answer["ETag"].strip('"'),
        }
        return self.event(name, key, obj)

    def upload(self, key: str, data: bytes) -> dict[str, Any]:
        return self.deliver(self.put(key, data))

    def delete(self, key: str) -> dict[str, Any]:
        answer = self.s3.delete_object(Bucket=self.content, Key=key)
        obj = {"versionId": answer["VersionId"], "sequencer": self.next_sequencer()}
        return self.deliver(self.event("s3_article_delete.json", key, obj))

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = app.lambda_handler(event, Context())
        return result

    def page(self, key: str = PAGE) -> bytes | None:
        try:
            body: bytes = self.s3.get_object(Bucket=self.site, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return body

    def head(self, key: str = PAGE) -> dict[str, Any]:
        answer: dict[str, Any] = self.s3.head_object(Bucket=self.site, Key=key)
        return answer

    def item(self, slug: str = SLUG) -> dict[str, Any]:
        answer = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": f"article#{slug}"}, "sk": {"S": "article"}}
        )
        item: dict[str, Any] = answer.get("Item", {})
        return item

    def report(self, key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.content, Key=f"_status/{key}.json")["Body"]
        report: dict[str, Any] = json.loads(body.read())
        return report


@pytest.fixture(scope="module")
def stack_names() -> Iterator[dict[str, str]]:
    # One moto stack per module: parsing template.yaml and building clients costs ~1 s a test.
    # Each test then starts from an empty stack (see the ``stack`` fixture).
    with pytest.MonkeyPatch.context() as env, mock_aws():
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        clients.reset()
        names = create_stack()
        env.setenv("CONTENT_BUCKET", names["ContentBucket"])
        env.setenv("SITE_BUCKET", names["SiteBucket"])
        env.setenv("ARTICLES_TABLE", names["ArticlesTable"])
        env.setenv("POWERTOOLS_SERVICE_NAME", "publish")
        yield names
    clients.reset()


@pytest.fixture
def stack(stack_names: dict[str, str]) -> Stack:
    """Empty buckets and a new articles table, as template.yaml defines it. (Deleting items
    would not do: moto keeps the stream records, and copies them on every transaction.)"""
    stack = Stack(stack_names)
    listing = stack.s3.list_object_versions(Bucket=stack.content)
    versions = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
    if versions:
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
        stack.s3.delete_objects(Bucket=stack.content, Delete={"Objects": objects})
    pages = stack.s3.list_objects_v2(Bucket=stack.site).get("Contents", [])
    if pages:
        objects = [{"Key": p["Key"]} for p in pages]
        stack.s3.delete_objects(Bucket=stack.site, Delete={"Objects": objects})
    table = stack.ddb.describe_table(TableName=stack.table)["Table"]
    stack.ddb.delete_table(TableName=stack.table)
    stack.ddb.create_table(
        TableName=stack.table,
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification=table["StreamSpecification"],
    )
    return stack


# -- a small HTML reader, so assertions name elements rather than substrings ------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


@dataclasses.dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parts: list[str] = dataclasses.field(default_factory=list)
    children: list[Element] = dataclasses.field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())

    def all(self, tag: str, **attrs: str) -> list[Element]:
        found = []
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            if node.tag == tag and all(_matches(node, k, v) for k, v in attrs.items()):
                found.append(node)
            stack.extend(reversed(node.children))
        return found

    def one(self, tag: str, **attrs: str) -> Element:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]


def _matches(node: Element, name: str, want: str) -> bool:
    name = name.rstrip("_").replace("_", "-")
    value = node.attrs.get(name)
    if name == "class":
        return value is not None and want in value.split()
    return value == want


class Page(HTMLParser):
    def __init__(self, html: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.open = [self.root]
        self.feed(html.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Element(tag, {k: v or "" for k, v in attrs})
        self.open[-1].children.append(node)
        if tag not in VOID:
            self.open.append(node)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, 0, -1):
            if self.open[index].tag == tag:
                del self.open[index:]
                return

    def handle_data(self, data: str) -> None:
        for node in self.open:
            node.parts.append(data)


# -- a Markdown upload becomes a live article page ------------------------------------------


def test_markdown_upload_becomes_a_complete_article_page(
    stack: Stack, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert stack.upload(CHART, PNG)["outcomes"][0]["status"] == "published"
    stack.upload("articles/earlier.md", article("更早的文章", "2022-05-02 09:00"))
    stack.upload("articles/later.md", article("之后的文章", "2022-05-04 09:00"))

    data = ARTICLE.encode()
    event = load_event("s3_article_put.json")  # the sample event, key URL-encoded as S3 sends it
    assert event["Records"][0]["s3"]["object"]["key"] == "articles/2022/%E9%93%BE%E5%9C%88+news.md"
    uploaded = stack.put(KEY, data)["Records"][0]["s3"]["object"]
    event["Records"][0]["s3"]["bucket"]["name"] = stack.content
    event["Records"][0]["s3"]["object"].update(
        versionId=uploaded["versionId"], sequencer=uploaded["sequencer"], size=len(data)
    )
    result = stack.deliver(event)
    assert result["outcomes"] == [
        {"key": KEY, "status": "published", "slug": SLUG, "url": f"/articles/{SLUG}/",
         "error": "", "line": None}
    ]  # fmt: skip

    head = stack.head()
    assert head["ContentType"] == "text/html; charset=utf-8"
    assert head["CacheControl"] == CACHE_ARTICLE
    raw = stack.page()
    assert raw is not None
    page = Page(raw).root
    canonical = f"http://127.0.0.1:8080/articles/{quote(SLUG)}/"

    # Site chrome: name, tagline, category navigation, footer sitemap links.
    assert page.one("a", class_="site-name").text == "Blockchain Circle"
    assert page.one("p", class_="tagline").text == "One stop hot information platform"
    nav = page.one("nav", class_="site-nav")
    assert {"Bitcoin", "Ethereum", "Wallet", "Exchange"} <= {a.text for a in nav.all("a")}
    footer = page.one("footer", class_="site-footer")
    links = {a.text: a.attrs["href"] for a in footer.all("a")}
    assert links["Sitemap1"] == "/sitemap/"
    assert links["Sitemap2"] == "/archive/"

    # The article: breadcrumb, title, time, author, view counter, body, tags.
    crumbs = [li.text for li in page.one("nav", class_="breadcrumb").all("li")]
    assert crumbs == ["Home", "Bitcoin", "链圈快讯：比特币现货 ETF 获批"]
    assert page.one("h1").text == "链圈快讯：比特币现货 ETF 获批"
    time = page.one("span", class_="meta-time").one("time")
    assert time.attrs["datetime"] == "2022-05-03T14:30:00Z"
    assert page.one("span", class_="author").text == "王小明"
    counter = page.one("span", class_="views")
    assert counter.attrs["data-slug"] == SLUG
    assert "data-count-view" in counter.attrs
    body = page.one("div", class_="article-body")
    assert "比特币现货 ETF 今日获批" in body.text
    assert body.one("code", class_="language-python").text == 'print("链圈 news")'
    image = body.one("img")
    assert image.attrs["src"] == "/media/2022/%E9%93%BE%E5%9C%88-chart.png"
    assert image.attrs["alt"] == "比特币走势图"
    assert [a.text for a in page.one("ul", class_="tags").all("a")] == ["比特币", "ETF", "Layer 2"]

    # Previous/next in the category, related articles.
    assert page.one("p", class_="prev").one("a").text == "更早的文章"
    assert page.one("p", class_="next").one("a").text == "之后的文章"
    related = {a.text for a in page.one("section", class_="related").all("a")}
    assert related == {"更早的文章", "之后的文章"}

    # What search engines and link previews read.
    assert page.one("link", rel="canonical").attrs["href"] == canonical
    description = page.one("meta", name="description").attrs["content"]
    assert description.startswith("比特币现货 ETF 今日获批")
    assert page.one("meta", property="og:title").attrs["content"] == "链圈快讯：比特币现货 ETF 获批"
    assert page.one("meta", property="og:url").attrs["content"] == canonical
    assert page.one("meta", property="og:type").attrs["content"] == "article"
    ld = json.loads(page.one("script", type="application/ld+json").text)
    assert ld["@type"] == "NewsArticle"
    assert ld["headline"] == "链圈快讯：比特币现货 ETF 获批"
    assert ld["author"]["name"] == "王小明"

    # The record in the table.
    item = stack.item()
    assert item["title"]["S"] == "链圈快讯：比特币现货 ETF 获批"
    assert item["summary"]["S"] == description
    assert item["date"]["S"] == "2022-05-03T14:30:00Z"
    assert item["author"]["S"] == "王小明"
    assert item["category"]["S"] == "bitcoin"
    assert [t["S"] for t in item["tags"]["L"]] == ["比特币", "ETF", "Layer 2"]
    assert item["url"]["S"] == f"/articles/{SLUG}/"
    assert item["source_key"]["S"] == KEY
    assert item["content_hash"]["S"] == hashlib.sha256(data).hexdigest()
    assert item["status"]["S"] == "live"

    # The editor's status report, and one structured log line plus metrics per outcome.
    report = stack.report(KEY)
    assert report["status"] == "published"
    assert report["url"] == f"/articles/{SLUG}/"
    assert report["version_id"] == uploaded["versionId"]
    logged = [r for r in caplog.records if getattr(r, "key", None) == KEY]
    assert len(logged) == 1
    assert logged[0].status == "published"  # type: ignore[attr-defined]
    assert logged[0].slug == SLUG  # type: ignore[attr-defined]
    assert logged[0].sequencer.endswith(uploaded["sequencer"])  # type: ignore[attr-defined]
    assert logged[0].version_id == uploaded["versionId"]  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    emf = [ln for ln in lines if "_aws" in ln]
    assert emf[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "chainpress"
    assert emf[-1]["ArticlesPublished"] in (1.0, [1.0])
    assert emf[-1]["PublishErrors"] in (0.0, [0.0])
    assert emf[-1]["PublishWarnings"] in (0.0, [0.0])


def test_media_is_copied_with_its_content_type(stack: Stack) -> None:
    stack.upload(CHART, PNG)
    head = stack.head(CHART)
    assert head["ContentType"] == "image/png"
    assert "max-age" in head["CacheControl"]
    assert stack.page(CHART) == PNG


# -- at-least-once, out-of-order delivery ---------------------------------------------------


def test_redelivered_and_older_events_change_nothing(stack: Stack) -> None:
    first = stack.put(KEY, ARTICLE.encode())
    stack.deliver(first)
    second = stack.put(KEY, ARTICLE.replace("市场反应热烈", "市场反应平静").encode())
    stack.deliver(second)
    page, item, head = stack.page(), stack.item(), stack.head()
    assert page is not None
    assert "市场反应平静".encode() in page

    for late in (second, first, second):  # re-delivered, older, re-delivered again
        stack.deliver(late)
        assert stack.page() == page
        assert stack.item() == item
        assert stack.head()["LastModified"] == head["LastModified"]
    report = stack.report(KEY)
    assert report["version_id"] == second["Records"][0]["s3"]["object"]["versionId"]


def test_deleting_an_old_version_keeps_the_article(stack: Stack) -> None:
    old = stack.put(KEY, ARTICLE.encode())
    stack.deliver(old)
    stack.upload(KEY, ARTICLE.replace("市场反应热烈", "市场反应平静").encode())
    page = stack.page()
    version = old["Records"][0]["s3"]["object"]["versionId"]
    stack.s3.delete_object(Bucket=stack.content, Key=KEY, VersionId=version)
    event = stack.event(
        "s3_article_delete.json", KEY, {"versionId": version, "sequencer": stack.next_sequencer()}
    )
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    stack.deliver(event)
    assert stack.page() == page
    assert stack.item()["status"]["S"] == "live"


# -- nothing lost on bad input -------------------------------------------------------------

BAD_INPUTS = {
    "invalid-yaml": (b"---\ntitle: ok\ntags: [a, b\nauthor: x\n---\nbody\n", "YAML", True),
    "no-title": (b"---\nauthor: x\n---\nbody\n", "title", True),
    "bad-date": (b"---\ntitle: x\ndate: next tuesday\n---\nbody\n", "date", True),
    "not-utf8": ("---\ntitle: café\n---\nbody\n".encode("latin-1"), "UTF-8", True),
    "too-large": (b"---\ntitle: x\n---\n" + b"a" * MAX_SOURCE_BYTES, "too large", False),
    "slug-slash": (b"---\ntitle: x\nslug: a/b\n---\nbody\n", "slug", True),
    "slug-dots": (b"---\ntitle: x\nslug: ..\n---\nbody\n", "slug", True),
    "empty": (b"", "empty", False),
    "binary": (PNG, "binary", True),
}


def test_each_bad_upload_reports_an_error_and_keeps_the_live_page(stack: Stack) -> None:
    stack.upload(KEY, ARTICLE.encode())
    page, item = stack.page(), stack.item()
    for case, (data, words, has_line) in BAD_INPUTS.items():
        result = stack.upload(KEY, data)
        assert result["outcomes"][0]["status"] == "error", case
        report = stack.report(KEY)
        assert report["status"] == "error", case
        assert words.lower() in report["error"]["message"].lower(), (case, report)
        assert isinstance(report["error"]["line"], int) is has_line, (case, report)
        assert stack.page() == page, case
        assert stack.item() == item, case


def test_yaml_error_names_its_line(stack: Stack) -> None:
    stack.upload(KEY, b"---\ntitle: ok\ntags: [a, b\nauthor: x\n---\nbody\n")
    assert stack.report(KEY)["error"]["line"] in (3, 4)


def test_second_file_with_the_same_slug_is_refused(stack: Stack) -> None:
    stack.upload(KEY, ARTICLE.encode())
    page, item = stack.page(), stack.item()
    stack.upload("articles/copy.md", ARTICLE.replace("title:", f"slug: {SLUG}\ntitle:").encode())
    report = stack.report("articles/copy.md")
    assert report["status"] == "error"
    assert report["error"]["message"].startswith(f"slug {SLUG} is already used by {KEY}: ")
    assert stack.page() == page
    assert stack.item() == item


# -- drafts, removal, settings --------------------------------------------------------------


def test_draft_takes_the_live_page_down(stack: Stack) -> None:
    stack.upload(KEY, ARTICLE.encode())
    stack.upload(KEY, ARTICLE.replace("author:", "draft: true\nauthor:").encode())
    assert stack.page() is None
    assert stack.item()["status"]["S"] == "draft"
    assert stack.report(KEY)["status"] == "draft"


def test_removal_deletes_the_page_and_marks_the_record_removed(stack: Stack) -> None:
    stack.upload(KEY, ARTICLE.encode())
    result = stack.delete(KEY)
    assert result["outcomes"][0]["status"] == "removed"
    assert stack.page() is None
    assert stack.page(f"_internal/bodies/{SLUG}.html") is None
    assert stack.item()["status"]["S"] == "removed"
    assert stack.report(KEY)["status"] == "removed"


def test_settings_upload_changes_the_site_name_on_the_next_publish(stack: Stack) -> None:
    stack.upload("articles/earlier.md", article("更早的文章", "2022-05-02 09:00"))
    result = stack.upload("site.yaml", "name: 链圈网\ntagline: 一站式热点资讯\n".encode())
    assert result["outcomes"][0]["status"] == "published"
    stack.upload(KEY, ARTICLE.encode())
    page = Page(stack.page() or b"").root
    assert page.one("a", class_="site-name").text == "链圈网"
    assert page.one("p", class_="tagline").text == "一站式热点资讯"

    bad = stack.upload("site.yaml", b"name: Broken\ntagline: [oops\n")
    assert bad["outcomes"][0]["status"] == "error"
    assert isinstance(stack.report("site.yaml")["error"]["line"], int)
    stack.upload(KEY, ARTICLE.replace("热烈", "平静").encode())
    assert Page(stack.page() or b"").root.one("a", class_="site-name").text == "链圈网"


# -- event shapes that are not a plain upload -----------------------------------------------


def test_events_without_a_sequencer_are_ordered_by_event_time(stack: Stack) -> None:
    # Hand-made events (moto's own notifications, scripts) carry no sequencer.
    first = stack.put(KEY, ARTICLE.encode())
    second = stack.put(KEY, ARTICLE.replace("热烈", "平静").encode())
    for event, when in ((first, "2022-05-03T06:30:12.345Z"), (second, "2022-05-03T06:31:00Z")):
        del event["Records"][0]["s3"]["object"]["sequencer"]
        event["Records"][0]["eventTime"] = when
    stack.deliver(second)
    assert stack.deliver(first)["outcomes"][0]["status"] == "stale"
    assert "市场反应平静".encode() in (stack.page() or b"")


def test_event_without_records_does_nothing(stack: Stack) -> None:
    # S3 sends an s3:TestEvent (no Records) when a notification is configured.
    event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": stack.content}
    assert stack.deliver(event) == {"records": 0, "outcomes": []}


def test_aws_error_fails_the_invocation_after_the_other_records(stack: Stack) -> None:
    # Lambda retries the whole event: the records that went through are re-applied as no-ops.
    event = stack.put(KEY, ARTICLE.encode())
    broken = stack.put("articles/other.md", article("其他", "2022-05-01 09:00"))["Records"][0]
    broken["s3"]["object"]["versionId"] = "no-such-version"
    event["Records"].insert(0, broken)
    with pytest.raises(ClientError):
        stack.deliver(event)
    assert stack.page() is not None
    assert stack.item(SLUG)["status"]["S"] == "live"


# -- real repositories' Markdown: bundles, warnings, every error at once ----------------------

BUNDLE = "articles/tutorials/send-token/"
TUTORIAL = b"""---
title: Sending tokens
description: A beginner friendly guide.
lang: en
published: 2021-04-06
sidebarDepth: 2
image: ./cover.png
---

![Done](./successful-transaction.png)
"""


def test_page_bundle_files_follow_their_article(stack: Stack) -> None:
    # A file before its index.md waits; the index.md publishes it (the content bucket is
    # listed); later files are published by their own events; deletes take them down.
    early = stack.upload(BUNDLE + "successful-transaction.png", PNG)
    assert early["outcomes"][0]["status"] == "pending"
    assert stack.report(BUNDLE + "successful-transaction.png")["warnings"]

    published = stack.upload(BUNDLE + "index.md", TUTORIAL)
    assert published["outcomes"][0]["url"] == "/articles/send-token/"
    image = "articles/send-token/successful-transaction.png"
    assert stack.page(image) == PNG
    assert stack.head(image)["ContentType"] == "image/png"
    assert stack.report(BUNDLE + "successful-transaction.png")["url"] == "/" + image

    stack.upload(BUNDLE + "cover.png", PNG + b"cover")
    assert stack.page("articles/send-token/cover.png") == PNG + b"cover"
    page = Page(stack.page("articles/send-token/index.html") or b"").root
    assert page.one("img", src="./successful-transaction.png")
    og_image = page.one("meta", property="og:image").attrs["content"]
    assert og_image.endswith("/articles/send-token/cover.png")

    assert stack.delete(BUNDLE + "cover.png")["outcomes"][0]["status"] == "removed"
    assert stack.page("articles/send-token/cover.png") is None
    stack.delete(BUNDLE + "index.md")
    assert stack.page(image) is None
    assert stack.page("articles/send-token/index.html") is None
    assert stack.report(BUNDLE + "successful-transaction.png")["status"] == "pending"


def test_report_lists_every_error_and_every_warning_with_lines(stack: Stack) -> None:
    stack.upload(KEY, b"---\ntitle: [x]\nskill: beginner\ndate: someday\n---\nbody\n")
    report = stack.report(KEY)
    assert report["status"] == "error"
    assert [e["line"] for e in report["errors"]] == [2, 4]
    assert report["error"] == report["errors"][0]
    assert [(w["line"], w["message"].split(":")[0]) for w in report["warnings"]] == [
        (3, "unknown front matter field 'skill'")
    ]

    stack.upload(CHART, PNG)  # the image the article shows (else: a broken-image warning)
    stack.upload(KEY, ARTICLE.replace("author:", "skill: beginner\nauthor:").encode())
    report = stack.report(KEY)
    assert (report["status"], report["errors"]) == ("published", [])
    assert [w["line"] for w in report["warnings"]] == [4]
    # The warnings stay with the source (the trending job repeats them when it publishes).
    from chainpress.aws.articles import DynamoArticleStore

    state = DynamoArticleStore(stack.table, stack.ddb).get_source(KEY)
    assert state is not None
    assert [(w.line, w.message.split(":")[0]) for w in state.warnings] == [
        (4, "unknown front matter field 'skill'")
    ]
