"""The public verification limit per client address, on the `limits` library (Redis when configured).

In memory, a check is a plain call (~3-10 µs; the library's asyncio memory store costs ~50 µs, sweeping expired
entries in threads). With Redis, a check is a round trip (~0.1 ms on loopback) that would hold the event loop,
and every request in flight, on every scan: it is asked through the library's asyncio API instead, so the limiter
belongs to the event loop that first uses it (one per serving process). If Redis does not answer within half a
second, scans are let through without asking it for a few seconds (logged at most once a minute): a consumer
checking a medicine matters more than the limit.
"""

from __future__ import annotations

import logging
import math
import time

import limits
import limits.aio.strategies
import limits.strategies
from limits.errors import StorageError
from limits.storage import storage_from_string

from app.domain.errors import RateLimited

STORE_TIMEOUT_S = 0.5
STORE_RETRY_S = 5.0


class VerifyLimiter:
    def __init__(self, rate: str, redis_url: str | None) -> None:
        self.item = None if rate == "0" else limits.parse(rate)
        self._memory: limits.strategies.MovingWindowRateLimiter | None = None
        self._redis: limits.aio.strategies.MovingWindowRateLimiter | None = None
        if redis_url:
            storage = storage_from_string(
                f"async+{redis_url}",
                implementation="redispy",  # redis-py's asyncio client (limits[redis]), not the default coredis
                wrap_exceptions=True,
                socket_timeout=STORE_TIMEOUT_S,
                socket_connect_timeout=STORE_TIMEOUT_S,
            )
            self._redis = limits.aio.strategies.MovingWindowRateLimiter(storage)
        else:
            self._memory = limits.strategies.MovingWindowRateLimiter(storage_from_string("memory://"))
        self._warned_at = self._unreachable_until = -math.inf
        self._probing = False

    async def check(self, client: str) -> None:
        """Count a scan from ``client``; raise ``RateLimited`` when it is over the limit."""
        if self.item is None:
            return
        if self._memory is not None:
            if self._memory.hit(self.item, "verify", client):
                return
            reset_at = self._memory.get_window_stats(self.item, "verify", client)[0]
        else:
            refused_until = await self._ask_redis(client)
            if refused_until is None:
                return
            reset_at = refused_until
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"more than {self.item} verifications from this address; try again in {retry_after} s",
            retry_after=retry_after,
        )

    async def _ask_redis(self, client: str) -> float | None:
        """When the client's window resets if the scan is over the limit; None if it may go ahead. While Redis is
        found unreachable, scans go ahead without asking; then one scan at a time asks whether it is back."""
        assert self._redis is not None
        down = self._unreachable_until != -math.inf
        if down and (self._probing or time.monotonic() < self._unreachable_until):
            return None
        self._probing = down
        try:
            if await self._redis.hit(self.item, "verify", client):
                refused_until = None
            else:
                refused_until = (await self._redis.get_window_stats(self.item, "verify", client))[0]
        except StorageError as error:
            self._unreachable_until = time.monotonic() + STORE_RETRY_S
            if time.monotonic() - self._warned_at >= 60:
                self._warned_at = time.monotonic()
                logging.getLogger("passport").warning("verification rate limit not applied: %s", error)
            return None
        finally:
            self._probing = False
        self._unreachable_until = -math.inf
        return refused_until
