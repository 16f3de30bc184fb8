"""Signed draft previews and the link check, through the real publish, rebuild and trending
handlers on moto (template.yaml's buckets, table and preview key), with events from events/;
the preview is opened through the CloudFront stand-in of the local stack (its ``/preview/*``
behaviour read from the template), and the template's viewer-request function is run in Node."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import pytest
from moto import mock_aws

from chainpress.aws import clients
from chainpress.preview import preview_key
from chainpress.site import load_site
from chainpress.trending import publish_due
from chainpress_dev.local.cdn import Edge, custom_headers, preview_expired, security_headers
from chainpress_dev.local.template import load_template
from functions.publish import app as publish_app
from functions.rebuild import app as rebuild_app
from functions.trending import app as trending_app
from tests.support.aws import create_stack, set_function_environment
from tests.support.events import load_event
from tests.support.lambda_context import Context
from tests.support.paths import ROOT

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

TEMPLATE = load_template(ROOT / "template.yaml")


def source(title: str, date: str = "2024-03-01 08:00", body: str = "Body.", **extra: str) -> bytes:
    lines = [f"title: {title}", f"date: {date}", "category: bitcoin", "tags: [ETF]"]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    return ("---\n" + "\n".join(lines) + f"\n---\n\n{body}\n").encode()


class Stack:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.content = names["ContentBucket"]
        self.bucket = names["SiteBucket"]
        self.s3 = clients.s3()
        self.sequence = 0x0062C4D4A1B2C3D4E5
        ddb = clients.dynamodb()
        self.stream_arn = ddb.describe_table(TableName=names["ArticlesTable"])["Table"][
            "LatestStreamArn"
        ]
        self.streams = clients.dynamodbstreams()
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        self.iterators = {
            shard["ShardId"]: self.streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]
            for shard in shards["Shards"]
        }
        self.edge = Edge(
            self.s3,
            self.bucket,
            [],
            security_headers(TEMPLATE),
            lambda message: None,
            preview_headers=custom_headers(TEMPLATE, "/preview/*"),
        )

    def _event(self, name: str, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        event = load_event(name)
        record = event["Records"][0]
        record["s3"]["bucket"].update(name=self.content, arn=f"arn:aws:s3:::{self.content}")
        record["s3"]["object"].update(obj, key=quote_plus(key, safe="/"))
        return event

    def _sequencer(self) -> str:
        self.sequence += 1
        return f"{self.sequence:X}"

    def upload(self, key: str, data: bytes) -> dict[str, Any]:
        answer = self.s3.put_object(Bucket=self.content, Key=key, Body=data)
        obj = {"versionId": answer["VersionId"], "sequencer": self._sequencer(), "size": len(data)}
        publish_app.lambda_handler(self._event("s3_article_put.json", key, obj), Context())
        return self.report(key)

    def remove(self, key: str) -> dict[str, Any]:
        answer = self.s3.delete_object(Bucket=self.content, Key=key)
        obj = {"versionId": answer["VersionId"], "sequencer": self._sequencer()}
        publish_app.lambda_handler(self._event("s3_article_delete.json", key, obj), Context())
        return self.report(key)

    def report(self, key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.content, Key=f"_status/{key}.json")["Body"]
        report: dict[str, Any] = json.loads(body.read())
        return report

    def rebuild(self) -> None:
        records = []
        for shard, iterator in list(self.iterators.items()):
            answer = self.streams.get_records(ShardIterator=iterator)
            self.iterators[shard] = answer["NextShardIterator"]
            for raw in answer["Records"]:
                stream = dict(raw["dynamodb"])
                created = stream.get("ApproximateCreationDateTime")
                if isinstance(created, dt.datetime):
                    stream["ApproximateCreationDateTime"] = int(created.timestamp())
                if stream["Keys"]["pk"]["S"].startswith("article#"):
                    records.append(dict(raw, dynamodb=stream, eventSourceARN=self.stream_arn))
        result = rebuild_app.lambda_handler({"Records": records}, Context())
        assert result == {"batchItemFailures": []}

    def public(self) -> dict[str, bytes]:
        """Every object a reader or crawler can reach (not previews, not _internal/)."""
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                if not item["Key"].startswith(("_internal/", "preview/")):
                    body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"]
                    found[item["Key"]] = body.read()
        return found

    def previews(self, *urls: str) -> list[str]:
        """Which of these previews' pages are in the site bucket."""
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="preview/")
        keys = {item["Key"] for item in listing.get("Contents", [])}
        return [url for url in urls if preview_key(url) in keys]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # One stack for the module (each test uses keys of its own): building it costs ~5 s.
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        clients.reset()
        names = create_stack()
        set_function_environment(
            monkeypatch, names, PREVIEW_KEY_SECRET=names["PreviewKey"], PREVIEW_DAYS="7"
        )
        trending_app.ports.cache_clear()
        yield Stack(names)
        trending_app.ports.cache_clear()
    clients.reset()


