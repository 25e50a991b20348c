"""Signed sale receipts (issue 20): one per unit of every accepted sale and dispensing, checked offline with PyJWT
(an independent JOSE library) and online at /r/{token} (JSON and zh/en page), bad tokens answered valid=false with a
reason (never a 5xx), a returned-and-resold pack called suspect, 20-digit codes, bulk sales and the till's QR."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import jwt
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.db.models import Event, Issuance, LogNode, LogPending
from app.db.units import insert_units
from app.domain import merkle
from app.domain.jws import b64url, sign_compact
from app.domain.signing import Signer
from app.services import receipts
from app.services.clock import utcnow
from app.services.runtime import Runtime
from app.web.receipt_pages import render_receipt
from tests.helpers import BASE_URL, GTIN, JSON, Org, assert_problem, ok, post

HTML = {"Accept": "text/html"}
CLAIMS = {"action", "channel", "event_id", "gtin", "iss", "log_index", "region", "serial", "sold_at"}


@pytest.fixture
def pharmacy(make_org: Callable[..., Org]) -> Org:
    return make_org("retailer", "drug_retail", licensed_from=date.today() - timedelta(days=30))


@pytest.fixture
def stock(client: Any, maker: Org, pharmacy: Org, batch: dict[str, Any], issue: Any) -> list[str]:
    """Six units on the pharmacy's shelf."""
    uris = [c["uri"] for c in issue(batch["id"], 6)]
    ok(post(client, maker, {"action": "ship", "codes": uris, "to": pharmacy.id}))
    ok(post(client, pharmacy, {"action": "receive", "codes": uris}))
    return uris


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def offline(client: Any, token: str) -> dict[str, Any]:
    """Check a receipt as a buyer's app would: the published JWKS and PyJWT, no code of this service."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["typ"] == "passport-receipt+jws"
    [key] = [k for k in client.get("/.well-known/jwks.json").json()["keys"] if k["kid"] == header["kid"]]
    claims: dict[str, Any] = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["EdDSA"])
    return claims


def check(client: Any, token: str) -> dict[str, Any]:
    response = client.get(f"/r/{token}", headers=JSON)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def sell(client: Any, org: Org, codes: list[str], **more: Any) -> dict[str, Any]:
    [result] = ok(post(client, org, {"action": "sell", "codes": codes, "channel": "offline", **more}))
    assert result["status"] == "accepted"
    return result


def test_each_unit_sold_gets_a_receipt_that_checks_offline_and_online(
    client: Any, pharmacy: Org, stock: list[str]
) -> None:
    result = sell(client, pharmacy, stock[:2], region="CN-11")
    assert [r["code"] for r in result["receipts"]] == stock[:2]
    for receipt, uri in zip(result["receipts"], stock[:2], strict=True):
        claims = offline(client, receipt["token"])
        assert set(claims) == CLAIMS  # no seller, no price, no order reference
        assert pharmacy.id not in b64(receipt["token"].split(".")[1]).decode()
        assert claims["gtin"] == GTIN and f"/21/{claims['serial']}" in uri
        assert (claims["event_id"], claims["log_index"]) == (result["event_id"], result["log_index"])
        assert (claims["region"], claims["channel"], claims["action"], claims["iss"]) == (
            "CN-11", "offline", "sell", BASE_URL,
        )  # fmt: skip

        body = check(client, receipt["token"])
        assert body["valid"] is True and body["receipt"] == claims
        assert body["state"] == {
            "standing": "sold_once", "suspect": False, "sales": 1, "sale_number": 1, "unit_status": "sold",
            "product": "Paracetamol 500 mg",
        }  # fmt: skip
        proof = body["proof"]
        assert proof["included"] is True and proof["leaf_matches"] is True
        assert proof["leaf_index"] == claims["log_index"] < proof["tree_size"]
        # The path leads from the sale's leaf to the root that the signed checkpoint carries (its third line).
        root = b64decode_std(proof["checkpoint"].split("\n")[2])
        path = [b64decode_std(p) for p in proof["audit_path"]]
        merkle.verify_inclusion(b64decode_std(proof["leaf_hash"]), proof["leaf_index"], proof["tree_size"], path, root)
        logged = client.get(f"/v1/log/proof/inclusion?leaf_index={proof['leaf_index']}&tree_size={proof['tree_size']}")
        assert logged.json()["audit_path"] == proof["audit_path"]


def b64decode_std(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def test_other_events_carry_no_receipts_and_a_replay_gets_the_same_ones(
    client: Any, pharmacy: Org, stock: list[str]
) -> None:
    shipped = ok(post(client, pharmacy, {"action": "lock", "codes": [stock[5]]}))[0]
    assert "receipts" not in shipped
    first = sell(client, pharmacy, [stock[0]], idempotency_key="till-7-0001")
    [again] = ok(post(client, pharmacy, {"action": "sell", "codes": [stock[0]], "idempotency_key": "till-7-0001"}))
    assert again["status"] == "duplicate" and again["receipts"] == first["receipts"]  # Ed25519 is deterministic
    listed = client.get(f"/v1/events/{first['event_id']}/receipts", headers=pharmacy.headers)
    assert listed.status_code == 200 and listed.json()["receipts"] == first["receipts"]


def test_only_the_seller_lists_a_sale_s_receipts(
    client: Any, pharmacy: Org, stock: list[str], make_org: Callable[..., Org]
) -> None:
    sold = sell(client, pharmacy, [stock[0]])
    rival = make_org("retailer", "drug_retail")
    assert_problem(client.get(f"/v1/events/{sold['event_id']}/receipts", headers=rival.headers), 404, "event_not_found")
    assert_problem(client.get(f"/v1/events/{sold['event_id']}/receipts"), 401, "missing_api_key")
    locked = ok(post(client, pharmacy, {"action": "lock", "codes": [stock[1]]}))[0]
    assert_problem(client.get(f"/v1/events/{locked['event_id']}/receipts", headers=pharmacy.headers), 404, "not_a_sale")
    assert_problem(
        client.get("/v1/events/99999999999999999999/receipts", headers=pharmacy.headers), 404, "event_not_found"
    )


def tampered(token: str, **changes: Any) -> str:
    head, payload, signature = token.split(".")
    claims = json.loads(b64(payload))
    return f"{head}.{b64url(json.dumps({**claims, **changes}).encode())}.{signature}"


def test_bad_tokens_are_invalid_with_a_reason_never_a_server_error(
    client: Any, runtime: Runtime, pharmacy: Org, stock: list[str], make_org: Callable[..., Org]
) -> None:
    token = sell(client, pharmacy, [stock[0]])["receipts"][0]["token"]
    head = jwt.get_unverified_header(token)
    stranger = Signer(int(head["kid"], 16), os.urandom(32))  # the same kid, another key
    with runtime.sessions() as session:
        ours = runtime.keyring.current_signer(session)
    partner_answer = sign_compact({"verified": True}, ours, typ="lms-verification+jws")
    claims = offline(client, token)
    cases = {
        "tampered serial": (tampered(token, serial="OTHER1"), "bad_signature"),
        "tampered region": (tampered(token, region="CN-31"), "bad_signature"),
        "truncated": (token[:-12], "bad_signature"),
        "cut in two": (token.rsplit(".", 1)[0], "malformed"),
        "cut in the payload": (token[: len(token) // 2], "malformed"),
        "other key, same kid": (sign_compact(claims, stranger, typ="passport-receipt+jws"), "bad_signature"),
        "unknown kid": (
            sign_compact(claims, Signer(0xFFF0, os.urandom(32)), typ="passport-receipt+jws"),
            "unknown_key",
        ),
        "a partner answer": (partner_answer, "wrong_type"),
        "not a JWS": ("hello", "malformed"),
        "too long": ("a" * 3000, "malformed"),
        "nested too deep": (f"{b64url(b'[' * 1500)}.{b64url(b'{}')}.AA", "malformed"),
    }
    for name, (bad, reason) in cases.items():
        response = client.get(f"/r/{bad}", headers=JSON)
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert (body["valid"], body["reason"]) == (False, reason), name
        assert body["receipt"] is None and body["state"] is None and body["proof"] is None and body["detail"]
        page = client.get(f"/r/{bad}?lang=en", headers=HTML)
        assert page.status_code == 200 and "Not a valid receipt" in page.text, name
    signed_junk = sign_compact({"gtin": GTIN}, ours, typ="passport-receipt+jws")
    body = check(client, signed_junk)
    assert (body["valid"], body["reason"]) == (False, "bad_claims") and "missing" in body["detail"]
    zh = client.get(f"/r/{tampered(token, serial='X')}", headers={**HTML, "Accept-Language": "zh-CN"})
    assert "不是有效的销售凭证" in zh.text and "凭证在签名后被改动过" in zh.text


def test_a_pack_returned_and_sold_again_is_suspect_on_both_receipts(
    client: Any, maker: Org, pharmacy: Org, stock: list[str], make_org: Callable[..., Org]
) -> None:
    first = sell(client, pharmacy, [stock[0]], region="CN-11")["receipts"][0]["token"]
    ok(post(client, pharmacy, {"action": "return", "codes": [stock[0]]}))
    returned = check(client, first)["state"]
    assert (returned["standing"], returned["suspect"], returned["sales"], returned["unit_status"]) == (
        "returned", False, 1, "returned",
    )  # fmt: skip
    page = client.get(f"/r/{first}?lang=en", headers=HTML)
    assert "the pack was returned" in page.text and 'data-standing="returned"' in page.text

    second_shop = make_org("retailer", "drug_retail", licensed_from=date.today() - timedelta(days=30))
    ok(post(client, pharmacy, {"action": "ship", "codes": [stock[0]], "to": second_shop.id}))
    ok(post(client, second_shop, {"action": "receive", "codes": [stock[0]]}))
    second = sell(client, second_shop, [stock[0]], region="CN-31")["receipts"][0]["token"]
    for token, number in ((first, 1), (second, 2)):
        state = check(client, token)["state"]
        assert (state["standing"], state["suspect"], state["sales"], state["sale_number"]) == (
            "sold_again", True, 2, number,
        )  # fmt: skip
    en = client.get(f"/r/{second}?lang=en", headers=HTML).text
    assert "Suspect: this pack was sold more than once" in en and "2 sales of this pack; this receipt is sale 2" in en
    zh = client.get(f"/r/{first}?lang=zh", headers=HTML).text
    assert "可疑：该药品被销售过不止一次" in zh and "共销售2次，本凭证为第1次" in zh


def test_an_undone_sale_s_receipt_stands_for_nothing(client: Any, pharmacy: Org, stock: list[str]) -> None:
    sold = sell(client, pharmacy, [stock[0]])
    ok(post(client, pharmacy, {"action": "undo", "event_id": sold["event_id"]}))
    again = sell(client, pharmacy, [stock[0]])
    old, new = check(client, sold["receipts"][0]["token"]), check(client, again["receipts"][0]["token"])
    assert old["valid"] is True and old["state"]["standing"] == "undone" and old["state"]["sale_number"] is None
    assert new["state"]["standing"] == "sold_once" and new["state"]["sales"] == 1


def test_doses_of_an_opened_pack_each_get_a_receipt(client: Any, make_org: Callable[..., Org], maker: Org,
                                                    batch: dict[str, Any], issue: Any) -> None:  # fmt: skip
    hospital = make_org("retailer", "medical_institution", "drug_retail")
    [uri] = [c["uri"] for c in issue(batch["id"], 1)]
    ok(post(client, maker, {"action": "ship", "codes": [uri], "to": hospital.id}))
    ok(post(client, hospital, {"action": "receive", "codes": [uri]}))
    ok(post(client, hospital, {"action": "open", "codes": [uri]}))
    doses = [ok(post(client, hospital, {"action": "dispense", "codes": [uri]}))[0] for _ in range(2)]
    for dose in doses:
        claims = offline(client, dose["receipts"][0]["token"])
        assert (claims["action"], claims["channel"]) == ("dispense", "offline")
        state = check(client, dose["receipts"][0]["token"])["state"]
        assert (state["standing"], state["suspect"]) == ("dispensed_from_open_pack", False)


# ------------------------------------------------------------------------------------------------ 20-digit codes

DRUG_ID = "8123456"
CN_CODES = [f"{DRUG_ID}{n:013d}" for n in (1234567890123, 1234567890124)]


@pytest.fixture
def cn_units(client: Any, runtime: Runtime, maker: Org) -> list[str]:
    """Two 20-digit codes registered as units (as tests/api/test_cn_codes.py registers them)."""
    body = {"gtin": GTIN, "name": "阿莫西林胶囊 0.25 g", "category": "drug_otc", "cn_drug_id": DRUG_ID}
    assert client.post("/v1/products", json=body, headers=maker.headers).status_code == 201
    today = date.today()
    lot = {"gtin": GTIN, "lot": "CN1", "manufactured_on": str(today - timedelta(days=9)),
           "expires_on": str(today + timedelta(days=700))}  # fmt: skip
    batch = client.post("/v1/batches", json=lot, headers=maker.headers).json()
    with runtime.sessions.begin() as session:
        issuance = Issuance(batch_id=batch["id"], key_tag=None, count=len(CN_CODES), created_at=utcnow())
        session.add(issuance)
        session.flush()
        insert_units(session.connection(), GTIN, batch["id"], issuance.id, CN_CODES)
    return CN_CODES


def test_a_20_digit_code_s_receipt_names_the_code_as_its_serial(
    client: Any, maker: Org, pharmacy: Org, cn_units: list[str]
) -> None:
    ok(post(client, maker, {"action": "ship", "codes": cn_units, "to": pharmacy.id}))
    ok(post(client, pharmacy, {"action": "receive", "codes": cn_units}))
    result = sell(client, pharmacy, [cn_units[0], f"(01){GTIN}(21){cn_units[1]}"], region="CN-11")
    assert [r["code"] for r in result["receipts"]] == [cn_units[0], f"(01){GTIN}(21){cn_units[1]}"]
    claims = offline(client, result["receipts"][0]["token"])
    assert (claims["gtin"], claims["serial"]) == (GTIN, cn_units[0])
    body = check(client, result["receipts"][0]["token"])
    assert body["state"]["standing"] == "sold_once" and body["proof"]["leaf_matches"] is True
    page = client.get(f"/r/{result['receipts'][0]['token']}", headers={**HTML, "Accept-Language": "zh-CN,en"}).text
    assert "凭证真实：该药品仅销售过一次" in page and cn_units[0] in page and "北京" in page and "阿莫西林胶囊" in page


# ------------------------------------------------------------------------------------------------ bulk


def test_a_bulk_sale_carries_one_receipt_per_unit_in_order(
    client: Any, maker: Org, pharmacy: Org, batch: dict[str, Any], issue: Any
) -> None:
    uris = [c["uri"] for c in issue(batch["id"], 60)]
    ok(post(client, maker, {"action": "ship", "codes": uris, "to": pharmacy.id}))
    ok(post(client, pharmacy, {"action": "receive", "codes": uris}))
    big = sell(client, pharmacy, uris[:50])
    assert [r["code"] for r in big["receipts"]] == uris[:50]
    serials = [offline(client, r["token"])["serial"] for r in big["receipts"]]
    assert [f"/21/{s}?" in u or u.endswith(f"/21/{s}") for s, u in zip(serials, uris, strict=False)] == [True] * 50
    listed = {
        "events": [
            {"action": "sell", "codes": [uris[50]], "channel": "offline"},
            {"action": "sell", "codes": [f"(01){GTIN}(21)NEVERISSUED9"], "channel": "offline"},  # rejected
            {"action": "dispense", "codes": uris[51:53]},
            {"action": "lock", "codes": [uris[53]]},
        ],
        "atomic": False,
    }
    results = ok(post(client, pharmacy, listed))
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted", "accepted"]
    assert [len(r.get("receipts", [])) for r in results] == [1, 0, 2, 0]
    assert offline(client, results[2]["receipts"][1]["token"])["action"] == "dispense"


# ------------------------------------------------------------------------------------------------ QR and docs


def test_a_till_prints_the_receipt_as_a_qr_code(client: Any, pharmacy: Org, stock: list[str]) -> None:
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (test extra) decodes the symbols")
    token = sell(client, pharmacy, [stock[0]])["receipts"][0]["token"]
    png = client.get(f"/r/{token}/qr.png?size=4")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    [read] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert read.text == f"{BASE_URL}/r/{token}"
    svg = client.get(f"/r/{token}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.headers["content-security-policy"].startswith("default-src 'none'")
    assert f"<title>{BASE_URL}/r/{token}</title>" in svg.text
    assert_problem(client.get(f"/r/{tampered(token, serial='X')}/qr.svg"), 422, "invalid_receipt")
    assert_problem(client.get(f"/r/{token}/qr.png?size=999"), 422, "validation_error")


def test_the_receipt_routes_are_documented(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/r/{token}", "/r/{token}/qr.png", "/r/{token}/qr.svg", "/v1/events/{event_id}/receipts"} <= set(paths)


def test_a_sale_captured_through_epcis_has_its_receipts_for_the_seller(
    client: Any, runtime: Runtime, pharmacy: Org, stock: list[str]
) -> None:
    serial = stock[0].split("/21/")[1].split("?")[0]
    at = (utcnow() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    sale = {"type": "ObjectEvent", "eventTime": at, "eventTimeZoneOffset": "+08:00", "action": "OBSERVE",
            "epcList": [f"urn:epc:id:sgtin:9506000.013435.{serial}"], "bizStep": "retail_selling",
            "disposition": "retail_sold"}  # fmt: skip
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": at, "epcisBody": {"eventList": [sale]},
    }  # fmt: skip
    headers = {**pharmacy.headers, "Content-Type": "application/ld+json"}
    captured = client.post("/epcis/capture", content=json.dumps(document).encode(), headers=headers)
    assert captured.status_code == 202, captured.text
    job = client.get(captured.headers["location"], headers=pharmacy.headers).json()
    assert job["success"] is True and job["capturedCount"] == 1, job
    with runtime.sessions() as session:
        event_id = session.scalar(select(Event.id).where(Event.action == "sell"))
    listed = client.get(f"/v1/events/{event_id}/receipts", headers=pharmacy.headers)
    assert listed.status_code == 200, listed.text
    [receipt] = listed.json()["receipts"]
    claims = offline(client, receipt["token"])
    assert (claims["serial"], claims["event_id"], claims["channel"]) == (serial, event_id, "offline")
    assert check(client, receipt["token"])["state"]["standing"] == "sold_once"


def test_a_busy_writer_costs_the_check_its_proof_not_the_answer(
    client: Any, runtime: Runtime, pharmacy: Org, stock: list[str]
) -> None:
    token = sell(client, pharmacy, [stock[0]])["receipts"][0]["token"]

    def busy() -> None:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    keys = runtime.keyring.public_keys()
    found = receipts.check_now(runtime.sessions, token, keys, busy)
    assert found.invalid is None and found.state is not None and found.state.standing.value == "sold_once"
    assert found.proof is None and found.needs_checkpoint
    assert "The sale is logged; the next signed checkpoint will include it." in render_receipt(
        found.as_json(), "en", "/r/x"
    )
    signed = receipts.check_now(runtime.sessions, token, keys, runtime.sign_checkpoint)
    assert signed.proof is not None and signed.proof["included"] and signed.proof["leaf_matches"]


@pytest.mark.postgres_only
def test_a_sale_left_pending_in_the_log_gets_its_receipts_once_integrated(
    client: Any, runtime: Runtime, pharmacy: Org, stock: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure between a sale's commit and its integration leaves its leaf pending (docs/log.md): the seller asking
    for the receipts then gets them, the leaf integrated first, instead of an empty list."""
    import app.services.log as log_service

    def crash(_engine: Any) -> int:
        raise RuntimeError("the process stopped between the commit and the integration")

    monkeypatch.setattr(log_service, "integrate_here", lambda _session: None)
    monkeypatch.setattr(log_service, "integrate", crash)
    failed = post(client, pharmacy, {"action": "sell", "codes": [stock[0]], "channel": "offline"})
    assert failed.status_code == 500
    monkeypatch.undo()
    with runtime.sessions() as session:
        event_id = session.scalar(select(Event.id).where(Event.action == "sell"))
        assert session.scalar(select(LogPending.id).where(LogPending.event_id == event_id)) is not None
    listed = client.get(f"/v1/events/{event_id}/receipts", headers=pharmacy.headers)
    assert listed.status_code == 200, listed.text
    [receipt] = listed.json()["receipts"]
    claims = offline(client, receipt["token"])
    with runtime.sessions() as session:
        assert session.scalar(select(LogPending.id)) is None
        index = session.scalar(select(LogNode.index).where(LogNode.event_id == event_id, LogNode.level == 0))
    assert (claims["event_id"], claims["log_index"]) == (event_id, index)
    assert check(client, receipt["token"])["state"]["standing"] == "sold_once"
