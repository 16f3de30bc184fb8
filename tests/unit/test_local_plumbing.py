"""The local stack's plumbing without a server: event shapes, ordering, batching, routing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import unquote_plus

import pytest

from chainpress_dev.local import endpoint
from chainpress_dev.local.cdn import (
    Route,
    api_routes,
    http_api_answer,
    http_api_event,
    security_headers,
    site_key,
)
from chainpress_dev.local.functions import FunctionError, function_environment
from chainpress_dev.local.s3events import (
    ObjectChange,
    Sequencer,
    VersionTracker,
    _Entry,
    encode_key,
    s3_event_record,
)
from chainpress_dev.local.streams import (
    StreamEventSource,
    StreamSettings,
    is_spurious,
    lambda_record,
    stream_settings,
)
from chainpress_dev.local.template import TemplateError, stream_filter_patterns
from chainpress_dev.local.watcher import content_type, is_ignored, upload_rank
from tests.support.events import load_event
from tests.support.template import template

T0 = dt.datetime(2025, 5, 1, 12, 0, 0, tzinfo=dt.UTC)

# ------------------------------------------------------------------------------ S3 events


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("articles/2022/链圈 news.md", "articles/2022/%E9%93%BE%E5%9C%88+news.md"),
        ("articles/a+b.md", "articles/a%2Bb.md"),
        ("site.yaml", "site.yaml"),
    ],
)
def test_keys_are_encoded_as_s3_does(key: str, encoded: str) -> None:
    assert encode_key(key) == encoded
    assert unquote_plus(encoded) == key


def test_event_record_has_the_documented_shape() -> None:
    change = ObjectChange("articles/2022/链圈 news.md", "v1", "ObjectCreated:Put", T0, 12, "abc")
    record = s3_event_record(change, bucket="b", sequencer="00AB", configuration_id="c")
    sample = load_event("s3_article_put.json")["Records"][0]
    assert set(record) == set(sample)
    assert set(record["s3"]) == set(sample["s3"])
    assert record["eventVersion"] == "2.1"
    assert record["eventTime"] == "2025-05-01T12:00:00.000Z"
    assert record["s3"]["object"] == {
        "key": "articles/2022/%E9%93%BE%E5%9C%88+news.md",
        "size": 12,
        "eTag": "abc",
        "versionId": "v1",
        "sequencer": "00AB",
    }
    removed = ObjectChange("k", "dm", "ObjectRemoved:DeleteMarkerCreated", T0)
    obj = s3_event_record(removed, bucket="b", sequencer="01", configuration_id="c")["s3"]["object"]
    assert obj == {"key": "k", "versionId": "dm", "sequencer": "01"}


def test_sequencers_only_grow() -> None:
    sequencer = Sequencer()
    values = [sequencer.next() for _ in range(2000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert all(len(v) == len(values[0]) and int(v, 16) > 0 for v in values)


def entry(vid: str, second: int, *, marker: bool = False, latest: bool = False) -> _Entry:
    etag = None if marker else f"etag-{vid}"
    return _Entry(
        vid, marker, T0 + dt.timedelta(seconds=second), latest, None if marker else 3, etag
    )


def test_versions_become_events_oldest_first() -> None:
    tracker = VersionTracker()
    prefixes = ["articles/"]
    first = tracker.update({"articles/a.md": [entry("v1", 0, latest=True)]}, prefixes)
    assert [(c.version_id, c.event_name) for c in first] == [("v1", "ObjectCreated:Put")]
    assert tracker.update({"articles/a.md": [entry("v1", 0, latest=True)]}, prefixes) == []
    # Two changes within one poll and one second: the latest one is delivered last.
    later = tracker.update(
        {
            "articles/a.md": [
                entry("dm", 5, marker=True, latest=True),
                entry("v2", 5),
                entry("v1", 0),
            ]
        },
        prefixes,
    )
    assert [(c.version_id, c.event_name) for c in later] == [
        ("v2", "ObjectCreated:Put"),
        ("dm", "ObjectRemoved:DeleteMarkerCreated"),
    ]
    # A version deleted by its id disappears from the listing.
    listing = {"articles/a.md": [entry("dm", 5, marker=True, latest=True), entry("v1", 0)]}
    gone = tracker.update(listing, prefixes)
    assert [(c.version_id, c.event_name) for c in gone] == [("v2", "ObjectRemoved:Delete")]
    gone = tracker.update({}, prefixes)
    assert sorted((c.version_id, c.event_name) for c in gone) == [
        ("dm", "ObjectRemoved:Delete"),
        ("v1", "ObjectRemoved:Delete"),
    ]


def test_a_multipart_upload_is_named_as_such() -> None:
    multipart = _Entry("v1", False, T0, True, 10, "0f" * 16 + "-2")
    (change,) = VersionTracker().update({"media/big.png": [multipart]}, ["media/"])
    assert change.event_name == "ObjectCreated:CompleteMultipartUpload"


def test_the_doorbell_rings_for_subscribed_writes_only() -> None:
    def environ(method: str, path: str, host: str = "127.0.0.1:5000") -> dict[str, Any]:
        return {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_HOST": host}

    prefixes = ("articles/", "site.yaml")
    assert endpoint.is_bucket_write(environ("PUT", "/c/articles/x.md"), "c", prefixes)
    assert endpoint.is_bucket_write(environ("DELETE", "/c/site.yaml"), "c", prefixes)
    assert endpoint.is_bucket_write(environ("POST", "/c"), "c", prefixes)  # batch delete
    assert endpoint.is_bucket_write(environ("PUT", "/articles/x.md", "c.localhost:5000"), "c")
    assert not endpoint.is_bucket_write(environ("PUT", "/c/_status/x.json"), "c", prefixes)
    assert not endpoint.is_bucket_write(environ("GET", "/c/articles/x.md"), "c", prefixes)
    assert not endpoint.is_bucket_write(environ("PUT", "/other/articles/x.md"), "c", prefixes)
    write = {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.TransactWriteItems"}
    assert endpoint.is_dynamodb_write(write)
    assert not endpoint.is_dynamodb_write({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query"})
    assert not endpoint.is_dynamodb_write({"HTTP_X_AMZ_TARGET": "DynamoDBStreams_20120810.X"})


# ------------------------------------------------------------------------------ streams


def raw_record(seq: int, pk: str, event: str = "INSERT", **images: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ApproximateCreationDateTime": T0,
        "Keys": {"pk": {"S": pk}, "sk": {"S": "x"}},
        "SequenceNumber": str(seq),
        "SizeBytes": 10,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        **images,
    }
    return {"eventID": f"e{seq}", "eventName": event, "eventVersion": "1.0", "dynamodb": data}


def test_stream_records_take_lambdas_shape() -> None:
    image = {"pk": {"S": "article#a"}, "blob": {"B": b"\x00\x01"}}
    record = lambda_record(raw_record(7, "article#a", NewImage=image), "arn:stream")
    assert record["eventSourceARN"] == "arn:stream"
    assert record["eventVersion"] == "1.1"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == int(T0.timestamp())
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}
    json.dumps(record)  # what Lambda sends is JSON
    sample = load_event("ddb_stream_batch.json")["Records"][0]
    assert set(sample) <= set(record)


def test_moto_only_records_are_dropped() -> None:
    assert is_spurious(lambda_record(raw_record(1, "article#a"), "s"))
    same = {"pk": {"S": "article#a"}}
    modify = raw_record(2, "article#a", "MODIFY", NewImage=same, OldImage=same)
    assert is_spurious(lambda_record(modify, "s"))
    insert = raw_record(3, "article#a", NewImage=same)
    assert not is_spurious(lambda_record(insert, "s"))


def test_the_template_filter_and_batch_settings_are_used() -> None:
    settings = stream_settings(template(), "RebuildFunction", batching_window=0.5)
    assert settings.batch_size == 100
    assert settings.batching_window == 0.5
    assert settings.report_item_failures
    assert list(settings.patterns) == stream_filter_patterns(template(), "RebuildFunction")


class FakeStreams:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "s1"}]}}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        after = int(kwargs.get("SequenceNumber", 0))
        return {"ShardIterator": str(after)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        after = int(ShardIterator)
        found = [r for r in self.records if int(r["dynamodb"]["SequenceNumber"]) > after]
        return {"Records": found[:Limit], "NextShardIterator": ShardIterator if not found else ""}


class FakeFunction:
    logical_id = "RebuildFunction"

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.batches: list[list[str]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.batches.append([r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]])
        answer = self.answers.pop(0) if self.answers else {"batchItemFailures": []}
        if isinstance(answer, Exception):
            raise answer
        return answer


def run_stream(records: list[dict[str, Any]], answers: list[Any], retries: int = 5) -> Any:
    function = FakeFunction(answers)
    settings = StreamSettings(
        batch_size=3,
        batching_window=0.0,
        max_retries=retries,
        report_item_failures=True,
        patterns=tuple(stream_filter_patterns(template(), "RebuildFunction")),
    )
    reports: list[str] = []
    source = StreamEventSource(
        None,
        FakeStreams(records),
        "t",
        function,
        settings,
        reports.append,  # type: ignore[arg-type]
    )
    source.stream_arn = "arn:stream"
    source.poll_once()
    return function.batches, reports, source


def test_batches_are_filtered_sized_and_retried_from_the_first_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("chainpress_dev.local.streams.time.sleep", lambda _: None)
    image = {"pk": {"S": "x"}}
    pks = ["article#a", "list#home", "site", "article#b", "source#k", "article#c", "article#d"]
    records = [raw_record(i + 1, pk, NewImage=image) for i, pk in enumerate(pks)]
    failed_b = {"batchItemFailures": [{"itemIdentifier": "4"}]}
    batches, reports, _ = run_stream(records, [failed_b])
    assert batches == [
        ["article#a", "site", "article#b"],
        ["article#b"],  # retried from the failed record on
        ["article#c", "article#d"],
    ]
    assert len(reports) == 1


def test_a_failing_batch_is_given_up_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chainpress_dev.local.streams.time.sleep", lambda _: None)
    records = [raw_record(1, "article#a", NewImage={"pk": {"S": "x"}})]
    error = FunctionError("boom")
    batches, reports, source = run_stream(records, [error, error, error], retries=2)
    assert batches == [["article#a"]] * 3
    assert source.failed_batches == 1
    assert "gave up" in reports[-1]


# ------------------------------------------------------------------------------ edge


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/", "index.html"),
        ("/articles/x/", "articles/x/index.html"),
        ("/articles/x", "articles/x/index.html"),
        ("/feed.xml", "feed.xml"),
        ("/static/style.css", "static/style.css"),
        ("/page/2/", "page/2/index.html"),
    ],
)
def test_the_index_rewrite_matches_the_cloudfront_function(path: str, key: str) -> None:
    assert site_key(path) == key


def test_routes_come_from_the_template() -> None:
    routes = {route.key: function for route, function in api_routes(template())}
    assert routes == {
        "POST /api/views/{slug}": "ViewsFunction",
        "GET /api/views": "ViewsFunction",
        "GET /api/hot": "ViewsFunction",
    }
    assert Route("POST", "/api/views/{slug}").match("POST", "/api/views/链圈-news") == {
        "slug": "链圈-news"
    }
    assert Route("POST", "/api/views/{slug}").match("GET", "/api/views/x") is None
    assert Route("GET", "/api/views").match("GET", "/api/views/x") is None


def test_http_api_events_have_the_payload_2_shape() -> None:
    route = Route("POST", "/api/views/{slug}")
    event = http_api_event(
        route,
        {"slug": "链圈-news"},
        "POST",
        "/api/views/链圈-news",
        "a=1&a=2&b=",
        {"User-Agent": "Mozilla/5.0 X", "Host": "127.0.0.1:8080", "Cookie": "x=1; y=2"},
        b"",
        "127.0.0.1",
        "api.example",
    )
    sample = load_event("api_view_post.json")
    assert set(sample) <= set(event) | {"body"}
    assert event["routeKey"] == "POST /api/views/{slug}"
    assert event["pathParameters"] == {"slug": "链圈-news"}
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["cookies"] == ["x=1", "y=2"]
    assert event["headers"]["host"] == "api.example"
    assert event["headers"]["user-agent"] == "Mozilla/5.0 X"
    assert event["requestContext"]["http"]["userAgent"] == "Mozilla/5.0 X"
    assert event["isBase64Encoded"] is False
    binary = http_api_event(
        route, {}, "POST", "/x", "", {"content-type": "image/png"}, b"\xff", "", "h"
    )
    assert binary["isBase64Encoded"] is True
    assert binary["body"] == "/w=="


def test_function_answers_become_http_responses() -> None:
    answer = http_api_answer({"statusCode": 201, "headers": {"x": "1"}, "body": "{}"})
    assert (answer.status, answer.headers, answer.body) == (201, {"x": "1"}, b"{}")
    encoded = http_api_answer({"statusCode": 200, "body": "AAE=", "isBase64Encoded": True})
    assert encoded.body == b"\x00\x01"
    bare = http_api_answer({"views": 3})
    assert (bare.status, json.loads(bare.body)) == (200, {"views": 3})


def test_security_headers_come_from_the_template() -> None:
    headers = security_headers(template())
    assert headers["Content-Security-Policy"].startswith("default-src 'self';")
    assert "\n" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


# ------------------------------------------------------------------------------ functions


def test_function_environment_comes_from_the_template() -> None:
    names = {
        "SiteBucket": "site",
        "ArticlesTable": "articles",
        "ViewsTable": "views",
        "RerenderQueue": "http://127.0.0.1:5000/123456789012/chainpress-rerender-queue",
    }
    overrides = {
        "CONTENT_BUCKET": "content",
        "DISTRIBUTION_ID": "",
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    env = function_environment(template(), "RebuildFunction", names, overrides)
    assert env["POWERTOOLS_SERVICE_NAME"] == "rebuild"
    assert env["SITE_BUCKET"] == "site"
    assert env["CONTENT_BUCKET"] == "content"
    assert env["DISTRIBUTION_ID"] == ""
    assert env["RERENDER_QUEUE_URL"] == names["RerenderQueue"]  # what Ref answers for a queue
    with pytest.raises(TemplateError, match="has no local value"):
        function_environment(template(), "PublishFunction", names, {})


# ------------------------------------------------------------------------------ folder


def test_folder_files_map_to_keys_in_upload_order() -> None:
    keys = ["articles/a.md", "media/x.png", "theme/base.html", "site.yaml", "README.txt"]
    assert sorted(keys, key=upload_rank) == [
        "site.yaml",
        "theme/base.html",
        "media/x.png",
        "articles/a.md",
        "README.txt",
    ]
    for name in (".git/config", "articles/.a.md.swp", "articles/a.md~", "articles/4913"):
        assert is_ignored(name), name
    assert not is_ignored("articles/2022/链圈 news.md")
    assert content_type("articles/a.md") == "text/markdown; charset=utf-8"
    assert content_type("media/x.png") == "image/png"


def test_a_parameter_reference_takes_the_parameter_default_locally() -> None:
    from chainpress_dev.local.functions import function_environment

    template = {
        "Parameters": {"Threshold": {"Type": "Number", "Default": 50}},
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Environment": {"Variables": {"LIMIT": {"Ref": "Threshold"}}}},
            }
        },
    }
    assert function_environment(template, "Fn", {}, {}) == {"LIMIT": "50"}


def test_a_schedule_with_a_constant_input_sends_that_input_like_eventbridge() -> None:
    from chainpress_dev.local.stack import scheduled_event
    from chainpress_dev.local.template import load_template
    from tests.support.paths import ROOT

    template = load_template(ROOT / "template.yaml")
    events = template["Resources"]["RebuildFunction"]["Properties"]["Events"]
    assert scheduled_event("rule", events["SummariesSchedule"]) == {"action": "rebuild-summaries"}
    plain = scheduled_event("rule", {"Type": "Schedule", "Properties": {}})
    assert plain["detail-type"] == "Scheduled Event"


def test_console_report_lines_show_errors_and_warnings() -> None:
    from chainpress_dev.local.stack import format_report

    published = {
        "key": "articles/erc-20.md",
        "status": "published",
        "url": "/articles/erc-20/",
        "error": None,
        "errors": [],
        "warnings": [
            {"message": "unknown front matter field 'eip'", "line": 2},
            {"message": "unknown front matter field 'status'", "line": 6},
        ],
    }
    assert format_report(published, "http://localhost:8080") == (
        "publish  published articles/erc-20.md  ->  http://localhost:8080/articles/erc-20/"
        "  [warning: line 2: unknown front matter field 'eip' (+1 more)]"
    )
    refused = {
        "key": "articles/x.md",
        "status": "error",
        "error": {"message": "title must be text", "line": 2},
        "errors": [{"message": "title must be text", "line": 2}, {"message": "b", "line": 3}],
        "warnings": [],
    }
    assert format_report(refused, "") == (
        "publish  error     articles/x.md  (line 2: title must be text) and 1 more error(s)"
    )
