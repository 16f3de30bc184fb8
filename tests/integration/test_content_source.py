"""The ContentSource contract (bundle listing, current bytes), run against S3 (moto) and the
in-memory fake alike; plus the new record fields through DynamoDB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from chainpress.aws import clients
from chainpress.aws.articles import DynamoArticleStore
from chainpress.aws.s3 import S3ContentSource
from chainpress.model import Article, Problem, pad_sequencer
from chainpress.ports import VERSION_SCAN, ArticleChange, ContentSource, SourceState, VersionTimes
from chainpress_dev.memory import InMemoryContentSource
from tests.support.aws import create_stack

KEYS = [
    "articles/t/index.md",
    "articles/t/a.png",
    "articles/t/img/b.png",
    "articles/t/img/deep/c.png",
    "articles/u/index.md",
]


class Bucket:
    def __init__(self, source: ContentSource, put: Any, delete: Any) -> None:
        self.source, self.put, self.delete = source, put, delete


@pytest.fixture(params=["memory", "s3"])
def bucket(request: pytest.FixtureRequest) -> Iterator[Bucket]:
    if request.param == "memory":
        memory = InMemoryContentSource()
        yield Bucket(memory, memory.put, memory.delete)
        return
    with mock_aws():
        clients.reset()
        name = create_stack()["ContentBucket"]
        s3 = clients.s3()
        yield Bucket(
            S3ContentSource(name, s3),
            lambda key, data: s3.put_object(Bucket=name, Key=key, Body=data),
            lambda key: s3.delete_object(Bucket=name, Key=key),
        )
    clients.reset()


def test_list_keys_under_a_folder(bucket: Bucket) -> None:
    for key in KEYS:
        bucket.put(key, b"x")
    source = bucket.source
    assert source.list_keys("articles/t/", limit=10) == sorted(KEYS[:4])
    assert source.list_keys("articles/t/", limit=10, recursive=False) == [
        "articles/t/a.png",
        "articles/t/index.md",
    ]
    assert source.list_keys("articles/t/", limit=2) == ["articles/t/a.png", "articles/t/img/b.png"]
    bucket.delete("articles/t/a.png")  # a delete marker: no current object
    assert "articles/t/a.png" not in source.list_keys("articles/t/", limit=10)
    assert source.list_keys("articles/none/", limit=10) == []


def test_read_current_is_none_once_deleted(bucket: Bucket) -> None:
    bucket.put("articles/t/a.png", b"first")
    bucket.put("articles/t/a.png", b"second version")
    assert bucket.source.read_current("articles/t/a.png") == b"second version"
    assert bucket.source.read_current("articles/t/a.png", limit=6) == b"second"
    bucket.delete("articles/t/a.png")
    assert bucket.source.read_current("articles/t/a.png") is None
    assert bucket.source.read_current("articles/never.png") is None


def test_new_record_fields_and_source_warnings_round_trip_through_dynamodb() -> None:
    with mock_aws():
        clients.reset()
        store = DynamoArticleStore(create_stack()["ArticlesTable"], clients.dynamodb())
        article = Article(
            slug="send-token-zh",
            title="发送代币",
            date=dt.datetime(2021, 4, 5, 16, tzinfo=dt.UTC),
            source_key="articles/zh/send-token/index.md",
            content_hash="h",
            author="Ann, Bo",
            authors=("Ann", "Bo"),
            language="zh",
            translation_key="send-token",
            date_only=True,
            updated=dt.datetime(2021, 5, 1, 16, tzinfo=dt.UTC),
            updated_date_only=True,
            extra={"skill": "beginner", "ratio": 0.5, "params": {"toc": True}},
        )
        warnings = (Problem("unknown front matter field 'skill'", 6), Problem("no line"))
        source = SourceState(article.source_key, pad_sequencer("1"), "v1", article.slug,
                             "published", warnings=warnings)  # fmt: skip
        store.commit(ArticleChange(source=source, new=article, previous=None))
        assert store.get_article("send-token-zh") == article
        assert store.get_source(article.source_key) == source
        assert store.newest("translation/send-token", 5) == [article]
    clients.reset()


def test_version_times_come_from_one_listing_of_the_keys_versions() -> None:
    with mock_aws():
        clients.reset()
        name = create_stack()["ContentBucket"]
        s3 = clients.s3()
        source = S3ContentSource(name, s3)
        key = "articles/a.md"
        v1 = s3.put_object(Bucket=name, Key=key, Body=b"1")["VersionId"]
        s3.put_object(Bucket=name, Key=key + ".bak", Body=b"x")  # shares the prefix
        v2 = s3.put_object(Bucket=name, Key=key, Body=b"2")["VersionId"]
        listed = s3.list_object_versions(Bucket=name, Prefix=key)["Versions"]
        when = {v["VersionId"]: v["LastModified"] for v in listed if v["Key"] == key}
        assert source.version_times(key, v1) == VersionTimes(when[v1], when[v1], edited=False)
        assert source.version_times(key, v2) == VersionTimes(when[v1], when[v2], edited=True)
        assert source.version_times(key, "unknown") == VersionTimes()
        # More versions than one request returns: the first is unknown, the edit is not.
        for i in range(VERSION_SCAN):
            last = s3.put_object(Bucket=name, Key=key, Body=str(i).encode())["VersionId"]
        times = source.version_times(key, last)
        assert (times.first, times.edited) == (None, True)
    clients.reset()
    memory = InMemoryContentSource()
    at = dt.datetime(2024, 4, 20, 9, 0, tzinfo=dt.UTC)
    m1 = memory.put(key, b"1", at=at)
    m2 = memory.put(key, b"2", at=at + dt.timedelta(hours=1))
    assert memory.version_times(key, m1) == VersionTimes(at, at, edited=False)
    assert memory.version_times(key, m2) == VersionTimes(at, at + dt.timedelta(hours=1), True)
    assert memory.calls["ListObjectVersions"] == 2
