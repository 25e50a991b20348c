"""The read-replica tests' PostgreSQL: a primary and a streaming standby of their own (tests/pg_standby.py), started
once per session and only when a test here asks for them, ended after the session whatever happened.

Each test gets a fresh database on the primary (copied from a migrated template), already replayed on the standby,
and the root conftest's fixtures (``client``, ``runtime``, ``maker``, ...) serve it with
``PASSPORT_READ_DATABASE_URL`` naming the standby. Without PostgreSQL's server binaries the tests skip, or fail when
PASSPORT_REQUIRE_POSTGRES=1 (as in CI).
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from app.cli import init
from app.config import Settings
from tests.helpers import settings_for
from tests.pg_standby import StandbyPair, find_bin

REQUIRE_PG = os.environ.get("PASSPORT_REQUIRE_POSTGRES") == "1"
TEMPLATE = "passport_tpl"
_counter = itertools.count()


@pytest.fixture(scope="session")
def standby_pair() -> Iterator[StandbyPair]:
    bin_dir = find_bin()
    if bin_dir is None:
        message = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (initdb, pg_basebackup)"
        if REQUIRE_PG:
            pytest.fail(message + " and PASSPORT_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(message + ": the read-replica tests skipped")
    pair = StandbyPair(bin_dir)
    # A SIGTERM (a CI timeout, `kill`) ends the session through its finalizers too, so the servers are stopped.
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        pair.start()
        with pair.primary("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        init(settings_for(pair.url(pair.primary_port, TEMPLATE)))
        yield pair
    finally:
        pair.stop()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@pytest.fixture
def database_url(standby_pair: StandbyPair) -> Iterator[str]:
    """A fresh database on the primary, replayed on the standby before the test starts."""
    name = f"passport_r_{next(_counter)}"
    with standby_pair.primary("postgres") as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    standby_pair.wait_caught_up()
    try:
        yield standby_pair.url(standby_pair.primary_port, name)
    finally:
        standby_pair.resume_replay()  # a test that paused replay must not leave it paused
        with standby_pair.primary("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def standby_url(standby_pair: StandbyPair, database_url: str) -> str:
    return database_url.replace(f":{standby_pair.primary_port}/", f":{standby_pair.standby_port}/")


@pytest.fixture
def settings(database_url: str, standby_url: str) -> Settings:
    return settings_for(database_url, read_database_url=standby_url, max_replica_lag_seconds=1.0)
