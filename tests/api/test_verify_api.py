"""Public verification as JSON: verdicts, strict parsing, no leaks, rate limiting."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from app.db.lookups import APPLICATION_NAME
from app.db.models import Issuance
from app.domain.signing import encode_signature, signed_message
from app.main import create_app
from app.services import verification
from tests.helpers import BASE_URL, GTIN, assert_problem, free_port, ok, settings_for
from tests.helpers import post as post_events

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "passport_schema" / "passport.schema.json"
JSON = {"Accept": "application/json"}


def path_of(uri: str) -> str:
    return uri.replace(BASE_URL, "")


def scan(client, uri: str) -> dict:
    response = client.get(path_of(uri), headers=JSON)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if SCHEMA_PATH.exists():
        jsonschema.validate(body, json.loads(SCHEMA_PATH.read_text()))
    return body


def parts(uri: str) -> tuple[str, str, str]:
    split = urlsplit(uri)
    query = parse_qs(split.query)
    return split.path.split("/")[6], query["17"][0], query["8030"][0]


def test_authentic_code(client, batch, issue):
    code = issue(batch["id"], 1)[0]
    body = scan(client, code["uri"])
    assert body["verdict"] == "authentic" and body["signature"] == "valid" and body["reasons"] == []
    assert body["state"] == "issued"
    assert body["product"]["gtin"] == GTIN and body["product"]["name"] == "Paracetamol 500 mg"
    assert body["product"]["category"] == "drug_otc" and body["product"]["manufacturer"]
    assert body["lot"] == "LOT42" and body["expires_on"] == batch["expires_on"]
    assert body["recall"] is None and [s["step"] for s in body["journey"]] == ["issued"]


def test_short_forms_use_the_record(client, batch, issue):
    serial, expiry, sig = parts(issue(batch["id"], 1)[0]["uri"])
    without_lot = scan(client, f"/01/{GTIN}/21/{serial}?17={expiry}&8030={sig}")
    assert without_lot["verdict"] == "authentic" and without_lot["signature"] == "valid"
    unsigned = scan(client, f"/01/{GTIN}/21/{serial}")  # typed from the pack, or printed from a leaked serial
    assert unsigned["verdict"] == "suspect" and unsigned["signature"] == "absent"
    assert unsigned["reasons"] == ["signature_missing"] and unsigned["product"]["gtin"] == GTIN
    with_other_params = scan(client, f"/01/{GTIN}/10/LOT42/21/{serial}?17={expiry}&8030={sig}&lang=zh")
    assert with_other_params["verdict"] == "authentic"


def test_unsigned_mismatch_is_suspect(client, batch, issue):
    serial, expiry, _ = parts(issue(batch["id"], 1)[0]["uri"])
    lot = scan(client, f"/01/{GTIN}/10/LOT99/21/{serial}?17={expiry}")
    assert lot["verdict"] == "suspect" and lot["signature"] == "absent"
    assert lot["reasons"] == ["signature_missing", "lot_mismatch"]
    exp = scan(client, f"/01/{GTIN}/10/LOT42/21/{serial}?17=300101")
    assert exp["verdict"] == "suspect" and exp["reasons"] == ["signature_missing", "expiry_mismatch"]


def test_units_registered_unsigned_answer_by_their_record(client, runtime, batch, issue):
    serial, _, _ = parts(issue(batch["id"], 1)[0]["uri"])
    with runtime.sessions.begin() as session:  # as EPCIS commissioning registers them: no signing key
        session.execute(update(Issuance).values(key_tag=None))
    body = scan(client, f"/01/{GTIN}/10/LOT42/21/{serial}")
    assert body["verdict"] == "authentic" and body["signature"] == "absent" and body["reasons"] == []


def test_forged_and_foreign_signatures_leak_nothing(client, batch, issue):
    serial, expiry, sig = parts(issue(batch["id"], 1)[0]["uri"])
    forged = sig[:-3] + ("A" if sig[-3] != "A" else "B") + sig[-2:]
    body = scan(client, f"/01/{GTIN}/10/LOT42/21/{serial}?17={expiry}&8030={forged}")
    assert body["verdict"] == "invalid_signature" and body["signature"] == "invalid"
    assert body["product"] is None and body["lot"] is None and body["state"] is None
    stranger = Ed25519PrivateKey.generate()
    foreign = encode_signature(0x0BAD, stranger.sign(signed_message(GTIN, serial, "LOT42", expiry)))
    body = scan(client, f"/01/{GTIN}/10/LOT42/21/{serial}?17={expiry}&8030={foreign}")
    assert body["verdict"] == "invalid_signature" and body["reasons"] == ["unknown_signing_key"]
    assert scan(client, f"/01/{GTIN}/10/LOT42/21/{serial}?17={expiry}&8030=short")["reasons"] == ["signature_malformed"]


def test_unknown_codes_look_the_same_whatever_exists(client, batch, issue):
    issue(batch["id"], 1)
    unknown_serial = scan(client, f"/01/{GTIN}/10/LOT42/21/ZZZZZZZZZZZZ?17=281231")
    unknown_gtin = scan(client, "/01/04006381333931/10/LOT42/21/ZZZZZZZZZZZZ?17=281231")
    assert unknown_serial == unknown_gtin
    assert unknown_serial["verdict"] == "unknown" and unknown_serial["product"] is None


def test_expired_units(client, batch, issue, monkeypatch):
    uri = issue(batch["id"], 1)[0]["uri"]
    after_expiry = date.fromisoformat(batch["expires_on"]) + timedelta(days=1)
    monkeypatch.setattr(verification, "today", lambda: after_expiry)
    body = scan(client, uri)
    assert body["verdict"] == "expired" and body["reasons"] == ["expired"] and body["signature"] == "valid"
    serial, _, _ = parts(uri)
    unsigned = scan(client, f"/01/{GTIN}/10/LOT42/21/{serial}")
    assert unsigned["verdict"] == "suspect" and unsigned["reasons"] == ["signature_missing", "expired"]


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        (f"/01/{GTIN[:-1]}3/21/ABC", "invalid_gtin", "check digit"),
        (f"/01/{GTIN}/21/ABC/10/LOT", "invalid_code", "wrong place"),
        (f"/01/{GTIN}/21/AB%2", "invalid_code", "hex digits"),
        (f"/01/{GTIN}/21/AB%FF", "invalid_code", "UTF-8"),
        (f"/01/{GTIN}/21/ABC?10=LOT", "invalid_code", "belongs in the path"),
        (f"/01/{GTIN}/21/ABC?17=281332", "invalid_code", "month"),
        (f"/01/{GTIN}/21/ABC/", "invalid_code", "trailing slash"),
        (f"/01/{GTIN}/10/LOT/17/281231", "invalid_code", "not a path qualifier"),  # a lot-level scan is not malformed
        (f"/01/{GTIN}/21/{'A' * 21}", "invalid_code", "at most 20"),
        (f"/01/{GTIN}/21/A%23B", "invalid_code", "'#'"),
    ],
)
def test_malformed_scans_say_what_is_wrong(client, path, code, words):
    body = assert_problem(client.get(path, headers=JSON), 422, code)
    assert words in body["detail"]


@pytest.mark.parametrize("redis", [False, True], ids=["memory", "redis"])
def test_rate_limit_answers_429_with_retry_after(settings, runtime, batch, issue, redis):
    overrides = {"verify_rate_limit": "3/minute"}
    if redis:
        overrides["redis_url"] = "redis://127.0.0.1:6379/0"
    limited = settings_for(settings.database_url, **overrides)
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    with TestClient(create_app(limited, runtime), client=(address, 5000)) as client:
        path = f"/01/{GTIN}/21/ZZZZZZZZZZZZ"
        statuses = [client.get(path, headers=JSON).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = client.get(path, headers=JSON)
        body = assert_problem(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 60 and body["retry_after"] == int(
            refused.headers["retry-after"]
        )
    # Another serving process: with Redis it shares the count, in memory it keeps its own.
    with TestClient(create_app(limited, runtime), client=(address, 5000)) as process_two:
        assert process_two.get(path, headers=JSON).status_code == (429 if redis else 200)
    other_address = f"192.0.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    with TestClient(create_app(limited, runtime), client=(other_address, 5000)) as other:
        assert other.get(path, headers=JSON).status_code == 200


def test_an_unreachable_rate_limit_store_lets_scans_through(settings, runtime, batch, issue, caplog):
    """Redis down: the limit is not applied (said once in the log), and the scans are still answered."""
    limited = settings_for(
        settings.database_url, verify_rate_limit="2/minute", redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    uri = issue(batch["id"], 1)[0]["uri"]
    with TestClient(create_app(limited, runtime)) as client, caplog.at_level("WARNING", logger="passport"):
        verdicts = [scan(client, uri)["verdict"] for _ in range(5)]
    assert verdicts == ["authentic"] * 5
    warnings = [r.getMessage() for r in caplog.records if "rate limit not applied" in r.getMessage()]
    assert len(warnings) == 1, warnings


def _terminate(runtime, application_name: str) -> int:
    """Make the server drop this database's connections of one kind, as a restart or a proxy would."""
    with runtime.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": application_name},
            ).scalar_one()
        )


