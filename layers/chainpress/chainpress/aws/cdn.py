"""CloudFront adapter of ``CdnInvalidator``.

botocore retries throttling and 5xx answers itself (standard mode, 5 attempts); what is still
refused after that becomes ``CdnUnavailable`` and the paths stay pending (chainpress.invalidation).
``TooManyInvalidationsInProgress`` (3,000 file paths or 15 wildcards in progress per
distribution) is not retried by botocore at all: it is the commonest refusal under load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chainpress.ports import CdnUnavailable

# Refusals that lift on their own (the next flush sends the request again).
_TRANSIENT = {
    "TooManyInvalidationsInProgress",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
}


class CloudFrontInvalidator:
    def __init__(self, distribution_id: str, client: Any) -> None:
        self.distribution_id = distribution_id
        self.client = client

    def invalidate(self, paths: Iterable[str], reference: str = "") -> None:
        items = sorted(set(paths))
        if not items:
            return
        # The same reference and paths again (a retry after a lost answer) is answered with
        # the invalidation CloudFront already has: no second one, no second bill.
        reference = (
            reference or "chainpress-" + hashlib.sha256("\n".join(items).encode()).hexdigest()[:40]
        )
        try:
            self.client.create_invalidation(
                DistributionId=self.distribution_id,
                InvalidationBatch={
                    "Paths": {"Quantity": len(items), "Items": items},
                    "CallerReference": reference,
                },
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            transient = code in _TRANSIENT or status >= 500
            raise CdnUnavailable(f"{code or status}: {exc}", transient=transient) from exc
        except BotoCoreError as exc:  # no answer (timeout, connection): maybe taken, maybe not
            raise CdnUnavailable(f"{type(exc).__name__}: {exc}") from exc
