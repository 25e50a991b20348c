"""Fixtures of the API tests that several modules share (the root tests/conftest.py has the databases and apps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest


@pytest.fixture
def http(server: str) -> Iterator[Callable[[], httpx2.Client]]:
    """Clients of the real server, one per thread; each is connected (a /healthz call) before any race."""
    opened: list[httpx2.Client] = []

    def make() -> httpx2.Client:
        client = httpx2.Client(base_url=server, timeout=60)
        assert client.get("/healthz").status_code == 200
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Threads for ``tests.helpers.race``."""
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="race") as executor:
        yield executor
