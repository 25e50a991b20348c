"""What a new user met in the first hour (issue 13): partners found by GLN, and errors that say how to fix them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from app.domain.identifiers import check_digit
from tests.helpers import Org, assert_problem, ok, post, serial

DIST_GLN = "695000000001" + check_digit("695000000001")
OTHER_GLN = "695000000002" + check_digit("695000000002")


def test_a_shipment_can_name_its_receiver_by_gln(
    client: TestClient, maker: Org, make_org: Callable[..., Org], batch: dict[str, Any], issue: Callable[..., Any]
) -> None:
    dist = make_org("distributor", "drug_wholesale", gln=DIST_GLN)
    code = issue(batch["id"], 1)[0]["uri"]
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": DIST_GLN}))
    ok(post(client, dist, {"action": "receive", "codes": [code]}))
    record = client.get(f"/v1/units/{batch['gtin']}/{serial(code)}", headers=dist.headers)
    assert record.status_code == 200, record.text
    assert record.json()["holder"]["id"] == dist.id


def test_an_unknown_gln_is_refused_like_an_unknown_organisation(
    client: TestClient, maker: Org, batch: dict[str, Any], issue: Callable[..., Any]
) -> None:
    code = issue(batch["id"], 1)[0]["uri"]
    body = assert_problem(
        post(client, maker, {"action": "ship", "codes": [code], "to": OTHER_GLN}), 404, "org_not_found"
    )
    assert OTHER_GLN in body["detail"]


def test_any_key_finds_a_trading_partner_by_gln(client: TestClient, maker: Org, make_org: Callable[..., Org]) -> None:
    dist = make_org("distributor", "drug_wholesale", gln=DIST_GLN, name="Shanghai Pharma Logistics")
    pharmacy = make_org("retailer", "drug_retail")
    answer = client.get("/v1/orgs", params={"gln": DIST_GLN}, headers=pharmacy.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "orgs": [{"id": dist.id, "name": "Shanghai Pharma Logistics", "role": "distributor", "gln": DIST_GLN}]
    }
    assert client.get("/v1/orgs", params={"gln": OTHER_GLN}, headers=maker.headers).json() == {"orgs": []}


def test_the_partner_lookup_needs_a_key_and_a_valid_gln(client: TestClient, maker: Org) -> None:
    assert_problem(client.get("/v1/orgs", params={"gln": DIST_GLN}), 401, "missing_api_key")
    wrong_digit = DIST_GLN[:-1] + str((int(DIST_GLN[-1]) + 1) % 10)
    assert_problem(client.get("/v1/orgs", params={"gln": wrong_digit}, headers=maker.headers), 422, "invalid_gln")
    assert client.get("/v1/orgs", headers=maker.headers).status_code == 422
