"""Issuing codes: formats, signatures checkable offline with only the JWKS, key rotation, refusals."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import date
from urllib.parse import parse_qs, unquote, urlsplit

import nacl.exceptions
import nacl.signing
import pytest
from sqlalchemy import event, func, select

from app.db.models import Issuance, Unit
from app.domain.identifiers import SERIAL_ALPHABET, SERIAL_LENGTH
from app.services.issuance import CodeRun, check_issuance, issue_codes
from app.services.orgs import Principal
from app.services.signing_pool import SigningPool
from tests.helpers import BASE_URL, GTIN, assert_problem


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def offline_check(jwks: dict, uri: str) -> bool:
    """An independent verifier: PyNaCl, the JWKS and the URI, nothing else from Passport."""
    parts = urlsplit(uri)
    segments = parts.path.split("/")
    gtin, lot, serial = segments[2], unquote(segments[4]), unquote(segments[6])
    query = parse_qs(parts.query)
    raw = b64url(query["8030"][0])
    kid = raw[:2].hex()
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    message = f"01{gtin}21{serial}\x1d10{lot}\x1d17{query['17'][0]}".encode()
    try:
        nacl.signing.VerifyKey(b64url(key["x"])).verify(message, raw[2:])
        return True
    except nacl.exceptions.BadSignatureError:
        return False


def unit_count(runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Unit))


def test_json_codes_are_signed_unique_and_verifiable_offline(client, batch, issue):
    codes = issue(batch["id"], 50)
    assert len(codes) == 50
    assert len({c["serial"] for c in codes}) == 50
    jwks = client.get("/.well-known/jwks.json").json()
    assert all(k["kty"] == "OKP" and k["crv"] == "Ed25519" and len(k["kid"]) == 4 for k in jwks["keys"])
    for code in codes:
        assert len(code["serial"]) == SERIAL_LENGTH and set(code["serial"]) <= set(SERIAL_ALPHABET)
        assert code["gtin"] == GTIN and code["lot"] == "LOT42" and code["expires_on"] == batch["expires_on"]
        expiry = date.fromisoformat(batch["expires_on"]).strftime("%y%m%d")
        assert code["uri"].startswith(f"{BASE_URL}/01/{GTIN}/10/LOT42/21/{code['serial']}?17={expiry}&8030=")
        assert len(parse_qs(urlsplit(code["uri"]).query)["8030"][0]) == 88
        assert offline_check(jwks, code["uri"])


@pytest.mark.parametrize("change", ["serial", "lot", "expiry", "signature"])
def test_offline_check_rejects_any_change(client, batch, issue, change):
    uri = issue(batch["id"], 1)[0]["uri"]
    jwks = client.get("/.well-known/jwks.json").json()
    parts = urlsplit(uri)
    segments = parts.path.split("/")
    query = parse_qs(parts.query)
    if change == "serial":
        segments[6] = ("2" if segments[6][0] != "2" else "3") + segments[6][1:]
    elif change == "lot":
        segments[4] = "LOT43"
    elif change == "expiry":
        query["17"] = [str(int(query["17"][0]) - 1)]
    else:
        raw = bytearray(b64url(query["8030"][0]))
        raw[40] ^= 0x01
        query["8030"] = [base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()]
    forged = f"{parts.scheme}://{parts.netloc}{'/'.join(segments)}?17={query['17'][0]}&8030={query['8030'][0]}"
    assert not offline_check(jwks, forged)
    verdict = client.get(forged.replace(BASE_URL, ""), headers={"Accept": "application/json"}).json()
    assert verdict["verdict"] == "invalid_signature"


def test_ndjson_and_csv_stream_the_same_shape(client, maker, batch, runtime):
    response = client.post(
        f"/v1/batches/{batch['id']}/codes",
        json={"count": 7},
        headers={**maker.headers, "Accept": "application/x-ndjson"},
    )
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 7 and set(lines[0]) == {"gtin", "serial", "lot", "expires_on", "uri"}
    issuance_id = int(response.headers["x-issuance-id"])
    assert response.headers["location"] == f"/v1/issuances/{issuance_id}"

    response = client.post(
        f"/v1/batches/{batch['id']}/codes", json={"count": 5}, headers={**maker.headers, "Accept": "text/csv"}
    )
    assert response.status_code == 201 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 5 and rows[0]["gtin"] == GTIN and rows[0]["uri"].endswith(rows[0]["uri"][-88:])
    assert unit_count(runtime) == 12


def test_an_issuance_can_be_downloaded_again_identically(client, maker, batch, make_org):
    first = client.post(f"/v1/batches/{batch['id']}/codes", json={"count": 30}, headers=maker.headers)
    issuance_id = first.json()["issuance_id"]
    again = client.get(f"/v1/issuances/{issuance_id}/codes", headers=maker.headers)
    assert again.status_code == 200
    assert again.json()["codes"] == first.json()["codes"]
    listed = client.get(f"/v1/batches/{batch['id']}/issuances", headers=maker.headers).json()["issuances"]
    assert [(i["id"], i["count"]) for i in listed] == [(issuance_id, 30)]
    rival = make_org("manufacturer", "drug_manufacturing")
    assert_problem(client.get(f"/v1/issuances/{issuance_id}/codes", headers=rival.headers), 403, "foreign_issuance")
    assert_problem(client.get("/v1/issuances/99999/codes", headers=maker.headers), 404, "issuance_not_found")


def test_issuance_refusals_change_nothing(client, runtime, maker, batch, make_org, product):
    url = f"/v1/batches/{batch['id']}/codes"
    assert_problem(client.post(url, json={"count": 0}, headers=maker.headers), 422, "validation_error")
    assert_problem(client.post(url, json={"count": 1_000_001}, headers=maker.headers), 422, "invalid_count")
    assert_problem(client.post(url, json={"count": "many"}, headers=maker.headers), 422, "validation_error")
    rival = make_org("manufacturer", "drug_manufacturing")
    assert_problem(client.post(url, json={"count": 1}, headers=rival.headers), 403, "foreign_batch")
    distributor = make_org("distributor", "drug_wholesale")
    assert_problem(client.post(url, json={"count": 1}, headers=distributor.headers), 403, "wrong_role")
    assert_problem(
        client.post("/v1/batches/424242/codes", json={"count": 1}, headers=maker.headers),
        404,
        "batch_not_found",
    )
    old = client.post(
        "/v1/batches",
        json={"gtin": GTIN, "lot": "OLD1", "manufactured_on": "2020-01-01", "expires_on": "2022-01-01"},
        headers=maker.headers,
    ).json()
    assert_problem(
        client.post(f"/v1/batches/{old['id']}/codes", json={"count": 1}, headers=maker.headers),
        409,
        "expired",
    )
    assert unit_count(runtime) == 0
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Issuance)) == 0


def test_key_rotation_keeps_old_codes_valid(client, maker, batch, issue, make_org):
    old = issue(batch["id"], 2)
    admin = make_org("admin")
    assert_problem(client.post("/v1/admin/signing-keys", headers=maker.headers), 403, "wrong_role")
    rotated = client.post("/v1/admin/signing-keys", headers=admin.headers)
    assert rotated.status_code == 201
    new = issue(batch["id"], 2)
    new_kid = rotated.json()["kid"]
    kid_of = lambda uri: b64url(parse_qs(urlsplit(uri).query)["8030"][0])[:2].hex()  # noqa: E731
    assert {kid_of(c["uri"]) for c in new} == {new_kid}
    assert kid_of(old[0]["uri"]) != new_kid
    jwks = client.get("/.well-known/jwks.json").json()
    assert {k["kid"] for k in jwks["keys"]} >= {new_kid, kid_of(old[0]["uri"])}
    for code in old + new:
        assert offline_check(jwks, code["uri"])
        verdict = client.get(code["uri"].replace(BASE_URL, ""), headers={"Accept": "application/json"}).json()
        assert verdict["verdict"] == "authentic", verdict


def test_jwks_never_carries_private_material(client, runtime):
    jwks = client.get("/.well-known/jwks.json").json()
    assert all(set(k) == {"kty", "crv", "x", "kid", "use", "alg"} for k in jwks["keys"])
    with runtime.engine.connect() as conn:
        sealed = conn.exec_driver_sql("SELECT sealed_private_key FROM signing_key").scalars().all()
    assert sealed and all(len(bytes(s)) == 12 + 32 + 16 for s in sealed)  # nonce + ciphertext + tag


def test_serial_collisions_are_redrawn(runtime, maker, batch):
    """A random source that repeats itself must not lose or duplicate codes."""
    calls = []

    def stuck_random(n: int) -> bytes:
        calls.append(n)
        return bytes(n) if len(calls) <= 2 else bytes((len(calls) * 7 + i) % 256 for i in range(n))

    principal = Principal(maker.id, "m", "manufacturer", frozenset({"drug_manufacturing"}))
    with runtime.sessions() as session:
        facts = check_issuance(session, principal, batch["id"], 4, 10)
    runs = issue_codes(runtime.engine, runtime.keyring, SigningPool(1), facts, 4, random_bytes=stuck_random, chunk=2)
    next(runs)
    serials = [s for run in runs if isinstance(run, CodeRun) for s in run.serials]
    assert len(serials) == 4 and len(set(serials)) == 4
    assert len(calls) > 2
    assert unit_count(runtime) == 4


class CommitRefused(Exception):
    pass


def test_a_failed_stream_never_lends_its_issuance_id_again(runtime, maker, batch):
    """A stream announces its id before it commits; once it fails, that id names nothing, ever (it did on SQLite,
    where the rolled-back insert gave the id back and the next issuance took it)."""
    principal = Principal(maker.id, "m", "manufacturer", frozenset({"drug_manufacturing"}))
    with runtime.sessions() as session:
        facts = check_issuance(session, principal, batch["id"], 4, 10)
    pool = SigningPool(0)
    try:
        runs = issue_codes(runtime.engine, runtime.keyring, pool, facts, 4, chunk=2)
        failed_id = next(runs)
        assert isinstance(next(runs), CodeRun)  # a chunk is in
        runs.close()  # the client went away: everything is rolled back
        assert unit_count(runtime) == 0
        ids = []
        for _ in range(2):
            runs = issue_codes(runtime.engine, runtime.keyring, pool, facts, 4, chunk=2)
            ids.append(next(runs))
            assert sum(len(run.serials) for run in runs if isinstance(run, CodeRun)) == 4
    finally:
        pool.close()
    assert failed_id < ids[0] < ids[1]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Issuance).where(Issuance.id == failed_id)) == 0


def test_an_issuance_id_announced_by_a_stream_whose_commit_failed_is_not_reused(client, runtime, maker, batch):
    def mark(conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO ISSUANCE"):
            conn.info["issuing"] = True

    def refuse(conn):
        if conn.info.pop("issuing", False):
            raise CommitRefused("commit refused")

    url = f"/v1/batches/{batch['id']}/codes"
    ndjson = {**maker.headers, "Accept": "application/x-ndjson"}
    event.listen(runtime.engine, "before_cursor_execute", mark)
    event.listen(runtime.engine, "commit", refuse)
    try:
        with client.stream("POST", url, json={"count": 3}, headers=ndjson) as failed:
            assert failed.status_code == 201  # announced before the commit, which then fails (a broken stream)
            failed_id = int(failed.headers["x-issuance-id"])
            failed.read()
    finally:
        event.remove(runtime.engine, "commit", refuse)
        event.remove(runtime.engine, "before_cursor_execute", mark)
    assert unit_count(runtime) == 0
    again = client.post(url, json={"count": 3}, headers=ndjson)
    assert again.status_code == 201
    assert int(again.headers["x-issuance-id"]) > failed_id
    assert_problem(client.get(f"/v1/issuances/{failed_id}/codes", headers=maker.headers), 404, "issuance_not_found")
