"""The public verification limit per client address, on the `limits` library (Redis when configured).

Asked through the library's asyncio API: with Redis, a check is a round trip (~0.1 ms on loopback) that would
otherwise hold the event loop, and every request in flight, on every scan; in memory both APIs cost ~3 µs.
If the limit's store cannot be reached within half a second, scans are let through for the next few seconds
without asking it (logged at most once a minute): a consumer checking a medicine matters more than the limit.
"""

from __future__ import annotations

import logging
import math
import time

import limits
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from app.domain.errors import RateLimited

STORE_TIMEOUT_S = 0.5
STORE_RETRY_S = 5.0


class VerifyLimiter:
    def __init__(self, rate: str, redis_url: str | None) -> None:
        self.item = None if rate == "0" else limits.parse(rate)
        # redis-py's asyncio client (the `limits[redis]` extra), not the library's default, coredis
        storage = (
            storage_from_string(
                f"async+{redis_url}",
                implementation="redispy",
                wrap_exceptions=True,
                socket_timeout=STORE_TIMEOUT_S,
                socket_connect_timeout=STORE_TIMEOUT_S,
            )
            if redis_url
            else storage_from_string("async+memory://")
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._warned_at = self._unreachable_until = -math.inf

    async def check(self, client: str) -> None:
        if self.item is None or time.monotonic() < self._unreachable_until:
            return
        try:
            allowed = await self._limiter.hit(self.item, "verify", client)
            if not allowed:
                reset_at, _ = await self._limiter.get_window_stats(self.item, "verify", client)
        except StorageError as error:
            self._unreachable_until = time.monotonic() + STORE_RETRY_S
            if time.monotonic() - self._warned_at >= 60:
                self._warned_at = time.monotonic()
                logging.getLogger("passport").warning("verification rate limit not applied: %s", error)
            return
        if not allowed:
            retry_after = max(1, math.ceil(reset_at - time.time()))
            raise RateLimited(
                f"more than {self.item} verifications from this address; try again in {retry_after} s",
                retry_after=retry_after,
            )
