"""The browser tests' fixtures: a real uvicorn on a free port (the settings' base URL is its own) and headless
Chromium. Without /usr/bin/chromium these tests skip, or fail when PASSPORT_REQUIRE_BROWSER=1 (``scripts/test``
installs Debian's chromium when it runs as root). They run on SQLite only: the browser checks pages, not databases.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.main import create_app
from tests.e2e.browser import CHROMIUM, Chromium
from tests.helpers import serving, settings_for


@pytest.fixture
def port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def settings(database_url: str, port: int):  # overrides the conftest fixture: the server's own base URL
    if "postgresql" in database_url:
        pytest.skip("the browser tests run on SQLite only")
    return settings_for(database_url, base_url=f"http://127.0.0.1:{port}")


@pytest.fixture
def chromium(settings, tmp_path: Path) -> Iterator[Chromium]:  # after settings: the PostgreSQL skip comes first
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (Debian package 'chromium'; scripts/test installs it when run as root)"
        if os.environ.get("PASSPORT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message} and PASSPORT_REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip(message)
    browser = Chromium(CHROMIUM, tmp_path / "profile")
    yield browser
    browser.close()


@pytest.fixture
def server(settings, runtime, port: int) -> Iterator[str]:
    with serving(create_app(settings, runtime), port) as url:
        yield url
