"""The `passport` command: init is idempotent, orgs create prints the key once, demo prints working URLs."""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from app.audit import Report
from app.cli import _HelpWithDefaults, alembic_config, build_parser, check_installation, main, serving_loop
from app.config import Settings
from app.db.engine import make_engine
from app.db.models import ApiKey, Organisation
from app.main import create_app
from app.services.audit_replay import ReplayReport
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


def _scan(client: TestClient, url: str, **headers: str) -> dict:
    response = client.get(url.removeprefix("https://demo.test"), headers={"Accept": "application/json", **headers})
    assert response.status_code == 200, response.text
    return response.json()


def test_demo_prints_urls_that_verify(env, capsys, database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("PASSPORT_MASTER_KEY", MASTER_KEY)  # the template's key is sealed under this one
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    printed = [(i, line.strip()) for i, line in enumerate(lines) if line.strip().startswith("https://demo.test/01/")]
    urls = [url for _, url in printed if "/21/" in url]
    assert len(urls) == 4
    levels = [(lines[i - 1].split(" -> ")[1].split(":")[0], url) for i, url in printed if "/21/" not in url]
    forged = next(line.split()[-1] for line in lines if "forged signature" in line)
    regulator = next(line.split()[-1] for line in lines if line.strip().startswith("regulator "))
    settings = Settings(database_url=database_url, master_key=MASTER_KEY, verify_rate_limit="0")
    with TestClient(create_app(settings)) as client:
        seen = []
        for url in urls:
            body = _scan(client, url)
            seen.append((body["verdict"], body["state"], body["journey"][-1]["step"]))
        assert seen == [
            ("suspect", "sold", "sold_in_store"),
            ("authentic", "sold", "sold_online"),
            ("authentic", "in_supply_chain", "received"),
            ("authentic", "issued", "issued"),
        ]
        bad = _scan(client, forged)
        assert bad["verdict"] == "invalid_signature"

        # Product- and lot-level codes: each answers the verdict printed beside it (docs/resolver.md) and a passport.
        assert [verdict for verdict, _ in levels] == [
            "registered",
            "registered",
            "recalled",
            "registered",
            "registered",
        ]
        assert [url.count("/10/") for _, url in levels] == [0, 1, 1, 0, 1]
        scans = {url: _scan(client, url) for _, url in levels}
        assert [scans[url]["verdict"] for _, url in levels] == [verdict for verdict, _ in levels]
        food, food_lot, recalled, valve, valve_lot = (scans[url] for _, url in levels)
        assert food["product"]["category"] == "food" and valve["product"]["category"] == "industrial"
        assert food["recalled_lots"] == [recalled["lot"]] and "refund" in recalled["recall"]["instructions"]
        for body in (food, food_lot, valve, valve_lot):
            passport = body["passport"]
            assert passport["tier"] == "public" and passport["manufacturer"]["uscc"]
            assert {"standards", "certifications", "composition", "instructions", "warnings", "disposal"} <= set(
                passport
            )
            assert "test_reports" not in passport and "facility" not in passport  # not for anonymous scans
        assert food_lot["passport"]["versions"] == {"product": 1, "lot": 1}
        assert food_lot["passport"]["origin"] == {"country": "CN", "region": "CN-NM"}  # the lot's, over the product's
        assert food["passport"]["storage"]["max_celsius"] == 25
        assert sorted(c["status"] for c in valve["passport"]["certifications"]) == ["expired", "valid"]
        certificate = next(c["document"] for c in food["passport"]["certifications"] if "document" in c)
        pdf = client.get(f"/v1/documents/{certificate}")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"

        authority = _scan(client, levels[4][1], Authorization=f"Bearer {regulator}")["passport"]
        assert authority["tier"] == "authority" and authority["facility"]["name"].endswith("hall C")
        assert len(authority["test_reports"]) == 2  # the product's type test and the lot's pressure test
        page = client.get(levels[1][1].removeprefix("https://demo.test"), headers={"Accept": "text/html"})
        assert page.status_code == 200 and 'data-verdict="registered"' in page.text and "Jiangnan Dairy" in page.text

        # The Chinese drug: a unit, box and case of 20-digit codes, imported; the case shipped and received by its
        # code, a unit sold and settled once, its second settlement refused (docs/cn-drug-codes.md).
        cn = [line.strip() for line in lines if line.strip().startswith("https://demo.test/cn/")]
        assert len(cn) == 2 and all(len(url.rsplit("/", 1)[1]) == 20 for url in cn)
        assert "settlement of it was refused (already_settled)" in out and "3 package levels" in out
        sold, untouched = _scan(client, cn[0]), _scan(client, cn[1])
        assert (sold["verdict"], sold["state"], sold["signature"]) == ("authentic", "sold", "absent")
        assert sold["product"]["gtin"] == untouched["product"]["gtin"] and sold["lot"] == "C2611"
        assert sold["sales"]["count"] >= 1 and sold["sales"]["region"] == "CN-11"
        assert (untouched["state"], untouched["sales"]["count"]) == ("in_supply_chain", 0)

        # A pack sold online and recalled: the recall is relayed to the marketplace as its order (issue 20).
        relay = next(line for line in lines if line.startswith("Recall ") and "sold online (order " in line)
        recall_id, order_ref = relay.split()[1], relay.split("(order ")[1].split(")")[0]
        market = {
            "Authorization": f"Bearer {next(line.split()[-1] for line in lines if line.startswith('  platform '))}"
        }
        [order] = client.get(f"/v1/recalls/{recall_id}/orders", headers=market).json()["orders"]
        assert order["order_ref"] == order_ref and len(order["units"]) == 1 and order["acknowledged_at"] is None
        acked = client.post(f"/v1/recalls/{recall_id}/orders/ack", json={"order_refs": [order_ref]}, headers=market)
        assert acked.status_code == 200 and acked.json()["online_orders"] == {"total": 1, "acknowledged": 1}

        # The buyers' receipts of the two sales, and one tampered with (docs/receipts.md).
        receipts = [line.strip() for line in lines if line.strip().startswith("https://demo.test/r/")]
        checked = [client.get(url.removeprefix("https://demo.test"), headers={"Accept": "application/json"}).json()
                   for url in receipts]  # fmt: skip
        assert [(c["valid"], (c["state"] or {}).get("standing"), c.get("reason")) for c in checked] == [
            (True, "sold_once", None), (True, "sold_once", None), (False, None, "bad_signature"),
        ]  # fmt: skip
        assert [c["receipt"]["channel"] for c in checked[:2]] == ["offline", "online"]

    qr = tmp_path / "qr"
    assert main(["demo", "--qr-dir", str(qr)]) == 0  # a second run reuses the demo organisations and products
    again = capsys.readouterr().out
    assert len([line for line in again.splitlines() if line.startswith("    https://demo.test/01/")]) == 9
    assert len([line for line in again.splitlines() if line.startswith("    https://demo.test/cn/")]) == 2
    cn_files = [
        f"cn-{level}-{kind}" for level in ("box", "case", "unit") for kind in ("code128.png", "code128.svg", "qr.png")
    ]
    assert sorted(p.name for p in qr.iterdir()) == cn_files + [f"code-{n:02d}.png" for n in range(1, 15)]
    assert (qr / "code-05.png").read_bytes().startswith(b"\x89PNG")
    # the barcodes say the codes the report printed: Code 128 and QR, read back by a decoder
    unit = next(
        line.split()[1].rstrip(",")
        for line in again.splitlines()
        if line.startswith("  unit ") and "settled once" in line
    )
    case = next(line.split()[4].rstrip(":") for line in again.splitlines() if line.startswith("  box "))
    assert [(r.text, r.format.name) for r in zxingcpp.read_barcodes(Image.open(qr / "cn-unit-code128.png"))] == [
        (unit, "Code128")
    ]
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(qr / "cn-case-qr.png"))] == [case]
    assert unit in (qr / "cn-unit-code128.svg").read_text()  # the digits under the bars
    with TestClient(create_app(settings)) as client:
        assert _scan(client, levels[1][1])["passport"]["versions"] == {"product": 1, "lot": 1}  # no new versions


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Another directory, with no PASSPORT_* settings: the defaults name ./passport.db and ./passport-master.key."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    monkeypatch.chdir(directory)
    for name in ("DATABASE_URL", "MASTER_KEY", "MASTER_KEY_FILE"):
        monkeypatch.delenv(f"PASSPORT_{name}", raising=False)
    return directory


