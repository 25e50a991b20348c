"""Verification between trading partners: the signed LMS answer on a unit's Digital Link, kept and listed, the oracle
guard, and bad input answered in the LMS shape (never a 5xx)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from nacl.signing import VerifyKey
from sqlalchemy import select, text

from app.db.models import Alert, Event
from app.main import create_app
from app.services.runtime import Runtime
from tests.helpers import BASE_URL, GTIN, assert_problem, ok, post, settings_for

LINK = "linkType=gs1:verificationService"
FIELDS = {
    "verified",
    "verificationFailureReason",
    "additionalInfo",
    "context",
    "product",
    "responder",
    "requester",
    "correlationUUID",
    "verificationTimestamp",
    "signature",
}


def ask(client: Any, org: Any, uri: str, context: str = "statusCheck", **params: str) -> Any:
    path = uri.replace(BASE_URL, "")
    extra = "".join(f"&{name}={value}" for name, value in params.items())
    joiner = "&" if "?" in path else "?"
    return client.get(f"{path}{joiner}{LINK}&context={context}{extra}", headers=org.headers)


def unsigned(uri: str) -> str:
    """The code as a partner's scanner sends it: GTIN, lot, serial and expiry, no AI 8030."""
    return uri.split("&8030=")[0]


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_offline(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Check the answer's JWS as a partner would, with the JWKS and PyNaCl only (no code of this service)."""
    keys = {key["kid"]: key for key in client.get("/.well-known/jwks.json").json()["keys"]}
    head, payload, signature = body["signature"].split(".")
    header = json.loads(b64(head))
    assert header["alg"] == "EdDSA" and keys[header["kid"]]["crv"] == "Ed25519"
    VerifyKey(b64(keys[header["kid"]]["x"])).verify(f"{head}.{payload}".encode(), b64(signature))
    signed: dict[str, Any] = json.loads(b64(payload))
    assert signed == {k: v for k, v in body.items() if k != "signature"}
    return signed


@pytest.fixture
def chain(client, maker, batch, issue, make_org):
    dist = make_org("distributor", "drug_wholesale")
    codes = issue(batch["id"], 3)
    ok(post(client, maker, {"action": "ship", "codes": [c["uri"] for c in codes], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [c["uri"] for c in codes]}))
    return dist, codes


def test_a_partner_gets_a_signed_answer_kept_for_the_maker(client, maker, chain, make_org):
    dist, codes = chain
    correlation = str(uuid.uuid4())
    response = ask(client, dist, unsigned(codes[0]["uri"]), "dscsaSaleableReturn", correlationUUID=correlation)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == FIELDS
    assert body["verified"] is True
    assert body["verificationFailureReason"] is None and body["additionalInfo"] is None
    assert body["correlationUUID"] == correlation
    assert body["requester"]["id"] == dist.id and body["responder"]["id"] == maker.id
    assert body["product"]["gtin"] == GTIN and body["product"]["lot"] == "LOT42"
    assert body["verificationTimestamp"].endswith("Z")
    check_offline(client, body)

    listed = client.get(f"/v1/verifications?gtin={GTIN}", headers=maker.headers)
    assert listed.status_code == 200, listed.text
    [kept] = listed.json()["verifications"]
    assert kept["answer"] == body and kept["requester"] == dist.id and kept["held"] is True
    assert kept["context"] == "dscsaSaleableReturn" and kept["correlationUUID"] == correlation
    regulator = make_org("regulator")
    assert len(client.get("/v1/verifications", headers=regulator.headers).json()["verifications"]) == 1
    rival = make_org("manufacturer", "drug_manufacturing")
    assert client.get("/v1/verifications", headers=rival.headers).json()["verifications"] == []
    assert_problem(client.get("/v1/verifications", headers=dist.headers), 403, "wrong_role")


def test_mismatches_and_unknown_serials(client, chain):
    dist, codes = chain
    uri = unsigned(codes[1]["uri"])
    wrong_lot = ask(client, dist, uri.replace("/10/LOT42/", "/10/LOT43/")).json()
    assert (wrong_lot["verified"], wrong_lot["verificationFailureReason"]) == (False, "No_match_GTIN_Serial_Lot")
    path = uri.partition("?17=")[0]
    wrong_expiry = ask(client, dist, f"{path}?17=300101").json()
    assert wrong_expiry["verificationFailureReason"] == "No_match_GTIN_Serial_Expiry"
    both = ask(client, dist, f"{path.replace('/10/LOT42/', '/10/LOT43/')}?17=300101").json()
    assert both["verificationFailureReason"] == "No_match_GTIN_Serial_Lot_Expiry"
    unknown = ask(client, dist, uri.replace(codes[1]["serial"], "NEVERISSUED1")).json()
    assert (unknown["verified"], unknown["verificationFailureReason"]) == (False, "No_match_GTIN_Serial")
    assert uuid.UUID(unknown["correlationUUID"])  # generated when the request sends none
    check_offline(client, unknown)
    signed = ask(client, dist, codes[1]["uri"]).json()  # with its AI 8030 too
    assert signed["verified"] is True


def test_recalled_is_not_for_redistribution_on_return(client, maker, chain, make_org):
    dist, codes = chain
    regulator = make_org("regulator")
    recall = {"gtin": GTIN, "lots": ["LOT42"], "reason": "contamination", "class": "I"}
    assert client.post("/v1/recalls", json=recall, headers=regulator.headers).status_code == 201
    back = ask(client, dist, unsigned(codes[0]["uri"]), "dscsaSaleableReturn").json()
    assert back["verified"] is False
    assert back["verificationFailureReason"] == "Not_for_re-distribution" and back["additionalInfo"] == "Recalled"
    status = ask(client, dist, unsigned(codes[0]["uri"]), "statusCheck").json()
    assert status["verified"] is True and status["additionalInfo"] == "Recalled"


@pytest.mark.parametrize(
    "path",
    [
        f"/01/{GTIN[:-1]}0/21/ABC",  # wrong check digit
        "/01/12345/21/ABC",  # not a GTIN
        f"/01/{GTIN}/10/LOT42",  # a lot, not a unit
        f"/01/{GTIN}/21/AB%ZZ",  # bad percent-encoding
        f"/01/{GTIN}/21/ABC/99/X",  # another AI in the path
        f"/01/{GTIN}/21/ABC?17=991399",  # an impossible date
    ],
)
def test_malformed_codes_answer_the_lms_failure_shape(client, chain, path):
    dist, _ = chain
    response = ask(client, dist, path)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == FIELDS
    assert body["verified"] is False and body["verificationFailureReason"] in (
        "No_reason_provided",
        "No_match_GTIN_Serial",
    )
    check_offline(client, body)


def test_requester_mistakes_are_problems(client, chain, make_org):
    dist, codes = chain
    uri = unsigned(codes[0]["uri"])
    assert_problem(ask(client, dist, uri, "resale"), 422, "invalid_context")
    assert_problem(ask(client, dist, uri, correlationUUID="not-a-uuid"), 422, "invalid_correlation_uuid")
    bad_key = client.get(
        f"{uri.replace(BASE_URL, '')}&{LINK}&context=statusCheck", headers={"Authorization": "Bearer pp_x"}
    )
    assert_problem(bad_key, 401, "invalid_api_key")
    unlicensed = make_org("distributor")
    assert_problem(ask(client, unlicensed, uri), 403, "licence_required")
    # without a key the link type still answers the public scan, as before
    public = client.get(f"{uri.replace(BASE_URL, '')}&{LINK}", headers={"Accept": "application/json"})
    assert public.status_code == 200 and "verdict" in public.json()


def test_oracle_guard_limits_and_alerts_a_prober(database_url, make_org, maker, batch, issue, chain):
    settings = settings_for(database_url, partner_unheld_per_hour=3)
    runtime = Runtime.start(settings)
    try:
        with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
            dist, codes = chain
            prober = make_org("distributor", "drug_wholesale")
            uri = unsigned(codes[2]["uri"])
            for n in range(3):
                probe = ask(client, prober, uri.replace(codes[2]["serial"], f"GUESS{n}"))
                assert probe.status_code == 200 and probe.json()["verified"] is False
            assert_problem(ask(client, prober, uri), 429, "rate_limited")
            assert_problem(ask(client, prober, uri.replace(codes[2]["serial"], "GUESS9")), 429, "rate_limited")
            assert ask(client, dist, uri).status_code == 200  # a partner asking about what it held is not limited
            with runtime.sessions() as session:
                alerts = session.scalars(select(Alert).where(Alert.type == "verification_oracle")).all()
            assert [(a.org_id, a.count) for a in alerts] == [(prober.id, 2)]
            listed = client.get(f"/v1/verifications?gtin={GTIN}", headers=maker.headers).json()["verifications"]
            assert sum(1 for v in listed if v["requester"] == prober.id and not v["held"]) == 3
    finally:
        runtime.close()


def test_a_saleable_return_needs_a_positive_verification_or_an_override(client, runtime, maker, chain, make_org):
    dist, codes = chain
    pharm = make_org("retailer", "drug_retail")
    first, second = codes[0]["uri"], codes[1]["uri"]
    ok(post(client, dist, {"action": "ship", "codes": [first, second], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [first, second]}))
    ok(post(client, pharm, {"action": "ship", "codes": [first, second], "to": dist.id}))  # sent back

    assert_problem(post(client, dist, {"action": "receive", "codes": [first]}), 409, "return_not_verified")
    assert ask(client, dist, unsigned(first), "statusCheck").json()["verified"] is True  # not the return context
    assert_problem(post(client, dist, {"action": "receive", "codes": [first]}), 409, "return_not_verified")
    assert ask(client, pharm, unsigned(first), "dscsaSaleableReturn").json()["verified"] is True  # not the receiver
    assert_problem(post(client, dist, {"action": "receive", "codes": [first]}), 409, "return_not_verified")
    assert ask(client, dist, unsigned(first), "dscsaSaleableReturn").json()["verified"] is True
    ok(post(client, dist, {"action": "receive", "codes": [first]}))

    assert_problem(
        post(client, pharm, {"action": "ship", "codes": [first], "to": pharm.id, "override": "why"}),
        422,
        "override_not_allowed",
    )
    reason = "pharmacy closing; packs inspected sealed"
    ok(post(client, dist, {"action": "receive", "codes": [second], "override": reason}))
    with runtime.sessions() as session:
        [alert] = session.scalars(select(Alert).where(Alert.type == "return_override")).all()
        event = session.get(Event, alert.details["event_id"])
        assert event is not None and event.payload["override"] == reason  # kept with the event as sent
    assert alert.org_id == dist.id and alert.serial == codes[1]["serial"] and alert.details["reason"] == reason


def test_a_receipt_of_many_units_asks_the_verification_of_each_one_coming_back(client, maker, chain, make_org):
    """The units of a receipt coming back are found together (one query per event), each still needing its own
    positive verification; a unit the receiver never shipped needs none."""
    dist, codes = chain
    pharm = make_org("retailer", "drug_retail")
    first, second, third = (c["uri"] for c in codes[:3])
    ok(post(client, dist, {"action": "ship", "codes": [first, second], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [first, second]}))
    ok(post(client, pharm, {"action": "ship", "codes": [first, second], "to": dist.id}))  # both sent back
    ok(post(client, dist, {"action": "ship", "codes": [third], "to": pharm.id}))

    assert ask(client, dist, unsigned(first), "dscsaSaleableReturn").json()["verified"] is True
    refused = post(client, dist, {"action": "receive", "codes": [first, second]})
    assert_problem(refused, 409, "return_not_verified")
    assert refused.json()["unit"] == second  # the first is verified; the second, coming back too, is not
    assert ask(client, dist, unsigned(second), "dscsaSaleableReturn").json()["verified"] is True
    ok(post(client, dist, {"action": "receive", "codes": [first, second]}))
    ok(post(client, pharm, {"action": "receive", "codes": [third]}))  # pharm never shipped it: not a return


def test_a_first_receipt_needs_no_return_verification(client, maker, batch, issue, make_org):
    dist = make_org("distributor", "drug_wholesale")
    [code] = issue(batch["id"], 1)
    ok(post(client, maker, {"action": "ship", "codes": [code["uri"]], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [code["uri"]]}))


@pytest.mark.postgres_only
def test_a_lost_partner_read_connection_is_replaced(client, runtime, chain):
    dist, codes = chain
    uri = unsigned(codes[0]["uri"])
    assert ask(client, dist, uri).status_code == 200
    with runtime.engine.connect() as admin:
        ended = admin.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'passport partner reads' AND datname = current_database()"
            )
        )
    assert ended == 1  # one connection for the test client's event loop
    runtime.partner_desk.clock = lambda: time.monotonic() + 3600  # the facts kept have expired: read again
    again = ask(client, dist, uri)
    assert again.status_code == 200 and again.json()["verified"] is True


