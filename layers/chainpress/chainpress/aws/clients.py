"""The one place that builds boto3 clients.

Built lazily (inside the handler call path, so moto can intercept them and cold starts stay
small) and cached per process. ``AWS_ENDPOINT_URL`` (the local stack) is honoured by boto3 itself.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    # Account-ID based DynamoDB endpoints break moto's streams; regional endpoints work everywhere.
    account_id_endpoint_mode="disabled",
)


@functools.cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)


def s3() -> Any:
    return client("s3")


def dynamodb() -> Any:
    return client("dynamodb")


def dynamodbstreams() -> Any:
    return client("dynamodbstreams")


def cloudfront() -> Any:
    return client("cloudfront")


def sqs() -> Any:
    return client("sqs")


def secretsmanager() -> Any:
    return client("secretsmanager")


def reset() -> None:
    """Forget cached clients (tests that switch endpoints or credentials)."""
    client.cache_clear()
