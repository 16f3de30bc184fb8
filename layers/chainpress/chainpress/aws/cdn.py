"""CloudFront adapter of ``CdnInvalidator``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any


class CloudFrontInvalidator:
    def __init__(self, distribution_id: str, client: Any) -> None:
        self.distribution_id = distribution_id
        self.client = client

    def invalidate(self, paths: Iterable[str]) -> None:
        items = sorted(set(paths))
        if not items:
            return
        self.client.create_invalidation(
            DistributionId=self.distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(items), "Items": items},
                # Unique per request: a retried batch may legitimately invalidate the same paths.
                "CallerReference": f"chainpress-{time.time_ns()}",
            },
        )
