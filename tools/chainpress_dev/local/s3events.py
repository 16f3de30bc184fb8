"""S3 event notifications for the content bucket, in the shape S3 sends them.

moto neither runs S3 -> Lambda notifications nor puts ``versionId``/``sequencer`` in the events
it does build, and it sends nothing at all when a delete marker is created (AWS-NOTES.md). So the
local stack derives the events from the bucket itself: it lists the object versions and delete
markers of the subscribed prefixes and turns each one it has not seen into one event,

* a new version -> ``ObjectCreated:Put`` (``CompleteMultipartUpload`` when its ETag says so),
* a new delete marker -> ``ObjectRemoved:DeleteMarkerCreated``,
* a version or marker that disappeared (deleted by version id) -> ``ObjectRemoved:Delete``,

with the real ``versionId``, ``size`` and ``eTag``, the key URL-encoded as S3 does it (``+`` for
a space, ``%XX`` for UTF-8, ``/`` kept) and a hex ``sequencer`` that grows with every event, so it
grows per key as S3 guarantees. This sees writes from any client, since it only reads the
bucket. The endpoint rings a doorbell on every write to the bucket, so events follow within
milliseconds; a slow timer covers anything the doorbell misses.

Which keys reach which function comes from the template's S3 event filters (``s3_subscriptions``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote_plus

from chainpress_dev.local.endpoint import ACCOUNT_ID, REGION
from chainpress_dev.local.plumbing import Poller, Reporter
from chainpress_dev.local.template import S3Subscription

Deliver = Callable[[S3Subscription, dict[str, Any]], None]
# A multipart upload's ETag is the MD5 of the parts' MD5s, then "-<number of parts>".
_MULTIPART_ETAG = re.compile(r"[0-9a-fA-F]{32}-[0-9]+")


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectChange:
    key: str
    version_id: str
    event_name: str  # e.g. "ObjectCreated:Put" (no "s3:" prefix, as in the event)
    time: dt.datetime
    size: int | None = None
    etag: str | None = None


class Sequencer:
    """Hex sequencers that only grow (S3: greater means later for the same key)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            # Time-based like S3's, so values from one run look like what S3 sends; +1 keeps
            # them strictly increasing when the clock does not move.
            self._last = max(self._last + 1, time.time_ns() // 1000)
            return f"{self._last:018X}"


def encode_key(key: str) -> str:
    """A key as it appears in an S3 event: ``+`` for spaces, ``%XX`` for UTF-8, ``/`` kept."""
    return quote_plus(key, safe="/")


def _event_time(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def s3_event_record(
    change: ObjectChange,
    *,
    bucket: str,
    sequencer: str,
    configuration_id: str,
    region: str = REGION,
) -> dict[str, Any]:
    """One record of an S3 event notification (event structure version 2.1, as AWS documents)."""
    obj: dict[str, Any] = {"key": encode_key(change.key)}
    if change.size is not None:
        obj["size"] = change.size
    if change.etag is not None:
        obj["eTag"] = change.etag
    obj["versionId"] = change.version_id
    obj["sequencer"] = sequencer
    request_id = uuid.uuid4().hex[:16].upper()
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": _event_time(change.time),
        "eventName": change.event_name,
        "userIdentity": {"principalId": f"AWS:{ACCOUNT_ID}"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": request_id,
            "x-amz-id-2": uuid.uuid4().hex + uuid.uuid4().hex,
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": ACCOUNT_ID},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    version_id: str
    is_marker: bool
    last_modified: dt.datetime
    is_latest: bool
    size: int | None
    etag: str | None


class VersionTracker:
    """Remembers every version and delete marker seen per key; turns a new listing into the
    changes since the last one, oldest first per key."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, _Entry]] = {}

    def update(
        self, listing: dict[str, list[_Entry]], prefixes: Sequence[str]
    ) -> list[ObjectChange]:
        changes: list[ObjectChange] = []
        keys = set(listing) | {k for k in self._seen if k.startswith(tuple(prefixes))}
        now = dt.datetime.now(dt.UTC)
        for key in sorted(keys):
            current = {entry.version_id: entry for entry in listing.get(key, [])}
            seen = self._seen.get(key, {})
            new = [entry for vid, entry in current.items() if vid not in seen]
            # Oldest first; within one second (moto's timestamps) the latest goes last.
            new.sort(key=lambda e: (e.last_modified, e.is_latest))
            for entry in new:
                if entry.is_marker:
                    name = "ObjectRemoved:DeleteMarkerCreated"
                    changes.append(ObjectChange(key, entry.version_id, name, entry.last_modified))
                else:
                    multipart = entry.etag is not None and bool(
                        _MULTIPART_ETAG.fullmatch(entry.etag)
                    )
                    name = (
                        "ObjectCreated:CompleteMultipartUpload"
                        if multipart
                        else "ObjectCreated:Put"
                    )
                    changes.append(
                        ObjectChange(
                            key, entry.version_id, name, entry.last_modified, entry.size, entry.etag
                        )
                    )
            for vid in seen:
                if vid not in current:
                    changes.append(ObjectChange(key, vid, "ObjectRemoved:Delete", now))
            if current:
                self._seen[key] = current
            else:
                self._seen.pop(key, None)
        return changes


def _list_versions(s3: Any, bucket: str, prefix: str) -> dict[str, list[_Entry]]:
    found: dict[str, list[_Entry]] = {}
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            found.setdefault(version["Key"], []).append(
                _Entry(
                    version_id=str(version["VersionId"]),
                    is_marker=False,
                    last_modified=version["LastModified"],
                    is_latest=bool(version.get("IsLatest")),
                    size=int(version.get("Size", 0)),
                    etag=str(version.get("ETag", "")).strip('"'),
                )
            )
        for marker in page.get("DeleteMarkers", []):
            found.setdefault(marker["Key"], []).append(
                _Entry(
                    version_id=str(marker["VersionId"]),
                    is_marker=True,
                    last_modified=marker["LastModified"],
                    is_latest=bool(marker.get("IsLatest")),
                    size=None,
                    etag=None,
                )
            )
    return found


class BucketNotifications(Poller):
    """Watches one bucket and delivers an event per change to every subscription it matches."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        bucket_logical_id: str,
        subscriptions: Iterable[S3Subscription],
        deliver: Deliver,
        report: Reporter,
        *,
        interval: float = 5.0,
    ) -> None:
        super().__init__(f"s3-events-{bucket}", interval, report)
        self.s3 = s3
        self.bucket = bucket
        self.bucket_logical_id = bucket_logical_id
        self.subscriptions = [s for s in subscriptions if s.bucket == bucket_logical_id]
        self.deliver = deliver
        self.sequencer = Sequencer()
        self.tracker = VersionTracker()
        self.events = 0
        # Listing only the subscribed prefixes keeps the function's own writes (``_status/``)
        # out of every poll. A prefix inside another one is already covered.
        prefixes = sorted({s.prefix for s in self.subscriptions})
        self.prefixes = [
            p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes)
        ]

    def poll_once(self) -> None:
        # One listing under the prefixes' common part, filtered here: moto copies every version
        # in the bucket for each ListObjectVersions call whatever its prefix, so one call per
        # poll costs a quarter of one per prefix.
        common = os.path.commonprefix(self.prefixes) if self.prefixes else ""  # noqa: RUF071
        listing = {
            key: entries
            for key, entries in _list_versions(self.s3, self.bucket, common).items()
            if key.startswith(tuple(self.prefixes))
        }
        for change in self.tracker.update(listing, self.prefixes):
            targets = [
                s
                for s in self.subscriptions
                if s.matches(self.bucket_logical_id, change.event_name, change.key)
            ]
            if not targets:
                continue
            sequencer = self.sequencer.next()  # one S3 event, whatever the number of targets
            for subscription in targets:
                record = s3_event_record(
                    change,
                    bucket=self.bucket,
                    sequencer=sequencer,
                    configuration_id=f"{subscription.function}-{subscription.prefix or 'all'}",
                )
                self.events += 1
                self.deliver(subscription, {"Records": [record]})