def test_demo_run_from_another_directory_creates_nothing_and_says_where_it_looked(elsewhere, capsys):
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert f"no database at {elsewhere / 'passport.db'}" in err and "relative to the directory you run in" in err
    assert "PASSPORT_DATABASE_URL" in err and "PASSPORT_MASTER_KEY" in err and "passport init" in err
    assert list(elsewhere.iterdir()) == []  # no database, no master key


def test_demo_refuses_a_database_nobody_initialised(fresh, capsys, empty_database_url, monkeypatch):
    if empty_database_url.startswith("postgresql"):  # trust auth ignores the password; the message must not show it
        monkeypatch.setenv("PASSPORT_DATABASE_URL", empty_database_url.replace("postgres@", "postgres:s3cret@"))
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    if empty_database_url.startswith("sqlite"):
        assert "no database at" in err
        assert not Path(empty_database_url.removeprefix("sqlite:///")).exists()
    else:
        assert "has not been initialised" in err and "s3cret" not in err and "postgres:***@" in err
    assert "passport init" in err and not fresh.exists()


def test_demo_refuses_without_the_servers_master_key(env, capsys, database_url, monkeypatch):
    assert main(["demo"]) == 2  # no PASSPORT_MASTER_KEY, and the key file the settings name does not exist
    err = capsys.readouterr().err
    assert f"looked for {env}" in err and "PASSPORT_MASTER_KEY" in err and not env.exists()
    monkeypatch.setenv("PASSPORT_MASTER_KEY", base64.b64encode(bytes(range(1, 33))).decode())
    assert main(["demo"]) == 2  # a key, but not the one that sealed this database's signing keys
    err = capsys.readouterr().err
    assert "forged" in err and "does not open signing key" in err
    runtime = Runtime.start(Settings(database_url=database_url, master_key=MASTER_KEY))
    try:
        with runtime.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Organisation)) == 0  # nothing loaded
    finally:
        runtime.close()


