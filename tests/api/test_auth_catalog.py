"""Authentication, roles, products and batches: every refusal answers a problem and changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.db.models import Batch, Licence, Organisation, Product
from tests.helpers import GTIN, assert_problem

OTHER_GTIN = "04006381333931"


def counts(runtime) -> tuple[int, ...]:
    with runtime.sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(m)) for m in (Organisation, Licence, Product, Batch)
        )


def test_missing_and_bad_keys_are_401(client):
    assert_problem(client.get("/v1/products"), 401, "missing_api_key")
    response = client.get("/v1/products", headers={"Authorization": "Bearer pp_not-a-key"})
    assert_problem(response, 401, "invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_problem(client.get("/v1/products", headers={"Authorization": "Basic abc"}), 401, "invalid_api_key")


def test_api_key_is_stored_hashed(client, runtime, maker):
    with runtime.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_hash, prefix FROM api_key").all()
    assert stored and all(maker.api_key not in (h, p) for h, p in stored)
    assert client.get("/v1/orgs/me", headers=maker.headers).json()["role"] == "manufacturer"


def test_only_manufacturers_register_products(client, runtime, make_org):
    before = counts(runtime)
    for role in ("distributor", "retailer", "platform", "regulator"):
        org = make_org(role)
        response = client.post(
            "/v1/products", json={"gtin": GTIN, "name": "x", "category": "food"}, headers=org.headers
        )
        assert_problem(response, 403, "wrong_role")
    assert counts(runtime)[2:] == before[2:]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"gtin": "09506000134353", "name": "x", "category": "food"}, 422, "invalid_gtin"),
        ({"gtin": "9506000134352", "name": "x", "category": "food"}, 422, "invalid_gtin"),
        ({"gtin": GTIN, "name": "x", "category": "poison"}, 422, "invalid_category"),
        ({"gtin": GTIN, "name": "x"}, 422, "validation_error"),
        ({"gtin": GTIN, "name": "x", "category": "food", "price": 3}, 422, "validation_error"),
        ({"gtin": GTIN, "name": "", "category": "food"}, 422, "validation_error"),
    ],
)
def test_product_validation(client, runtime, maker, body, status, code):
    before = counts(runtime)
    assert_problem(client.post("/v1/products", json=body, headers=maker.headers), status, code)
    assert counts(runtime) == before


def test_malformed_and_oversized_bodies(client, runtime, maker):
    before = counts(runtime)
    bad_json = client.post(
        "/v1/products", content=b'{"gtin": ', headers={**maker.headers, "Content-Type": "application/json"}
    )
    problem = assert_problem(bad_json, 422, "invalid_json")  # one code for unparseable JSON on every route
    assert problem["detail"] == "the body is not valid JSON: Expecting value at line 1 column 10"
    huge = b'{"gtin": "' + b"1" * 2_000_000 + b'"}'
    response = client.post("/v1/products", content=huge, headers={**maker.headers, "Content-Type": "application/json"})
    assert_problem(response, 413, "payload_too_large")
    assert counts(runtime) == before


def test_drugs_need_a_manufacturing_licence(client, make_org):
    unlicensed = make_org("manufacturer")
    body = {"gtin": GTIN, "name": "Amoxicillin", "category": "drug_rx"}
    assert_problem(client.post("/v1/products", json=body, headers=unlicensed.headers), 409, "licence_required")
    food = {"gtin": OTHER_GTIN, "name": "Rice", "category": "food"}
    assert client.post("/v1/products", json=food, headers=unlicensed.headers).status_code == 201


def test_gtin_is_registered_once(client, maker, make_org, product):
    body = {"gtin": GTIN, "name": "again", "category": "drug_otc"}
    assert_problem(client.post("/v1/products", json=body, headers=maker.headers), 409, "gtin_exists")
    rival = make_org("manufacturer", "drug_manufacturing")
    assert_problem(client.post("/v1/products", json=body, headers=rival.headers), 409, "gtin_taken")


def test_products_are_private_to_their_manufacturer(client, maker, make_org, product):
    rival = make_org("manufacturer", "drug_manufacturing")
    assert_problem(client.get(f"/v1/products/{GTIN}", headers=rival.headers), 403, "foreign_product")
    assert client.get("/v1/products", headers=rival.headers).json() == {"products": []}
    regulator = make_org("regulator")
    seen = client.get(f"/v1/products/{GTIN}", headers=regulator.headers).json()
    assert seen["manufacturer"]["id"] == maker.id
    assert [p["gtin"] for p in client.get("/v1/products", headers=maker.headers).json()["products"]] == [GTIN]
    assert_problem(client.get(f"/v1/products/{OTHER_GTIN}", headers=maker.headers), 404, "product_not_found")


def _batch(lot="L1", made=None, expires=None):
    today = date.today()
    return {
        "gtin": GTIN,
        "lot": lot,
        "manufactured_on": (made or today - timedelta(days=5)).isoformat(),
        "expires_on": (expires or today + timedelta(days=365)).isoformat(),
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_batch(lot="LOT 1"), "invalid_code"),
        (_batch(lot="LOT#1"), "invalid_code"),
        (_batch(lot="A" * 21), "validation_error"),
        (_batch(made=date(2026, 5, 1), expires=date(2026, 4, 1)), "invalid_dates"),
        (_batch(expires=date(2101, 1, 1)), "invalid_code"),
        ({**_batch(), "expires_on": "2027-02-30"}, "validation_error"),
    ],
)
def test_batch_validation(client, runtime, maker, product, body, code):
    before = counts(runtime)
    assert_problem(client.post("/v1/batches", json=body, headers=maker.headers), 422, code)
    assert counts(runtime) == before


def test_batches_belong_to_the_products_owner(client, runtime, maker, make_org, product):
    created = client.post("/v1/batches", json=_batch(), headers=maker.headers)
    assert created.status_code == 201
    batch = created.json()
    assert batch["lot"] == "L1" and batch["gtin"] == GTIN and isinstance(batch["id"], int)
    assert_problem(client.post("/v1/batches", json=_batch(), headers=maker.headers), 409, "lot_exists")
    rival = make_org("manufacturer", "drug_manufacturing")
    before = counts(runtime)
    assert_problem(client.post("/v1/batches", json=_batch("L2"), headers=rival.headers), 403, "foreign_product")
    assert_problem(client.get(f"/v1/batches/{batch['id']}", headers=rival.headers), 403, "foreign_batch")
    assert counts(runtime) == before
    assert client.get("/v1/batches", headers=rival.headers).json() == {"batches": []}
    assert client.get(f"/v1/batches/{batch['id']}", headers=maker.headers).json() == batch
    assert_problem(client.get("/v1/batches/999999", headers=maker.headers), 404, "batch_not_found")


def test_admin_creates_organisations_with_licences(client, make_org):
    admin = make_org("admin")
    body = {
        "name": "Renmin Pharmacy",
        "role": "retailer",
        "licences": ["drug_retail", "online_drug_sales"],
        "gln": "9501101020016",
    }
    created = client.post("/v1/orgs", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["licences"] == ["drug_retail", "online_drug_sales"] and org["api_key"].startswith("pp_")
    me = client.get("/v1/orgs/me", headers={"Authorization": f"Bearer {org['api_key']}"}).json()
    assert me["id"] == org["id"] and "api_key" not in me
    assert_problem(client.post("/v1/orgs", json=body, headers=admin.headers), 409, "gln_taken")
    assert_problem(
        client.post("/v1/orgs", json={**body, "gln": "9501101020017"}, headers=admin.headers),
        422,
        "invalid_gln",
    )
    assert_problem(
        client.post("/v1/orgs", json={**body, "gln": None, "licences": ["fishing"]}, headers=admin.headers),
        422,
        "invalid_licence",
    )
    pharmacy = {"Authorization": f"Bearer {org['api_key']}"}
    assert_problem(client.post("/v1/orgs", json={**body, "gln": None}, headers=pharmacy), 403, "wrong_role")
