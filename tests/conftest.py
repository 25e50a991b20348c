"""Shared fixtures: every API test runs on SQLite and on PostgreSQL, each in a fresh database built by the
Alembic migrations (a migrated template is copied per test, so tests never clean up after each other)."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.cli import init
from app.config import Settings
from app.main import create_app
from app.services import orgs
from app.services.clock import utcnow
from app.services.runtime import Runtime
from tests.helpers import GTIN, Org, serving, settings_for

PG_ADMIN_URL = os.environ.get("PASSPORT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("PASSPORT_REQUIRE_POSTGRES") == "1"
_counter = itertools.count()

# Property tests explore fresh random examples on a developer's machine, but in CI (CI set, or PostgreSQL required
# as .ci/run does) they replay a fixed sequence derived from each test's name and keep no example database, so a CI
# run never fails on an example nobody has seen. An example found locally becomes a regression test.
# HYPOTHESIS_PROFILE=ci (or pytest --hypothesis-profile=ci) forces either profile. See docs/mutation-testing.md.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev")
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") or REQUIRE_PG else "dev")
)


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def _pg_url(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _pg_admin(sql: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and "sqlite" in (
            callspec.params.get("database_url"),
            callspec.params.get("empty_database_url"),
        )
        (drop if on_sqlite and item.get_closest_marker("postgres_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    init(settings_for(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    problem = _pg_available()
    if problem is not None:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({problem})"
        if REQUIRE_PG:
            pytest.fail(message + " and PASSPORT_REQUIRE_POSTGRES=1", pytrace=False)
        pytest.skip(message + ": PostgreSQL half skipped")
    name = f"passport_tpl_{os.getpid()}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{name}"')
    init(settings_for(_pg_url(name)))
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "passport.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"passport_t_{os.getpid()}_{next(_counter)}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, for testing what `passport init` builds."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_template")  # skips or fails exactly like the other PostgreSQL tests
    name = f"passport_e_{os.getpid()}_{next(_counter)}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.start(settings)
    yield rt
    rt.close()


@pytest.fixture
def server(settings: Settings, runtime: Runtime) -> Iterator[str]:
    with serving(create_app(settings, runtime)) as url:
        yield url


@pytest.fixture
def client(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_org(runtime: Runtime) -> Callable[..., Org]:
    def make(
        role: str, *licences: str, name: str | None = None, gln: str | None = None, licensed_from: date | None = None
    ) -> Org:
        """An organisation whose licences stand from yesterday (or ``licensed_from``), with no end: a test's events
        dated a few hours back must find them standing whatever the hour the suite runs (from today, events dated
        before midnight were refused ``licence_required`` between 00:00 and 03:00 UTC)."""
        with runtime.sessions.begin() as session:
            org, key = orgs.create_org(
                session,
                name=name or f"{role} {next(_counter)}",
                role=role,
                licences=licences,
                gln=gln,
                licensed_from=licensed_from or utcnow().date() - timedelta(days=1),
            )
            return Org(org.id, key, role)

    return make


@pytest.fixture
def maker(make_org: Callable[..., Org]) -> Org:
    return make_org("manufacturer", "drug_manufacturing")


@pytest.fixture
def product(client: TestClient, maker: Org) -> dict[str, Any]:
    response = client.post(
        "/v1/products",
        json={"gtin": GTIN, "name": "Paracetamol 500 mg", "category": "drug_otc"},
        headers=maker.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def batch(client: TestClient, maker: Org, product: dict[str, Any]) -> dict[str, Any]:
    today = date.today()
    response = client.post(
        "/v1/batches",
        json={
            "gtin": product["gtin"],
            "lot": "LOT42",
            "manufactured_on": (today - timedelta(days=10)).isoformat(),
            "expires_on": (today + timedelta(days=700)).isoformat(),
        },
        headers=maker.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def issue(client: TestClient, maker: Org) -> Callable[..., list[dict[str, Any]]]:
    def run(batch_id: int, count: int, org: Org | None = None) -> list[dict[str, Any]]:
        response = client.post(f"/v1/batches/{batch_id}/codes", json={"count": count}, headers=(org or maker).headers)
        assert response.status_code == 201, response.text
        codes: list[dict[str, Any]] = response.json()["codes"]
        return codes

    return run
