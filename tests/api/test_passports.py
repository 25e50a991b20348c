"""Passports: versions as log leaves, documents, tiers, lapsing certificates, and every refusal writing nothing."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.audit import ServiceSource, audit
from app.db.models import Document, PassportVersion
from app.domain.merkle import leaf_hash
from app.main import create_app
from app.services import orgs, passport_versions
from app.services.audit_replay import replay_database
from app.services.clock import utcnow
from app.services.orgs import Principal
from app.services.passports import visible_passport
from app.services.runtime import Runtime
from tests.helpers import BASE_URL, GTIN, Org, assert_problem, ok, post, race, settings_for

EXAMPLE = json.loads((Path(__file__).parents[2] / "passport_schema" / "product-passport.example.json").read_text())
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17) + b"\x00\x00\x00\x00IEND\xaeB`\x82"
TODAY = date.today()


def put(client: TestClient, org: Org, path: str, body: Any) -> Any:
    return client.put(f"{path}/passport", json=body, headers=org.headers)


def upload(client: TestClient, org: Org, data: bytes, content_type: str = "application/pdf") -> Any:
    return client.post("/v1/documents", content=data, headers={**org.headers, "Content-Type": content_type})


def counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.sessions() as session:
        versions = session.scalar(select(func.count()).select_from(PassportVersion))
        docs = session.scalar(select(func.count()).select_from(Document))
        size = session.connection().exec_driver_sql("SELECT tree_size FROM log_state").scalar_one()
    return int(versions or 0), int(docs or 0), int(size)


@pytest.fixture
def regulator(make_org: Callable[..., Org]) -> Org:
    return make_org("regulator")


def test_every_put_is_a_new_version_and_a_leaf_of_the_log(client, maker, product, regulator, make_org):
    first = put(client, maker, f"/v1/products/{GTIN}", {"origin": {"country": "CN"}})
    assert first.status_code == 201, first.text
    second = put(client, maker, f"/v1/products/{GTIN}", {"origin": {"country": "CN", "region": "CN-SH"}})
    assert second.status_code == 201, second.text
    one, two = first.json(), second.json()
    assert (one["version"], two["version"]) == (1, 2)
    assert two["log_index"] == one["log_index"] + 1

    newest = client.get(f"/v1/products/{GTIN}/passport", headers=maker.headers).json()
    assert newest["version"] == 2 and newest["passport"]["origin"]["region"] == "CN-SH"
    old = client.get(f"/v1/products/{GTIN}/passport?version=1", headers=regulator.headers).json()
    assert old["passport"] == {"origin": {"country": "CN"}}
    assert_problem(
        client.get(f"/v1/products/{GTIN}/passport?version=3", headers=maker.headers), 404, "version_not_found"
    )

    # The leaf: its bytes are what the log committed to; the maker and regulators read them, others see the hash.
    entries = client.get(
        f"/v1/log/entries?start={one['log_index']}&end={two['log_index'] + 1}", headers=regulator.headers
    )
    leaves = [base64.b64decode(e) for e in entries.json()["entries"]]
    hashes = [base64.b64decode(h) for h in entries.json()["leaf_hashes"]]
    assert [leaf_hash(leaf).hex() for leaf in leaves] == [one["leaf_hash"], two["leaf_hash"]]
    assert [h.hex() for h in hashes] == [one["leaf_hash"], two["leaf_hash"]]
    document = json.loads(leaves[1])
    assert document["kind"] == "passport" and document["version"] == 2 and document["subject"] == f"01/{GTIN}"
    stranger = make_org("distributor")
    hidden = client.get(
        f"/v1/log/entries?start={one['log_index']}&end={two['log_index'] + 1}", headers=stranger.headers
    )
    assert hidden.json()["entries"] == [None, None]
    mine = client.get(f"/v1/log/entries?start={one['log_index']}&end={two['log_index'] + 1}", headers=maker.headers)
    assert mine.json()["entries"] == entries.json()["entries"]


def test_versions_and_history_page_and_diff(client, maker, product, regulator, runtime):
    principal = Principal(maker.id, "maker", "manufacturer", frozenset())
    with runtime.sessions.begin() as session:  # thousands of versions, written fast through the service
        subject = passport_versions.product_subject(session, GTIN)
        for n in range(1, 1001):
            passport_versions.put_passport(session, principal, subject, {"composition": f"v{n}"}, now=utcnow())
    page = client.get(f"/v1/products/{GTIN}/passport/versions?after=900&limit=100", headers=regulator.headers).json()
    assert [v["version"] for v in page["versions"]] == list(range(901, 1001))
    assert page["total"] == 1000 and page["next_after"] is None
    first = client.get(f"/v1/products/{GTIN}/passport/versions", headers=maker.headers).json()
    assert len(first["versions"]) == 50 and first["next_after"] == 50
    history = client.get(f"/v1/products/{GTIN}/passport/history?after=9&limit=2", headers=regulator.headers).json()
    assert [v["changes"] for v in history["versions"]] == [
        [{"field": "composition", "op": "replace", "from": "v9", "to": "v10"}],
        [{"field": "composition", "op": "replace", "from": "v10", "to": "v11"}],
    ]
    start = client.get(f"/v1/products/{GTIN}/passport/history?limit=1", headers=regulator.headers).json()
    assert start["versions"][0]["changes"] == [{"field": "composition", "op": "add", "to": "v1"}]
    assert_problem(
        client.get(f"/v1/products/{GTIN}/passport/versions?limit=101", headers=maker.headers), 422, "validation_error"
    )


def test_refusals_write_nothing(client, maker, product, batch, make_org, runtime):
    other = make_org("manufacturer")
    distributor = make_org("distributor")
    before = counts(runtime)
    assert_problem(put(client, other, f"/v1/products/{GTIN}", {}), 403, "not_your_product")
    assert_problem(put(client, other, f"/v1/batches/{batch['id']}", {}), 403, "not_your_product")
    assert_problem(put(client, distributor, f"/v1/products/{GTIN}", {}), 403, "wrong_role")
    bad = {"certifications": [{"scheme": "CCC", "number": "1", "valid_until": "someday"}]}
    problem = assert_problem(put(client, maker, f"/v1/products/{GTIN}", bad), 422, "invalid_passport")
    assert problem["detail"].startswith("$.certifications[0].valid_until: ")
    assert problem["errors"][0]["field"] == "$.certifications[0].valid_until"
    problem = assert_problem(put(client, maker, f"/v1/products/{GTIN}", {"colour": "red"}), 422, "invalid_passport")
    assert "colour" in problem["detail"]
    assert_problem(put(client, maker, f"/v1/products/{GTIN}", [1, 2]), 422, "invalid_passport")
    unknown = {"certifications": [{"scheme": "CCC", "number": "1", "document": "ab" * 32}]}
    assert_problem(put(client, maker, f"/v1/products/{GTIN}", unknown), 422, "unknown_document")
    deep = '{"composition": ' + "[" * 5000 + '"x"' + "]" * 5000 + "}"
    response = client.put(f"/v1/products/{GTIN}/passport", content=deep, headers=maker.headers)
    assert response.status_code == 422, response.text
    huge = {"composition": {"en": "x" * 2_000_000}}
    assert_problem(put(client, maker, f"/v1/products/{GTIN}", huge), 413, "payload_too_large")
    assert_problem(put(client, maker, "/v1/products/09506000134369", {}), 404, "product_not_found")
    assert_problem(put(client, maker, f"/v1/units/{GTIN}/NOPE", {}), 404, "unit_not_found")
    assert_problem(upload(client, maker, b"hello, I am a PDF"), 422, "unsupported_document")
    assert_problem(upload(client, maker, PNG, "application/pdf"), 422, "document_type_mismatch")
    assert_problem(upload(client, maker, PDF[:-7]), 422, "unsupported_document")  # cut short: no %%EOF
    assert_problem(upload(client, distributor, PDF), 403, "wrong_role")
    assert counts(runtime) == before


def test_oversized_documents_are_refused_with_413(database_url):
    settings = settings_for(database_url, max_document_bytes=4096)
    runtime = Runtime.start(settings)
    try:
        with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
            with runtime.sessions.begin() as session:
                org, key = orgs.create_org(session, name="M", role="manufacturer", licences=())
            maker = Org(org.id, key, "manufacturer")
            big = PDF[:-6] + b" " * 5000 + b"%%EOF\n"
            assert_problem(upload(client, maker, big), 413, "payload_too_large")
            assert upload(client, maker, PDF).status_code == 201
    finally:
        runtime.close()


@pytest.fixture
def shipped(client, maker, batch, issue, make_org) -> Iterator[dict[str, Any]]:
    """A partner (a distributor the maker shipped a unit to) and a stranger."""
    codes = issue(batch["id"], 2)
    partner = make_org("distributor", "drug_wholesale")
    ok(post(client, maker, {"action": "ship", "codes": [codes[0]["uri"]], "to": partner.id}))
    yield {"partner": partner, "stranger": make_org("distributor"), "codes": codes}


def test_tiers_and_levels_as_each_reader_sees_them(client, maker, product, batch, shipped, regulator, runtime):
    pdf = upload(client, maker, PDF).json()
    png = upload(client, maker, PNG, "image/png").json()
    assert pdf["sha256"] == hashlib.sha256(PDF).hexdigest() and pdf["url"] == f"{BASE_URL}/v1/documents/{pdf['sha256']}"
    assert upload(client, maker, PDF).json()["sha256"] == pdf["sha256"]  # the same bytes: the same document
    product_passport = {
        "origin": {"country": "CN"},
        "facility": {"name": "Line 3"},
        "certifications": [
            {
                "scheme": "GMP",
                "number": "G1",
                "valid_until": (TODAY + timedelta(days=10)).isoformat(),
                "document": pdf["sha256"],
            },
            {"scheme": "CCC", "number": "C1", "valid_until": (TODAY - timedelta(days=1)).isoformat()},
        ],
        "test_reports": [{"lab": "L", "number": "R1", "document": png["sha256"]}],
        "leaflet": {"zh": "说明书"},
        "tiers": {"origin": "public", "composition": "authority"},
    }
    assert put(client, maker, f"/v1/products/{GTIN}", product_passport).status_code == 201
    lot_passport = {"composition": "secret recipe", "storage": {"zh": "阴凉"}, "tiers": {"facility": "authority"}}
    assert put(client, maker, f"/v1/batches/{batch['id']}", lot_passport).status_code == 201

    def seen(org: Org | None, lot: str | None) -> dict[str, Any]:
        reader = None
        if org is not None:
            reader = Principal(org.id, "x", org.role, frozenset())
        with runtime.sessions() as session:
            shown = visible_passport(session, GTIN, lot, None, reader, today=TODAY)
        assert shown is not None
        return shown

    anonymous = seen(None, None)
    assert set(anonymous) - {"tiers", "tier", "versions"} == {"origin", "certifications", "leaflet"}
    assert [c["status"] for c in anonymous["certifications"]] == ["valid", "expired"]
    assert anonymous["tier"] == "public" and anonymous["versions"] == {"product": 1}
    partner = seen(shipped["partner"], None)
    assert {"facility", "test_reports"} <= set(partner) and "composition" not in partner
    assert seen(shipped["stranger"], None)["tier"] == "public"
    assert seen(maker, None)["tier"] == "partner"
    lot_partner = seen(shipped["partner"], "LOT42")
    assert (
        "facility" not in lot_partner
        and "storage" in lot_partner
        and lot_partner["versions"] == {"product": 1, "lot": 1}
    )
    lot_regulator = seen(regulator, "LOT42")
    assert lot_regulator["composition"] == "secret recipe" and lot_regulator["facility"] == {"name": "Line 3"}

    # Documents obey the same rule: the certificate is public, the test report is for partners.
    pdf_path, png_path = f"/v1/documents/{pdf['sha256']}", f"/v1/documents/{png['sha256']}"
    got = client.get(pdf_path)
    assert got.status_code == 200 and got.content == PDF and got.headers["content-type"] == "application/pdf"
    assert_problem(client.get(png_path), 404, "document_not_found")
    assert_problem(client.get(png_path, headers=shipped["stranger"].headers), 404, "document_not_found")
    assert client.get(png_path, headers=shipped["partner"].headers).content == PNG
    assert client.get(png_path, headers=regulator.headers).status_code == 200
    assert client.get(png_path, headers=maker.headers).status_code == 200
    assert_problem(client.get("/v1/documents/" + "0" * 64, headers=regulator.headers), 404, "document_not_found")
    bad_key = {"Authorization": "Bearer nope"}
    assert client.get(pdf_path, headers=bad_key).status_code == 401

    # A newer version that drops the certificate: its document is no longer public.
    assert put(client, maker, f"/v1/products/{GTIN}", {"origin": {"country": "CN"}}).status_code == 201
    assert_problem(client.get(pdf_path), 404, "document_not_found")
    assert client.get(pdf_path, headers=regulator.headers).status_code == 200  # regulators read history too

    # GET of a version (manufacturer, regulator) shows each certification's status; a partner may not read it whole.
    whole = client.get(f"/v1/products/{GTIN}/passport?version=1", headers=regulator.headers).json()
    assert [c["status"] for c in whole["passport"]["certifications"]] == ["valid", "expired"]
    assert_problem(
        client.get(f"/v1/products/{GTIN}/passport", headers=shipped["partner"].headers), 403, "not_your_product"
    )


def test_regulators_list_certificates_lapsing_within_n_days(client, maker, product, batch, regulator):
    soon = (TODAY + timedelta(days=5)).isoformat()
    later = (TODAY + timedelta(days=60)).isoformat()
    body = {
        "certifications": [
            {"scheme": "CCC", "number": "soon", "valid_until": soon},
            {"scheme": "CCC", "number": "later", "valid_until": later},
            {"scheme": "CCC", "number": "gone", "valid_until": (TODAY - timedelta(days=1)).isoformat()},
        ]
    }
    assert put(client, maker, f"/v1/products/{GTIN}", body).status_code == 201
    assert put(client, maker, f"/v1/batches/{batch['id']}", {"composition": "x"}).status_code == 201
    listed = client.get("/v1/passports/lapsing?days=30", headers=regulator.headers).json()
    assert [(p["subject"], [c["number"] for c in p["certifications"]]) for p in listed["passports"]] == [
        (f"01/{GTIN}", ["soon"])
    ]
    assert listed["passports"][0]["lapses_on"] == soon
    wider = client.get("/v1/passports/lapsing?days=90", headers=regulator.headers).json()
    assert [c["number"] for c in wider["passports"][0]["certifications"]] == ["soon", "later"]
    assert_problem(client.get("/v1/passports/lapsing", headers=maker.headers), 403, "wrong_role")


def test_unit_passports_add_to_the_lot_and_the_log_still_verifies(
    client, maker, product, batch, issue, regulator, runtime, server
):
    code = issue(batch["id"], 1)[0]
    serial = code["serial"]
    ok(post(client, maker, {"action": "ship", "codes": [code["uri"]], "to": regulator.id}))
    assert put(client, maker, f"/v1/products/{GTIN}", EXAMPLE).status_code == 422  # names a document never uploaded
    example = {k: v for k, v in EXAMPLE.items() if k != "certifications"}
    assert put(client, maker, f"/v1/products/{GTIN}", example).status_code == 201
    unit = put(client, maker, f"/v1/units/{GTIN}/{serial}", {"warnings": {"en": "this one was dropped"}})
    assert unit.status_code == 201 and unit.json()["subject"] == f"01/{GTIN}/21/{serial}"
    with runtime.sessions() as session:
        shown = visible_passport(session, GTIN, "LOT42", serial, None, today=TODAY)
    assert shown is not None and shown["warnings"] == {
        "zh": "青霉素过敏者禁用。",
        "en": "this one was dropped",
    }  # merged key by key
    assert shown["versions"] == {"product": 1, "unit": 1}
    assert client.get(f"/v1/units/{GTIN}/{serial}/passport/versions", headers=maker.headers).json()["total"] == 1

    # passport log verify: every leaf (events and passport versions) checks against the signed checkpoints.
    report = audit(ServiceSource(server, regulator.api_key))
    assert report.ok, report.findings
    assert replay_database(runtime.engine).differences == []


@pytest.mark.postgres_only
def test_concurrent_puts_to_one_passport_make_dense_versions(client, maker, product, http, pool):
    clients = [http() for _ in range(8)]
    calls = [
        (lambda c=c, n=n: c.put(f"/v1/products/{GTIN}/passport", json={"composition": f"v{n}"}, headers=maker.headers))
        for n, c in enumerate(clients)
    ]
    responses = race(pool, calls)
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, 9))
    assert len({r.json()["log_index"] for r in responses}) == 8


def test_an_edited_passport_version_is_caught_by_the_replay(client, maker, product, runtime):
    assert put(client, maker, f"/v1/products/{GTIN}", {"origin": {"country": "CN"}}).status_code == 201
    with runtime.sessions.begin() as session:
        row = session.scalars(select(PassportVersion)).one()
        row.leaf = bytes(row.leaf).replace(b'"CN"', b'"DE"')
    differences = [d.text() for d in replay_database(runtime.engine).differences]
    assert len(differences) == 1 and "passport version" in differences[0] and "edited since logged" in differences[0]
