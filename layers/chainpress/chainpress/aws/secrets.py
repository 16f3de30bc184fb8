"""The preview signing key, read from Secrets Manager once per warm container."""

from __future__ import annotations

import functools

from chainpress.aws import clients


@functools.cache
def secret_bytes(secret_id: str) -> bytes:
    """The secret's string as UTF-8 bytes (one ``GetSecretValue`` per container and secret)."""
    answer = clients.secretsmanager().get_secret_value(SecretId=secret_id)
    return str(answer["SecretString"]).encode("utf-8")
