"""S3 adapters: the content bucket (``ContentSource``) and the site bucket (``SiteWriter``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from chainpress.ports import VERSION_SCAN, VersionTimes

STATUS_PREFIX = "_status/"


def _missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


class S3ContentSource:
    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client

    def read(self, key: str, version_id: str | None = None, limit: int | None = None) -> bytes:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        if limit is not None:
            params["Range"] = f"bytes=0-{limit - 1}"
        try:
            body: bytes = self.client.get_object(**params)["Body"].read()
        except ClientError as exc:
            # S3 answers a range request on an empty object with 416: the object is empty.
            if limit is not None and exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise
        return body

    def version_times(self, key: str, version_id: str) -> VersionTimes:
        answer = self.client.list_object_versions(
            Bucket=self.bucket, Prefix=key, MaxKeys=VERSION_SCAN
        )
        # Newest first within a key; keys sharing the prefix (``a.md.bak``) come after it.
        versions = [v for v in answer.get("Versions", []) if v["Key"] == key]
        seen_all = not answer.get("IsTruncated") or answer.get("NextKeyMarker") != key
        applied = next((v for v in versions if v["VersionId"] == version_id), None)
        if applied is None:
            return VersionTimes()
        older = versions[versions.index(applied) + 1 :]
        first = versions[-1]["LastModified"] if versions and seen_all else None
        return VersionTimes(
            first=first, applied=applied["LastModified"], edited=bool(older) or not seen_all
        )

    def read_current(self, key: str, limit: int | None = None) -> bytes | None:
        try:
            return self.read(key, None, limit)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise

    def list_keys(self, prefix: str, *, limit: int, recursive: bool = True) -> list[str]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if not recursive:
            params["Delimiter"] = "/"
        keys: list[str] = []
        while len(keys) < limit:
            params["MaxKeys"] = min(1000, limit - len(keys))
            answer = self.client.list_objects_v2(**params)
            keys += [str(item["Key"]) for item in answer.get("Contents", [])]
            if not answer.get("IsTruncated"):
                break
            params["ContinuationToken"] = answer["NextContinuationToken"]
        return keys[:limit]

    def write_status(self, key: str, report: dict[str, object]) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=f"{STATUS_PREFIX}{key}.json",
            Body=json.dumps(report, ensure_ascii=False, indent=2).encode("utf-8"),
            ContentType="application/json; charset=utf-8",
        )


class S3SiteWriter:
    """Writes pages to the site bucket, skipping identical bytes (a ``sha256`` metadata check:
    ETags are not content hashes under every encryption mode)."""

    def __init__(self, bucket: str, client: Any) -> None:
        self.bucket = bucket
        self.client = client

    def write(
        self, path: str, data: bytes, content_type: str, cache_control: str, disposition: str = ""
    ) -> bool:
        digest = hashlib.sha256(data).hexdigest()
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=path)
        except ClientError as exc:
            if not _missing(exc):
                raise
        else:
            same = head.get("Metadata", {}).get("sha256") == digest
            same_disposition = head.get("ContentDisposition", "") == disposition
            if same and head.get("ContentType") == content_type and same_disposition:
                return False
        params: dict[str, Any] = {}
        if disposition:
            # S3 stores it and answers GetObject with it: CloudFront passes it to the reader.
            params["ContentDisposition"] = disposition
        self.client.put_object(
            Bucket=self.bucket,
            Key=path,
            Body=data,
            ContentType=content_type,
            CacheControl=cache_control,
            Metadata={"sha256": digest},
            **params,
        )
        return True

    def delete(self, path: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=path)
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        self.client.delete_object(Bucket=self.bucket, Key=path)
        return True

    def read(self, path: str) -> bytes | None:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=path)["Body"].read()
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return body