class Clock:
    """The partner desk's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def kid_of(body: dict[str, Any]) -> str:
    return str(json.loads(b64(body["signature"].split(".")[0]))["kid"])


def test_a_revoked_licence_or_key_and_a_new_signing_key_apply_once_the_kept_facts_expire(
    client, runtime, settings, chain, make_org
):
    """A serving process keeps a key's facts (organisation, licences, product, current signing key) for
    ``partner_facts_seconds``: what changes meanwhile applies to its answers once they expire, not later."""
    dist, codes = chain
    uri = unsigned(codes[0]["uri"])
    clock = Clock()
    runtime.partner_desk.clock = clock
    kept_for = settings.partner_facts_seconds
    assert kept_for > 0
    first = ask(client, dist, uri)
    assert first.status_code == 200
    regulator, admin = make_org("regulator"), make_org("admin")
    [licence] = client.get(f"/v1/orgs/{dist.id}/licences", headers=dist.headers).json()["licences"]
    assert client.post(f"/v1/licences/{licence['id']}/revoke", headers=regulator.headers).status_code == 200
    rotated = client.post("/v1/admin/signing-keys", headers=admin.headers)
    assert rotated.status_code == 201 and rotated.json()["kid"] != kid_of(first.json())

    clock.now += kept_for * 0.9  # within the interval: the facts read before
    within = ask(client, dist, uri)
    assert within.status_code == 200 and kid_of(within.json()) == kid_of(first.json())
    clock.now += kept_for * 0.1  # expired: the licence revoked applies
    assert_problem(ask(client, dist, uri), 403, "licence_required")

    granted = client.post(f"/v1/orgs/{dist.id}/licences", json={"kind": "drug_wholesale"}, headers=regulator.headers)
    assert granted.status_code == 201, granted.text
    assert_problem(ask(client, dist, uri), 403, "licence_required")  # the refusal's facts are kept too
    clock.now += kept_for
    again = ask(client, dist, uri)
    assert again.status_code == 200 and kid_of(again.json()) == rotated.json()["kid"]  # the new signing key
    check_offline(client, again.json())

    with runtime.sessions.begin() as session:
        session.execute(text("UPDATE api_key SET revoked_at = CURRENT_TIMESTAMP WHERE org_id = :org"), {"org": dist.id})
    assert ask(client, dist, uri).status_code == 200  # within the interval
    clock.now += kept_for
    assert_problem(ask(client, dist, uri), 401, "invalid_api_key")
    clock.now -= 3 * kept_for  # an unknown or revoked key is never kept: refused at once, whatever the clock says
    assert_problem(ask(client, dist, uri), 401, "invalid_api_key")


def test_without_kept_facts_every_answer_reads_them(database_url, maker, chain):
    settings = settings_for(database_url, partner_facts_seconds=0)
    runtime = Runtime.start(settings)
    try:
        with TestClient(create_app(settings, runtime)) as client:
            dist, codes = chain
            uri = unsigned(codes[0]["uri"])
            assert ask(client, dist, uri).status_code == 200
            with runtime.sessions.begin() as session:
                revoke = text("UPDATE api_key SET revoked_at = CURRENT_TIMESTAMP WHERE org_id = :org")
                session.execute(revoke, {"org": dist.id})
            assert_problem(ask(client, dist, uri), 401, "invalid_api_key")
    finally:
        runtime.close()