def test_draft_preview_opens_noindex_unlisted_and_goes_when_published(stack: Stack) -> None:
    stack.upload("articles/live.md", source("Live one"))
    key = "articles/halving.md"
    report = stack.upload(key, source("Halving scoop", body="Embargoed **numbers**.", draft="true"))
    assert report["status"] == "draft"
    url = report["preview_url"]
    expires = dt.datetime.fromisoformat(report["preview_expires"].replace("Z", "+00:00"))
    assert dt.timedelta(days=6, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(7)
    # The secret is 64 characters from Secrets Manager; the URL carries 128 bits of MAC.
    secret = clients.secretsmanager().get_secret_value(SecretId=stack.names["PreviewKey"])
    assert len(secret["SecretString"]) == 64
    assert len(url.rstrip("/").rsplit("-", 1)[1]) == 32

    answer = stack.edge.site(url, {})
    assert answer.status == 200
    page = answer.body.decode()
    assert "Embargoed <strong>numbers</strong>." in page
    assert '<meta name="robots" content="noindex, nofollow, noarchive">' in page
    assert answer.headers["X-Robots-Tag"] == "noindex, nofollow, noarchive"
    assert answer.headers["Cache-Control"] == "private, no-store, max-age=0"
    # Not reachable from anything public: listings, sitemaps, feeds, the article URL.
    stack.rebuild()
    public = stack.public()
    assert "index.html" in public
    assert "sitemaps/articles-1.xml" in public
    assert "feed.xml" in public
    for name, data in public.items():
        assert url.encode() not in data, name
        assert b"halving" not in data, name
    assert stack.edge.site("/articles/halving/", {}).status == 404

    # Published: the preview is gone (its link answers 404), the page is live.
    report = stack.upload(key, source("Halving scoop", body="Embargoed **numbers**."))
    assert report["status"] == "published"
    assert "preview_url" not in report
    assert stack.previews(url) == []
    assert stack.edge.site(url, {}).status == 404
    assert stack.edge.site("/articles/halving/", {}).status == 200


def test_deleting_a_draft_removes_its_preview(stack: Stack) -> None:
    key = "articles/draft.md"
    first = stack.upload(key, source("Draft", draft="true"))["preview_url"]
    second = stack.upload(key, source("Draft v2", draft="true"))["preview_url"]
    assert first != second
    assert stack.previews(first, second) == [second]
    assert stack.edge.site(first, {}).status == 404
    assert stack.remove(key)["status"] == "removed"
    assert stack.previews(first, second) == []


def test_scheduled_article_preview_goes_when_trending_publishes_it(stack: Stack) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    report = stack.upload("articles/soon.md", source("Soon", date=later.strftime("%Y-%m-%d %H:%M")))
    assert report["status"] == "scheduled"
    url = report["preview_url"]
    assert stack.edge.site(url, {}).status == 200
    # The trending function's own adapters, an hour and a bit later (its full run also folds
    # the view buckets, which takes ~15 s on moto and has nothing to do with previews).
    ports = trending_app.ports()
    _, theme = load_site(ports.store.get_site())
    published, _ = publish_due(
        ports.store, ports.writer, ports.reports, theme, later + dt.timedelta(minutes=5)
    )
    assert published == ["soon"]
    assert stack.report("articles/soon.md")["status"] == "published"
    assert stack.previews(url) == []
    assert stack.edge.site(url, {}).status == 404


def test_expired_or_forged_preview_links_answer_410() -> None:
    now = time.time()
    assert preview_expired(f"/preview/{int(now) - 1}-{'a' * 32}/", now)
    assert preview_expired("/preview/../index.html", now)
    assert not preview_expired(f"/preview/{int(now) + 60}-{'a' * 32}/", now)


def test_viewer_request_function_of_the_template_checks_expiry() -> None:
    code = TEMPLATE["Resources"]["PreviewRequestFunction"]["Properties"]["FunctionCode"]
    now = int(time.time())
    uris = [f"/preview/{now + 600}-{'0' * 32}/", f"/preview/{now - 600}-{'0' * 32}/", "/preview/x/"]
    script = code + (
        "\nvar uris = JSON.parse(process.argv[1]);\n"
        "console.log(JSON.stringify(uris.map(function (u) {\n"
        "  var out = handler({request: {uri: u}});\n"
        "  return out.statusCode || out.uri;\n"
        "})));\n"
    )
    answer = subprocess.run(
        ["node", "-e", script, json.dumps(uris)], capture_output=True, text=True, check=True
    )
    assert json.loads(answer.stdout) == [uris[0] + "index.html", 410, 410]


def test_template_preview_behaviour_key_and_lifecycle(stack: Stack) -> None:
    resources = TEMPLATE["Resources"]
    generated = resources["PreviewKey"]["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    config = resources["Distribution"]["Properties"]["DistributionConfig"]
    (behaviour,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/preview/*"]
    assert behaviour["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "PreviewHeadersPolicy"}
    (association,) = behaviour["FunctionAssociations"]
    assert association["FunctionARN"] == {"Fn::GetAtt": ["PreviewRequestFunction", "FunctionARN"]}
    policy = resources["PreviewHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    site = resources["SecurityHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    assert policy["SecurityHeadersConfig"] == site["SecurityHeadersConfig"]  # same protections
    # The site bucket, as created from the template: previews deleted after PreviewDays.
    rules = clients.s3().get_bucket_lifecycle_configuration(Bucket=stack.bucket)["Rules"]
    (rule,) = [r for r in rules if r.get("ID") == "preview-expiry"]
    assert rule["Filter"] == {"Prefix": "preview/"}
    assert rule["Expiration"] == {"Days": 7}
    env = resources["PublishFunction"]["Properties"]["Environment"]["Variables"]
    assert env["PREVIEW_KEY_SECRET"] == {"Ref": "PreviewKey"}


def test_broken_links_are_reported_with_lines_and_the_page_is_published(stack: Stack) -> None:
    stack.s3.put_object(Bucket=stack.content, Key="media/2024/chart.png", Body=b"png")
    stack.upload("articles/other.md", source("Other", body="## Known\n\ntext"))
    body = "\n".join(
        [
            "![chart](/media/2024/chart.png) ![lost](/media/2024/lost.png)",  # line 8
            "[ok](../other/#known) [bad anchor](/articles/other/#unknown) [gone](/articles/gone/)",
            "[here](#nowhere) [out](https://example.org/)",
        ]
    )
    report = stack.upload("articles/mine.md", source("Mine", body=body))
    assert report["status"] == "published"
    assert [(w["line"], w["message"].split(":")[0]) for w in report["warnings"]] == [
        (8, "broken image /media/2024/lost.png"),
        (9, "broken link /articles/other/#unknown"),
        (9, "broken link /articles/gone/"),
        (10, "broken link #nowhere"),
    ]
    assert stack.edge.site("/articles/mine/", {}).status == 200
