"""Per-AccessKey flow control: a token bucket for each caller, checked after the signature.

A call over the limit is refused with `Throttling.User` (HTTP 429) and `x-acs-retry-after`
(milliseconds until a token is back), the way the Alibaba Cloud gateway answers; the SDK turns
that header into its throttling error. `RateLimiter` counts in this process only; servers
use iam/rate.py `StoreRateLimiter`, whose counts live in the store and so hold across every
API process on it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Protocol

from opcenter.errors import Throttled

__all__ = ["DEFAULT_BURST", "Limiter", "RateLimiter"]

DEFAULT_BURST = 2.0  # seconds of the rate a caller may spend at once


class Limiter(Protocol):
    """What the dispatcher needs: take one call of `access_key_id` at `now` (epoch seconds),
    or raise `Throttled` carrying `retry_after_ms`."""

    def check(self, access_key_id: str, now: float) -> None: ...


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate_per_second` calls per AccessKey, with bursts of `burst_seconds` × rate.

    `check(key, now)` takes one token or raises `Throttled` carrying `retry_after_ms`.
    A rate of 0 (or less) means no limit.
    """

    def __init__(self, rate_per_second: float, *, burst_seconds: float = DEFAULT_BURST) -> None:
        self.rate = rate_per_second
        self.capacity = max(1.0, rate_per_second * burst_seconds)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, access_key_id: str, now: float) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            bucket = self._buckets.setdefault(access_key_id, _Bucket(self.capacity, now))
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait_ms = math.ceil((1.0 - bucket.tokens) / self.rate * 1000)
        raise Throttled.over_limit(access_key_id, self.rate, wait_ms)
