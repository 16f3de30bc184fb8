"""Jittered exponential backoff for the retries botocore does not make for us (pure).

botocore retries throttled *requests*; it does not retry a ``TransactWriteItems`` that DynamoDB
cancelled because another transaction held one of its items (``TransactionConflict``), nor a
publish whose read-then-commit lost a race (``ArticleConflict``). Both are retried here, with
"full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): the wait before retry
``n`` is uniform in ``[0, min(cap, base * 2**n))``, so writers that collided once do not collide
again in lockstep, and the total wait of a bounded number of attempts is bounded too.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["backoff_delay", "max_total_delay"]


def backoff_delay(
    attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry ``attempt`` (0 = the first retry): uniform in
    ``[0, min(cap, base * 2**attempt))``. ``rand`` returns a float in ``[0, 1)``."""
    if attempt < 0:
        raise ValueError("attempt counts from 0")
    return rand() * min(cap, base * 2.0 ** min(attempt, 62))


def max_total_delay(retries: int, *, base: float, cap: float) -> float:
    """The longest possible total wait of ``retries`` retries (each at its upper bound)."""
    return sum(min(cap, base * 2.0 ** min(n, 62)) for n in range(retries))
