"""The public verification limit per client address, on the `limits` library (Redis when configured)."""

from __future__ import annotations

import math
import time

import limits
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.domain.errors import RateLimited


class VerifyLimiter:
    def __init__(self, rate: str, redis_url: str | None) -> None:
        self.item = None if rate == "0" else limits.parse(rate)
        storage = storage_from_string(redis_url if redis_url else "memory://")
        self._limiter = MovingWindowRateLimiter(storage)

    def check(self, client: str) -> None:
        if self.item is None:
            return
        if not self._limiter.hit(self.item, "verify", client):
            reset_at, _ = self._limiter.get_window_stats(self.item, "verify", client)
            retry_after = max(1, math.ceil(reset_at - time.time()))
            raise RateLimited(
                f"more than {self.item} verifications from this address; try again in {retry_after} s",
                retry_after=retry_after,
            )
