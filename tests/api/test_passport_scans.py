"""Scans at every level (product, lot, unit) with their passport, the GS1 resolver on the same paths, compressed
Digital Links, and qualifier orders: on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from app.domain.dl_compression import compress
from tests.helpers import BASE_URL, GTIN, Org, assert_problem

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
SCHEMA = json.loads((Path(__file__).parents[2] / "passport_schema" / "passport.schema.json").read_text())
PRODUCT_SCHEMA = {"$ref": "#/$defs/productScan", "$defs": SCHEMA["$defs"]}
UNKNOWN_GTIN = "04012345123456"
TODAY = date.today()

PASSPORT = {
    "manufacturer": {"name": "Acme Pharma", "uscc": "91310000MA1FL4XQ3K"},
    "facility": {"name": "Plant 2", "address": "Shanghai"},
    "origin": {"country": "CN", "region": "CN-SH"},
    "certifications": [
        {"scheme": "GMP", "number": "SH2020-1", "issuer": "NMPA", "valid_from": "2020-01-01",
         "valid_until": (TODAY + timedelta(days=300)).isoformat()},
        {"scheme": "ISO 9001", "number": "Q-9", "issuer": "CQC", "valid_from": "2018-01-01", "valid_until": "2021-01-01"},
    ],
    "test_reports": [{"lab": "SGS", "number": "R-1", "date": "2024-01-02", "result": "pass"}],
    "warnings": {"zh": "儿童禁用", "en": "Keep away from children"},
    "disposal": {"zh": "交回药店", "en": "Return to a pharmacy"},
    "links": [
        {"linkType": "gs1:epil", "href": "https://acme.example/leaflet-en.pdf", "title": "Leaflet", "lang": "en"},
        {"linkType": "gs1:epil", "href": "https://acme.example/leaflet-zh.pdf", "title": "说明书", "lang": "zh"},
    ],
}  # fmt: skip


def get(client: TestClient, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return client.get(path, headers={**JSON, **(headers or {})}, follow_redirects=False, **kwargs)


def scan(client: TestClient, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = get(client, path, headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    jsonschema.validate(body, PRODUCT_SCHEMA if "level" in body else SCHEMA)
    return body


@pytest.fixture
def with_passport(client: TestClient, maker: Org, batch: dict[str, Any]) -> dict[str, Any]:
    response = client.put(f"/v1/products/{GTIN}/passport", json=PASSPORT, headers=maker.headers)
    assert response.status_code == 201, response.text
    return batch


def test_product_nobody_registered_is_unknown(client):
    body = scan(client, f"/01/{UNKNOWN_GTIN}")
    assert body["verdict"] == "unknown" and body["product"] is None and body["passport"] is None
    assert body["lot"] is None and body["recall"] is None


def test_product_scan_without_a_passport_is_registered(client, batch):
    body = scan(client, f"/01/{GTIN}")
    assert body["verdict"] == "registered" and body["level"] == "product"
    assert body["product"]["name"] == "Paracetamol 500 mg" and body["passport"] is None


def test_product_and_lot_scans_show_the_public_passport(client, with_passport):
    body = scan(client, f"/01/{GTIN}")
    passport = body["passport"]
    assert passport["manufacturer"]["name"] == "Acme Pharma" and passport["tier"] == "public"
    assert "facility" not in passport and "test_reports" not in passport  # partner fields by default
    assert [c["status"] for c in passport["certifications"]] == ["valid", "expired"]
    lot = scan(client, f"/01/{GTIN}/10/LOT42")
    assert lot["verdict"] == "registered" and lot["level"] == "lot" and lot["lot"] == "LOT42"
    assert lot["expires_on"] == with_passport["expires_on"] and lot["passport"]["origin"]["region"] == "CN-SH"


def test_a_key_adds_its_tiers(client, with_passport, maker, make_org):
    regulator = make_org("regulator")
    stranger = make_org("retailer", "drug_retail")
    assert "facility" in scan(client, f"/01/{GTIN}", maker.headers)["passport"]  # the maker is a partner
    as_regulator = scan(client, f"/01/{GTIN}/10/LOT42", regulator.headers)["passport"]
    assert as_regulator["tier"] == "authority" and "test_reports" in as_regulator
    assert "facility" not in scan(client, f"/01/{GTIN}", stranger.headers)["passport"]
    assert_problem(get(client, f"/01/{GTIN}", {"Authorization": "Bearer nope"}), 401, "invalid_api_key")
    assert_problem(get(client, f"/01/{GTIN}", {"Authorization": "Basic x"}), 401, "invalid_api_key")


def test_unknown_lot_of_a_registered_product(client, with_passport):
    body = scan(client, f"/01/{GTIN}/10/NOSUCHLOT")
    assert body["verdict"] == "unknown_lot" and body["product"]["gtin"] == GTIN
    assert body["passport"]["manufacturer"]["name"] == "Acme Pharma"  # the product's passport still shows


def test_recalled_lot_and_the_product_naming_it(client, maker, batch):
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility", "class": "I"},
        headers=maker.headers,
    )
    assert recall.status_code == 201, recall.text
    lot = scan(client, f"/01/{GTIN}/10/LOT42")
    assert lot["verdict"] == "recalled" and lot["recall"]["reason"] == "sterility" and lot["recall"]["class"] == "I"
    product = scan(client, f"/01/{GTIN}")
    assert product["verdict"] == "registered" and product["recall"] is None and product["recalled_lots"] == ["LOT42"]
    status = get(client, f"/01/{GTIN}/10/LOT42?linkType=gs1:recallStatus").json()
    assert status["recalled"] is True and status["recall"]["reason"] == "sterility"
    page = client.get(f"/01/{GTIN}/10/LOT42?lang=en", headers=HTML)
    assert page.status_code == 200 and 'data-verdict="recalled"' in page.text and "sterility" in page.text


def test_expired_lot(client, maker, product):
    created = client.post(
        "/v1/batches",
        json={"gtin": GTIN, "lot": "OLD1", "manufactured_on": "2020-01-01", "expires_on": "2021-01-01"},
        headers=maker.headers,
    )
    assert created.status_code == 201, created.text
    assert scan(client, f"/01/{GTIN}/10/OLD1")["verdict"] == "expired"


def test_unit_scans_gain_the_passport(client, with_passport, issue, maker):
    code = issue(with_passport["id"], 1)[0]
    path = code["uri"].replace(BASE_URL, "")
    body = scan(client, path)
    assert body["verdict"] == "authentic" and body["passport"]["manufacturer"]["name"] == "Acme Pharma"
    assert "facility" not in body["passport"]
    assert "facility" in scan(client, path, maker.headers)["passport"]


def test_unit_scans_of_a_product_without_passport_carry_none(client, batch, issue):
    code = issue(batch["id"], 1)[0]
    assert scan(client, code["uri"].replace(BASE_URL, ""))["passport"] is None


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_product_page_shows_the_passport(client, with_passport, lang):
    page = client.get(f"/01/{GTIN}/10/LOT42?lang={lang}", headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert 'data-verdict="registered"' in text and "Acme Pharma" in text
    assert 'data-status="valid"' in text and 'data-status="expired"' in text
    assert ("儿童禁用" if lang == "zh" else "Keep away from children") in text
    assert ("交回药店" if lang == "zh" else "Return to a pharmacy") in text
    assert "SGS" not in text  # a partner field never reaches an anonymous page


def test_the_unit_page_shows_the_passport(client, with_passport, issue):
    code = issue(with_passport["id"], 1)[0]
    page = client.get(code["uri"].replace(BASE_URL, "") + "&lang=en", headers=HTML)
    assert page.status_code == 200 and "Return to a pharmacy" in page.text and 'data-status="expired"' in page.text


# --------------------------------------------------------------------------------------------- resolver


def test_link_type_redirects_to_the_makers_link_in_the_readers_language(client, with_passport):
    response = get(client, f"/01/{GTIN}?linkType=gs1:epil", {"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 307 and response.headers["location"] == "https://acme.example/leaflet-zh.pdf"
    response = get(client, f"/01/{GTIN}/10/LOT42?linkType=epil", {"Accept-Language": "en"})
    assert response.status_code == 307 and response.headers["location"] == "https://acme.example/leaflet-en.pdf"


def test_link_types_this_service_answers(client, with_passport, issue):
    certs = get(client, f"/01/{GTIN}?linkType=gs1:certificationInfo").json()
    assert [c["status"] for c in certs["certifications"]] == ["valid", "expired"]
    verification = get(client, f"/01/{GTIN}?linkType=gs1:verificationService").json()
    assert verification["verdict"] == "registered"
    code = issue(with_passport["id"], 1)[0]
    unit_path = code["uri"].replace(BASE_URL, "")
    trace = get(client, f"{unit_path}&linkType=gs1:traceability").json()
    assert trace["verdict"] == "authentic" and [s["step"] for s in trace["journey"]] == ["issued"]
    pip = get(client, f"/01/{GTIN}?linkType=gs1:pip")
    assert pip.status_code == 200 and pip.json()["verdict"] == "registered"


def test_a_link_type_nobody_offers_is_404_naming_what_there_is(client, batch):
    problem = assert_problem(get(client, f"/01/{GTIN}?linkType=gs1:epil"), 404, "no_such_link")
    assert "gs1:epil" in problem["detail"] and "gs1:pip" in problem["detail"]


def test_linkset(client, with_passport):
    for response in (
        get(client, f"/01/{GTIN}/10/LOT42?linkType=all"),
        client.get(f"/01/{GTIN}/10/LOT42", headers={"Accept": "application/linkset+json"}),
    ):
        assert response.status_code == 200 and response.headers["content-type"] == "application/linkset+json"
        (context,) = response.json()["linkset"]
        assert context["anchor"] == f"{BASE_URL}/01/{GTIN}/10/LOT42"
        assert [link["href"] for link in context["https://gs1.org/voc/epil"]] == [
            "https://acme.example/leaflet-en.pdf",
            "https://acme.example/leaflet-zh.pdf",
        ]
        assert context["https://gs1.org/voc/epil"][1]["hreflang"] == ["zh"]
        assert context["https://gs1.org/voc/defaultLink"][0]["href"] == context["anchor"]
        assert "https://gs1.org/voc/certificationInfo" in context
    link = get(client, f"/01/{GTIN}").headers["link"]
    assert f'<{BASE_URL}/01/{GTIN}?linkType=all>; rel="linkset"' in link


def test_linkset_shows_only_the_links_the_reader_may_see(client, maker, batch):
    private = {**PASSPORT, "tiers": {"links": "partner"}}
    assert client.put(f"/v1/products/{GTIN}/passport", json=private, headers=maker.headers).status_code == 201
    anonymous = get(client, f"/01/{GTIN}?linkType=all").json()["linkset"][0]
    assert "https://gs1.org/voc/epil" not in anonymous
    assert get(client, f"/01/{GTIN}?linkType=gs1:epil").status_code == 404
    partner = get(client, f"/01/{GTIN}?linkType=all", maker.headers).json()["linkset"][0]
    assert len(partner["https://gs1.org/voc/epil"]) == 2


def test_resolver_description(client):
    response = client.get("/.well-known/gs1resolver")
    assert response.status_code == 200
    body = response.json()
    assert body["resolverRoot"] == BASE_URL and body["supportedPrimaryKeys"] == ["01"]
    assert body["supportedLinkType"][0]["prefix"] == "gs1:"


# --------------------------------------------------------------------------------------------- compression


def test_a_compressed_link_answers_as_the_uncompressed_one(client, with_passport, issue):
    code = issue(with_passport["id"], 1)[0]
    path = code["uri"].replace(BASE_URL, "")
    serial = path.split("/")[6].partition("?")[0]
    query = dict(part.split("=") for part in path.partition("?")[2].split("&"))
    elements = {"01": GTIN, "10": "LOT42", "21": serial, **query}
    compressed = client.get("/" + compress(elements), headers=JSON)
    plain = client.get(path, headers=JSON)
    assert compressed.status_code == plain.status_code == 200
    assert compressed.json()["verdict"] == plain.json()["verdict"] == "authentic"
    assert compressed.json()["passport"] == plain.json()["passport"]
    assert 'rel="owl:sameAs"' in compressed.headers["link"]
    lot = client.get("/" + compress({"01": GTIN, "10": "LOT42"}), headers=JSON)
    assert lot.json() == scan(client, f"/01/{GTIN}/10/LOT42")
    product = client.get("/" + compress({"01": GTIN}) + "?linkType=gs1:epil", follow_redirects=False)
    assert product.status_code == 307


def test_a_compressed_link_gives_no_page_path_away(client):
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    assert_problem(client.get("/ZZZZZZZZZZZZ", headers=JSON), 404, "not_found")
    assert_problem(client.get("/nothing", headers=JSON), 404, "not_found")


def test_a_compressed_sscc_or_bad_gtin_is_refused_by_name(client):
    problem = assert_problem(
        client.get("/" + compress({"00": "106141412345678908"}), headers=JSON), 422, "invalid_code"
    )
    assert "SSCC" in problem["detail"]
    problem = assert_problem(client.get("/" + compress({"01": "04012345123457"}), headers=JSON), 422, "invalid_gtin")
    assert "check digit" in problem["detail"]


# --------------------------------------------------------------------------------------------- qualifier orders


def test_every_qualifier_gs1_allows_is_understood(client, batch, issue):
    code = issue(batch["id"], 1)[0]
    path = code["uri"].replace(BASE_URL, "")
    serial = path.split("/")[6].partition("?")[0]
    query = path.partition("?")[2]
    assert scan(client, f"/01/{GTIN}/22/V1/10/LOT42/21/{serial}?{query}")["verdict"] == "authentic"
    assert scan(client, f"/01/{GTIN}/22/V1/21/{serial}?{query}")["verdict"] == "authentic"
    assert scan(client, f"/01/{GTIN}/22/V1/10/LOT42")["verdict"] == "registered"
    assert scan(client, f"/01/{GTIN}/22/V1")["verdict"] == "registered"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"/01/{GTIN}/21/S1/10/LOT42", "qualifier /10/ is in the wrong place"),
        (f"/01/{GTIN}/10/LOT42/22/V1", "qualifier /22/ is in the wrong place"),
        (f"/01/{GTIN}/17/281231", "/17/ is not a path qualifier"),
        (f"/01/{GTIN}/10", "with no value after it"),
        (f"/01/{GTIN}/10/{'L' * 21}", "at most 20 characters"),
        (f"/01/{GTIN}/", "trailing slash"),
        ("/01/04012345123457", "check digit"),
    ],
)
def test_qualifier_orders_gs1_forbids_are_refused_with_the_reason(client, path, message):
    response = get(client, path)
    assert response.status_code == 422 and message in response.json()["detail"]
    page = client.get(path, headers=HTML)
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
