"""``LocalStack`` in-process: start on free ports with empty buckets, publish one upload through
the real handlers, stop, and leave no thread, port or environment variable behind."""

from __future__ import annotations

import io
import os
import socket
import threading
import urllib.request
from typing import Any

import boto3
import pytest

from chainpress_dev.local.stack import LocalStack, StackConfig


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Nothing listens there any more (closed connections in TIME_WAIT do not count, as for a
    server restarted on the same port)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


ARTICLE = b"""---
title: In-process stack
date: 2024-05-01 10:00
category: bitcoin
---

Published by the local stack running inside the test process.
"""


def test_local_stack_starts_publishes_and_stops_cleanly() -> None:
    threads_before = set(threading.enumerate())
    env_before = dict(os.environ)
    config = StackConfig(
        content_dir=None, port=free_port(), aws_port=free_port(), trending_interval=3600
    )
    out = io.StringIO()
    with LocalStack(config, out) as stack:
        s3 = boto3.client(
            "s3",
            endpoint_url=stack.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.put_object(Bucket=stack.content_bucket, Key="articles/in-process.md", Body=ARTICLE)
        assert stack.wait_idle(timeout=60)
        with urllib.request.urlopen(f"{stack.site_url}/articles/in-process/") as page:
            assert "In-process stack" in page.read().decode()
        with urllib.request.urlopen(f"{stack.site_url}/") as home:
            assert "/articles/in-process/" in home.read().decode()
        report = stack.read_report("articles/in-process.md")
        assert report is not None
        assert report["status"] == "published"

    assert port_is_free(config.port)
    assert port_is_free(config.aws_port)
    assert dict(os.environ) == env_before
    leftover = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert leftover == []


def test_a_cancelled_transaction_leaves_the_table_and_its_stream_as_they_were() -> None:
    """The endpoint's faster transaction rollback keeps moto's semantics, and a stream reader
    that resumes from its checkpoint keeps seeing new records after a rollback."""
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from chainpress_dev.local.endpoint import EmbeddedAws

    aws = EmbeddedAws(port=free_port())
    aws.start()
    try:
        options: dict[str, Any] = {
            "endpoint_url": aws.url,
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "config": Config(account_id_endpoint_mode="disabled"),
        }
        ddb = boto3.client("dynamodb", **options)
        streams = boto3.client("dynamodbstreams", **options)
        ddb.create_table(
            TableName="t",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}})
        arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]

        def records_after(seq: str | None) -> list[dict[str, Any]]:
            where: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
            if seq:
                where = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": seq}
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], **where)[
                "ShardIterator"
            ]
            found: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator)["Records"]
            return found

        (first,) = records_after(None)
        with pytest.raises(ClientError, match="TransactionCanceled"):
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "a"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        assert "Item" not in ddb.get_item(TableName="t", Key={"pk": {"S": "b"}})
        checkpoint = first["dynamodb"]["SequenceNumber"]
        assert records_after(checkpoint) == []
        ddb.put_item(TableName="t", Item={"pk": {"S": "c"}})
        (after,) = records_after(checkpoint)
        assert after["dynamodb"]["Keys"] == {"pk": {"S": "c"}}
        assert [r["dynamodb"]["Keys"] for r in records_after(None)] == [
            {"pk": {"S": "a"}},
            {"pk": {"S": "c"}},
        ]
    finally:
        aws.stop()
