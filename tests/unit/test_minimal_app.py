"""scripts/minimal_app.py, the benchmarks' reference endpoints, does what the benchmark documents say it does: each
insert endpoint stores exactly one row per request, and bad input stores nothing. The benchmarks only time it; a
reference that silently stored nothing (or two rows) would make every ratio against it wrong."""

from __future__ import annotations

import importlib
import sqlite3
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture
def minimal(tmp_path, monkeypatch):
    path = tmp_path / "minimal.db"
    monkeypatch.setenv("MINIMAL_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.syspath_prepend(str(SCRIPTS))
    sys.modules.pop("minimal_app", None)
    module = importlib.import_module("minimal_app")
    yield module, path
    module.orm_engine.dispose()
    sys.modules.pop("minimal_app", None)


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_raw_insert_stores_one_row_a_request(minimal):
    module, path = minimal
    client = TestClient(module.app)
    for n in (1, 2, 3):
        assert client.post("/rows", json={"n": n}).status_code == 201
    assert _count(path, "minimal_row") == 3


def test_raw_insert_refuses_bad_input_and_stores_nothing(minimal):
    module, path = minimal
    client = TestClient(module.app)
    assert client.post("/rows", json={"n": "seven"}).status_code == 422
    assert client.post("/rows", content=b"not json", headers={"content-type": "application/json"}).status_code == 422
    assert _count(path, "minimal_row") == 0


def test_tutorial_insert_stores_one_row_and_answers_it(minimal):
    module, path = minimal
    client = TestClient(module.app)
    first = client.post("/orm-rows", json={"n": 7})
    second = client.post("/orm-rows", json={"n": 8})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["n"] == 7 and second.json()["n"] == 8
    assert second.json()["id"] == first.json()["id"] + 1
    assert _count(path, "minimal_orm_row") == 2


def test_tutorial_insert_refuses_bad_input_and_stores_nothing(minimal):
    module, path = minimal
    client = TestClient(module.app)
    assert client.post("/orm-rows", json={"n": "seven"}).status_code == 422
    assert client.post("/orm-rows", json={}).status_code == 422
    assert _count(path, "minimal_orm_row") == 0


def test_tutorial_engine_uses_the_services_sqlite_pragmas(minimal):
    module, _ = minimal
    with module.orm_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
