"""The verification rate limit when its Redis does not answer: scans go ahead, and do not all wait for it."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.api import ratelimit
from app.api.ratelimit import VerifyLimiter
from app.domain.errors import RateLimited


async def _silent_server() -> tuple[asyncio.Server, int, list[int]]:
    """A TCP server that accepts connections and never answers (a Redis that hangs); counts connections."""
    accepted: list[int] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], accepted


async def _timed(limiter: VerifyLimiter, client: str) -> float:
    start = time.monotonic()
    await limiter.check(client)
    return time.monotonic() - start


def test_a_hanging_redis_costs_one_timeout_then_one_probe_at_a_time(monkeypatch):
    monkeypatch.setattr(ratelimit, "STORE_RETRY_S", 0.3)

    async def scenario() -> tuple[list[float], list[float], list[float], int]:
        server, port, accepted = await _silent_server()
        async with server:
            limiter = VerifyLimiter("1/minute", f"redis://127.0.0.1:{port}/0")
            first = await asyncio.gather(*(_timed(limiter, f"c{i}") for i in range(4)))
            meanwhile = await asyncio.gather(*(_timed(limiter, f"c{i}") for i in range(20)))
            await asyncio.sleep(0.35)  # past the retry interval
            connections_before = len(accepted)
            later = await asyncio.gather(*(_timed(limiter, f"c{i}") for i in range(6)))
            return first, meanwhile, later, len(accepted) - connections_before

    first, meanwhile, later, probes = asyncio.run(scenario())
    # the scans already in flight when Redis hung each waited for the timeout, no longer
    assert all(0.4 <= waited < 2.0 for waited in first), first
    # then scans go ahead at once, unlimited (1/minute would have refused all but one)
    assert max(meanwhile) < 0.1, meanwhile
    # after the interval, one scan asks again and waits; the others go ahead
    assert sorted(waited >= 0.4 for waited in later) == [False] * 5 + [True], later
    assert probes == 1


def test_in_memory_the_limit_refuses_with_the_time_to_wait():
    limiter = VerifyLimiter("2/minute", None)

    async def scenario() -> RateLimited:
        await limiter.check("a")
        await limiter.check("a")
        await limiter.check("b")  # another client: its own count
        with pytest.raises(RateLimited) as refused:
            await limiter.check("a")
        return refused.value

    refused = asyncio.run(scenario())
    assert 1 <= refused.extra["retry_after"] <= 60
