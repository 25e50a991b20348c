"""The `passport` command: init is idempotent, orgs create prints the key once, demo prints working URLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.cli import main
from app.config import Settings
from app.db.models import ApiKey
from app.main import create_app
from app.services.runtime import Runtime
from tests.helpers import MASTER_KEY


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, empty_database_url: str, tmp_path: Path) -> Path:
    """An empty database and no master key yet: what a new installation starts from."""
    monkeypatch.setenv("PASSPORT_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("PASSPORT_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    monkeypatch.delenv("PASSPORT_MASTER_KEY", raising=False)
    return tmp_path / "master.key"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Path:
    monkeypatch.setenv("PASSPORT_DATABASE_URL", database_url)
    monkeypatch.setenv("PASSPORT_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    monkeypatch.delenv("PASSPORT_MASTER_KEY", raising=False)
    monkeypatch.setenv("PASSPORT_BASE_URL", "https://demo.test")
    monkeypatch.setenv("PASSPORT_VERIFY_RATE_LIMIT", "0")
    return tmp_path / "master.key"


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_init_builds_an_empty_database_and_is_idempotent(fresh, capsys, empty_database_url):
    assert main(["init"]) == 0
    first = _json_line(capsys.readouterr().out)
    assert first == {"database": "ready", "signing_key": "0001", "log": "localhost:8000/log"}
    assert fresh.exists() and (fresh.stat().st_mode & 0o777) == 0o600
    assert main(["init"]) == 0
    assert _json_line(capsys.readouterr().out) == first
    master = fresh.read_text().strip()
    runtime = Runtime.start(Settings(database_url=empty_database_url, master_key=master))
    try:
        with runtime.sessions() as session:
            assert runtime.keyring.current_signer(session).key_tag == 1
    finally:
        runtime.close()


def test_init_refuses_a_master_key_that_does_not_open_the_stored_keys(env, capsys):
    # The template's keys are sealed under the test master key; the key file init creates here is another.
    assert main(["init"]) == 2
    assert "master key" in capsys.readouterr().err


def test_orgs_create_prints_id_and_key_once(env, capsys, database_url):
    assert (
        main(
            [
                "orgs",
                "create",
                "--name",
                "Renmin Pharmacy",
                "--role",
                "retailer",
                "--licence",
                "drug_retail",
                "--licence",
                "online_drug_sales",
                "--gln",
                "9501101020016",
            ]
        )
        == 0
    )
    created = _json_line(capsys.readouterr().out)
    assert created["id"] and created["api_key"].startswith("pp_")
    assert created["licences"] == ["drug_retail", "online_drug_sales"] and created["role"] == "retailer"
    runtime_settings = Settings(database_url=database_url, master_key=MASTER_KEY)
    runtime = Runtime.start(runtime_settings)
    try:
        with runtime.sessions() as session:
            hashes = session.scalars(select(ApiKey.key_hash)).all()
        assert created["api_key"] not in hashes
    finally:
        runtime.close()
    assert main(["orgs", "create", "--name", "Twin", "--role", "retailer", "--gln", "9501101020016"]) == 2
    assert "already belongs" in capsys.readouterr().err


def test_rotate_and_list_keys(env, capsys, monkeypatch):
    monkeypatch.setenv("PASSPORT_MASTER_KEY", MASTER_KEY)
    assert main(["keys", "rotate"]) == 0
    rotated = _json_line(capsys.readouterr().out)
    assert main(["keys", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert rotated["kid"] in {k["kid"] for k in listed["keys"]} and len(listed["keys"]) >= 2


def test_demo_prints_urls_that_verify(env, capsys, database_url, monkeypatch):
    monkeypatch.setenv("PASSPORT_MASTER_KEY", MASTER_KEY)  # the template's key is sealed under this one
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    urls = [line.strip() for line in out.splitlines() if line.strip().startswith("https://demo.test/01/")]
    assert len(urls) == 4
    forged = next(line.split()[-1] for line in out.splitlines() if "forged signature" in line)
    settings = Settings(database_url=database_url, master_key=MASTER_KEY, verify_rate_limit="0")
    with TestClient(create_app(settings)) as client:
        seen = []
        for url in urls:
            body = client.get(url.removeprefix("https://demo.test"), headers={"Accept": "application/json"}).json()
            seen.append((body["verdict"], body["state"], body["journey"][-1]["step"]))
        assert seen == [
            ("suspect", "sold", "sold_in_store"),
            ("authentic", "sold", "sold_online"),
            ("authentic", "in_supply_chain", "received"),
            ("authentic", "issued", "issued"),
        ]
        bad = client.get(forged.removeprefix("https://demo.test"), headers={"Accept": "application/json"}).json()
        assert bad["verdict"] == "invalid_signature"
    assert main(["demo"]) == 0  # a second run reuses the demo organisations and product
    assert len([line for line in capsys.readouterr().out.splitlines() if "https://demo.test/01/" in line]) >= 4


def test_serve_refuses_to_start_without_a_master_key(env, capsys):
    assert main(["serve", "--port", "1"]) == 2
    assert "passport init" in capsys.readouterr().err
