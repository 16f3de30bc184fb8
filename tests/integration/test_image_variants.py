"""Responsive images through the real publish handler on moto: the sample media event
(events/s3_media_put.json) delivered for real JPEG/PNG uploads made in the test, the variants
in the site bucket, the image record in the articles table, the srcset in the article page,
and the status reports of a decompression bomb and a corrupt file."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import pytest
from moto import mock_aws
from PIL import Image

from chainpress.aws import clients
from functions.publish import app
from tests.support.aws import create_stack
from tests.support.events import load_event
from tests.support.images import bomb, photo, truncated
from tests.support.lambda_context import Context

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CHART = "media/2022/链圈-chart.jpg"
ARTICLE = (
    "---\ntitle: 比特币走势\ndate: 2022-05-03 14:30\ncategory: bitcoin\n"
    "cover: /media/2022/链圈-chart.jpg\n---\n\n比特币今日上涨。\n\n"
    "![比特币走势图](/media/2022/链圈-chart.jpg)\n"
).encode()
PAGE = "articles/trend/index.html"


class Stack:
    def __init__(self, names: dict[str, str]) -> None:
        self.content, self.site = names["ContentBucket"], names["SiteBucket"]
        self.table = names["ArticlesTable"]
        self.s3, self.ddb = clients.s3(), clients.dynamodb()
        self.sequence = 0x0062C4D4A1B2C3D4E5

    def upload(self, key: str, data: bytes) -> dict[str, Any]:
        """Put ``data`` and deliver the sample event S3 sends for it (its version, sequencer,
        size and ETag) to the publish handler."""
        answer = self.s3.put_object(Bucket=self.content, Key=key, Body=data)
        name = "s3_media_put.json" if key.startswith("media/") else "s3_article_put.json"
        event = load_event(name)
        record = event["Records"][0]
        record["s3"]["bucket"].update(name=self.content, arn=f"arn:aws:s3:::{self.content}")
        self.sequence += 1
        record["s3"]["object"].update(
            key=quote_plus(key, safe="/"),
            versionId=answer["VersionId"],
            sequencer=f"{self.sequence:X}",
            size=len(data),
            eTag=answer["ETag"].strip('"'),
        )
        result: dict[str, Any] = app.lambda_handler(event, Context())
        return result["outcomes"][0]

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            answer = self.s3.get_object(Bucket=self.site, Key=key)
        except self.s3.exceptions.NoSuchKey:
            return None
        return answer["Body"].read(), answer["ContentType"]

    def report(self, key: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.content, Key=f"_status/{key}.json")["Body"]
        report: dict[str, Any] = json.loads(body.read())
        return report

    def image_item(self, key: str) -> dict[str, Any]:
        answer = self.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": f"image#{key}"}, "sk": {"S": "image"}}
        )
        item: dict[str, Any] = answer.get("Item", {})
        return item


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # One moto stack for the module (the tests use different keys): building it costs ~4 s.
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
        yield Stack(names)
    clients.reset()


def test_an_article_published_before_its_image_gets_srcset_when_the_image_arrives(
    stack: Stack,
) -> None:
    assert stack.upload("articles/trend.md", ARTICLE)["status"] == "published"
    first = stack.get(PAGE)
    assert first is not None
    assert b"srcset" not in first[0]  # the image is not there yet: a plain <img>

    original = photo(2000, 1333)
    outcome = stack.upload(CHART, original)
    assert outcome["status"] == "published"
    assert stack.get(CHART) == (original, "image/jpeg")  # the original stays, as uploaded
    for width, height in [(480, 320), (960, 640), (1600, 1066)]:
        variant = stack.get(f"{CHART}.{width}w.webp")
        assert variant is not None
        assert variant[1] == "image/webp"
        with Image.open(io.BytesIO(variant[0])) as image:
            assert (image.format, image.size) == ("WEBP", (width, height))
    item = stack.image_item(CHART)
    assert (item["width"]["N"], item["height"]["N"]) == ("2000", "1333")
    assert [v["N"] for v in item["variants"]["L"]] == ["480", "960", "1600"]

    page = stack.get(PAGE)
    assert page is not None
    html = page[0].decode()
    encoded = "/media/2022/%E9%93%BE%E5%9C%88-chart.jpg"
    body = html.split('class="article-body"')[1]
    assert 'width="2000" height="1333"' in body
    assert f'srcset="{encoded}.480w.webp 480w, {encoded}.960w.webp 960w, ' in body
    assert f'{encoded}.1600w.webp 1600w, {encoded} 2000w" sizes=' in body
    cover = html.split('<figure class="cover">')[1].split("</figure>")[0]
    assert 'width="2000" height="1333" srcset=' in cover
    assert stack.report(CHART)["status"] == "published"


def test_a_decompression_bomb_is_reported_and_not_served(stack: Stack) -> None:
    key = "media/huge.png"
    outcome = stack.upload(key, bomb())
    assert outcome["status"] == "error"
    report = stack.report(key)
    assert report["status"] == "error"
    assert report["url"] == ""
    assert report["error"]["message"].startswith("the image is too large (10,000 x 10,000)")
    assert stack.get(key) is None
    assert stack.image_item(key) == {}


def test_a_corrupt_image_is_reported_and_served_as_uploaded(stack: Stack) -> None:
    key = "media/broken.jpg"
    broken = truncated(photo(1200, 800))
    assert stack.upload(key, broken)["status"] == "error"
    report = stack.report(key)
    assert report["error"]["message"].startswith("the image cannot be read")
    assert report["url"] == "/" + key
    assert stack.get(key) == (broken, "image/jpeg")
    assert stack.get(key + ".480w.webp") is None