def _revision(database_url: str) -> str | None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_demo_refuses_a_database_behind_this_checkouts_schema(env, capsys, database_url, monkeypatch):
    monkeypatch.setenv("PASSPORT_MASTER_KEY", MASTER_KEY)
    config = alembic_config(database_url)
    scripts = ScriptDirectory.from_config(config)
    head = scripts.get_current_head()
    previous = scripts.get_revision(head).down_revision
    assert isinstance(previous, str) and previous != head  # one parent: "-1" has one revision to go to
    assert _revision(database_url) == head
    command.downgrade(config, "-1")
    assert _revision(database_url) == previous  # down exactly one revision, not to base nor left at head
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert f"schema revision {previous}, this checkout at {head}" in err and "passport init" in err
    assert main(["init"]) == 0  # what the message says to run upgrades it back
    capsys.readouterr()
    assert _revision(database_url) == head
    check_installation(Settings(database_url=database_url, master_key=MASTER_KEY))  # ready again: raises nothing


def _options(parser: argparse.ArgumentParser, path: str = "passport") -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_every_option_has_help_that_shows_its_default():
    """An option with a default shows it; one without says it is required or what happens when it is not given."""
    parser = build_parser()
    options = list(_options(parser))
    assert len(options) >= 15
    in_required_groups = {
        id(action)
        for sub in _parsers(parser)
        for group in sub._mutually_exclusive_groups
        if group.required
        for action in group._group_actions
    }
    formatter = _HelpWithDefaults("passport")
    for path, action in options:
        where = f"{path} {'/'.join(action.option_strings)}"
        assert action.help, f"{where} has no help"
        shown = formatter._get_help_string(action) or ""
        meaningful = not action.required and action.default not in (None, []) and not isinstance(action.default, bool)
        assert ("(default: %(default)s)" in shown) == meaningful, where
        if not meaningful and not isinstance(action.default, bool) and id(action) not in in_required_groups:
            assert "(required)" in action.help or "unless given" in action.help, where


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["serve"], ["--host HOST", "(default: 127.0.0.1)", "(default: 8000)", "(default: 1)", "(default: info)"]),
        (["orgs", "create"], ["--licence KIND", "repeat for each", "drug_retail", "(required)", "none unless given"]),
        (["webhooks", "deliver"], ["(default: 1000)"]),
        (["demo"], ["--qr-dir DIR", "passport init"]),
    ],
)
def test_help_text(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal's width
    for text in expected:
        assert text in out, text


def test_serve_refuses_to_start_without_a_master_key(env, capsys):
    assert main(["serve", "--port", "1"]) == 2
    assert "passport init" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("choice", "url", "workers", "loop"),
    [
        ("auto", "sqlite:///./passport.db", 1, "asyncio"),
        ("auto", "sqlite:///./passport.db", 2, "uvloop"),
        ("auto", "postgresql+psycopg://u@h/db", 1, "uvloop"),
        ("auto", "postgres://u@h/db", 4, "uvloop"),
        ("uvloop", "sqlite:///./passport.db", 1, "uvloop"),
        ("asyncio", "postgresql+psycopg://u@h/db", 2, "asyncio"),
    ],
)
def test_serving_loop_by_database_and_workers_unless_told(choice, url, workers, loop):
    """uvloop's tail with one worker on SQLite; its spread of connections over workers and speed on PostgreSQL."""
    assert serving_loop(choice, url, workers) == loop