@pytest.mark.postgres_only
def test_a_lost_lookup_connection_is_replaced(client, runtime, batch, issue):
    """The lookup's own connections skip the pool's pre-ping: one the server dropped is replaced on first use."""
    uri = issue(batch["id"], 1)[0]["uri"]
    assert scan(client, uri)["verdict"] == "authentic"
    assert _terminate(runtime, APPLICATION_NAME) >= 1
    assert scan(client, uri)["verdict"] == "authentic"


@pytest.mark.postgres_only
def test_a_lost_journey_connection_is_replaced(client, runtime, maker, make_org, batch, issue):
    """A unit with a history reads its journey on the lookups' own kind of connection (not pinged first): one
    the server dropped is replaced, and the scan still answers."""
    uri = issue(batch["id"], 1)[0]["uri"]
    dist = make_org("distributor", "drug_wholesale")
    ok(post_events(client, maker, {"action": "ship", "codes": [uri], "to": dist.id}))
    assert scan(client, uri)["state"] == "in_supply_chain"
    assert _terminate(runtime, APPLICATION_NAME) >= 1  # the unit lookup's (PostgreSQL: it reads the journey too)
    body = scan(client, uri)
    assert body["state"] == "in_supply_chain" and [s["step"] for s in body["journey"]] == ["issued", "shipped"]


@pytest.mark.postgres_only
def test_a_lost_history_read_connection_is_replaced(client, runtime, maker, make_org, batch, issue):
    """A unit of a product with recalls is read in a worker thread on connections that are not pinged first:
    one the server dropped is replaced, and the scan still answers."""
    uri, other = (code["uri"] for code in issue(batch["id"], 2))
    dist = make_org("distributor", "drug_wholesale")
    ok(post_events(client, maker, {"action": "ship", "codes": [uri], "to": dist.id}))
    recall = {"gtin": GTIN, "serials": [other.split("/21/")[1].split("?")[0]], "reason": "misprint", "class": "III"}
    assert client.post("/v1/recalls", json=recall, headers=maker.headers).status_code == 201
    assert scan(client, uri)["state"] == "in_supply_chain"
    assert _terminate(runtime, "passport reads") >= 1
    body = scan(client, uri)
    assert body["state"] == "in_supply_chain" and [s["step"] for s in body["journey"]] == ["issued", "shipped"]
    assert body["verdict"] == "authentic" and body["recall"] is None
