"""Rate limits aimed at what an attacker gains: failures, counted per client, and the
attempts of callers without an API key. A valid key's successful work is never counted,
and a genuine credential is never refused for anyone's failures.

Counters live in this process (``limits``' memory storage), so with several instances
each enforces its own share."""

from __future__ import annotations

import math
import time
from enum import StrEnum

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from service import metrics
from service.errors import RateLimited


class Bucket(StrEnum):
    # Failures: counted after the fact; once over, only further failures are refused.
    FAILED_AUTH_PER_IP = "failed-auth-ip"
    FAILED_TOKENS_PER_CREDENTIAL = "failed-tokens-credential"
    # Attempts: counted before the work and refused once over.
    VERIFY_PER_CREDENTIAL = "verify-credential"
    REFRESH_PER_IP = "refresh-ip"
    REFRESH_PER_SESSION = "refresh-session"


class RateLimits:
    """Named buckets, each a list of limits (``"10/second;300/minute"``); a bucket
    without limits counts nothing."""

    def __init__(self, limits: dict[Bucket, str]) -> None:
        self._limits: dict[Bucket, list[RateLimitItem]] = {
            bucket: parse_many(spec) for bucket, spec in limits.items() if spec
        }
        self._limiter = FixedWindowRateLimiter(MemoryStorage())

    def enabled(self, bucket: Bucket) -> bool:
        """Whether ``bucket`` has any limit (callers skip the work of keying it if not)."""
        return bucket in self._limits

    def hit(self, bucket: Bucket, key: str) -> None:
        """Count one attempt; ``RateLimited`` (with a retry hint) when over a limit."""
        for item in self._limits.get(bucket, ()):
            if not self._limiter.hit(item, bucket.value, key):
                metrics.RATE_LIMITED.labels(bucket.value).inc()
                raise self._refusal(item, bucket, key)

    def _refusal(self, item: RateLimitItem, bucket: Bucket, key: str) -> RateLimited:
        reset = self._limiter.get_window_stats(item, bucket.value, key).reset_time
        return RateLimited(
            "too many requests; retry later", retry_after=max(1, math.ceil(reset - time.time()))
        )