@pytest.mark.parametrize(
    ("argv", "loop"), [([], "asyncio"), (["--workers", "2"], "uvloop"), (["--loop", "uvloop"], "uvloop")]
)
def test_serve_passes_the_loop_to_uvicorn(argv, loop, monkeypatch):
    import uvicorn

    import app.cli

    ran = {}
    monkeypatch.setenv("PASSPORT_DATABASE_URL", "sqlite:///./never-opened.db")
    monkeypatch.setattr(app.cli, "load_master_key", lambda settings: None)
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: ran.update(options, target=target))
    assert main(["serve", "--port", "1", *argv]) == 0
    assert ran["loop"] == loop
    assert ran["target"] == "app.main:app_from_environment" and ran["port"] == 1


def test_serve_refuses_an_unknown_loop(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--loop", "trio"])
    assert exit_info.value.code == 2
    assert "--loop" in capsys.readouterr().err


def test_printed_counts_name_one_thing_in_the_singular():
    checked = {
        "checkpoints": 1,
        "leaves": 1,
        "leaves withheld from this key (hash checked, content not)": 1,
        "consistency proofs": 0,
        "inclusion proofs": 2,
    }
    assert Report(checked=checked).text() == (
        "log verified: 1 checkpoint, 1 leaf, 1 leaf withheld from this key (hash checked, content not), "
        "0 consistency proofs, 2 inclusion proofs"
    )
    assert Report(findings=["a"]).text().startswith("LOG VERIFICATION FAILED (1 finding)\n")
    assert Report(findings=["a", "b"]).text().startswith("LOG VERIFICATION FAILED (2 findings)\n")
    assert ReplayReport(events=1, units=1, containers=2).text() == (
        "replay verified: 1 event replayed, 1 unit and 2 containers checked, lot counters compared; "
        "derived state agrees with the log"
    )
