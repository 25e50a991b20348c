"""Licences in time (issue 16): granted, renewed and revoked by admins and regulators; a drug is shipped to,
received from and sold by only an organisation whose role's licence stands that day, else refused and alerted."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select

from app.cli import alembic_config, main
from app.db.engine import make_engine
from app.db.models import Alert, Event, Licence
from app.db.types import UTCDateTime
from tests.helpers import GTIN, assert_problem, ok, post

TODAY = date.today()


def grant(client, by, org, kind: str, **term: Any):
    body = {"kind": kind, **{k: v.isoformat() if isinstance(v, date) else v for k, v in term.items()}}
    return client.post(f"/v1/orgs/{org.id}/licences", json=body, headers=by.headers)


def granted(client, by, org, kind: str, **term: Any) -> dict[str, Any]:
    response = grant(client, by, org, kind, **term)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def alerts(runtime) -> list[tuple[str, str, dict[str, Any]]]:
    with runtime.sessions() as session:
        rows = session.execute(select(Alert.type, Alert.org_id, Alert.details).order_by(Alert.id)).all()
    return [(r.type, r.org_id, r.details) for r in rows]


def events(runtime) -> int:
    with runtime.sessions() as session:
        return len(session.scalars(select(Event.id)).all())


@pytest.fixture
def regulator(make_org):
    return make_org("regulator")


def test_grant_renew_revoke(client, make_org, regulator):
    admin = make_org("admin")
    dist = make_org("distributor")
    lic = granted(client, regulator, dist, "drug_wholesale", valid_until=TODAY + timedelta(days=10), number="A-1")
    assert lic["id"] and lic["org_id"] == dist.id and lic["number"] == "A-1"
    assert (lic["valid_from"], lic["valid_until"]) == (TODAY.isoformat(), (TODAY + timedelta(days=10)).isoformat())
    assert lic["standing"] == "valid" and lic["revoked_at"] is None
    assert client.get("/v1/orgs/me", headers=dist.headers).json()["licences"] == ["drug_wholesale"]

    # a second grant over the same days is refused: renew the first
    assert_problem(grant(client, admin, dist, "drug_wholesale"), 409, "licence_exists")
    later = granted(client, admin, dist, "drug_wholesale", valid_from=TODAY + timedelta(days=11))
    assert later["standing"] == "not_yet_valid"

    renewed = client.post(
        f"/v1/licences/{lic['id']}/renew",
        json={"valid_until": (TODAY + timedelta(days=5)).isoformat()},
        headers=admin.headers,
    )
    assert renewed.status_code == 200 and renewed.json()["valid_until"] == (TODAY + timedelta(days=5)).isoformat()

    revoked = client.post(f"/v1/licences/{lic['id']}/revoke", headers=regulator.headers)
    assert revoked.status_code == 200 and revoked.json()["standing"] == "revoked" and revoked.json()["revoked_at"]
    again = client.post(f"/v1/licences/{lic['id']}/revoke", headers=regulator.headers)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert client.get("/v1/orgs/me", headers=dist.headers).json()["licences"] == []

    # a revoked licence is never renewed silently; a new grant over its days is allowed
    problem = assert_problem(
        client.post(f"/v1/licences/{lic['id']}/renew", json={"valid_until": None}, headers=admin.headers),
        409,
        "licence_revoked",
    )
    assert "grant a new one" in problem["detail"]
    fresh = granted(client, regulator, dist, "drug_wholesale", valid_until=TODAY + timedelta(days=10))
    listed = client.get(f"/v1/orgs/{dist.id}/licences", headers=dist.headers).json()["licences"]
    assert [(x["id"], x["standing"]) for x in listed] == [
        (lic["id"], "revoked"),
        (later["id"], "not_yet_valid"),
        (fresh["id"], "valid"),
    ]


def test_bad_grants(client, make_org, regulator):
    dist = make_org("distributor")
    assert_problem(grant(client, regulator, dist, "fishing"), 422, "invalid_licence")
    bad = grant(client, regulator, dist, "drug_wholesale", valid_from=TODAY, valid_until=TODAY - timedelta(days=1))
    assert_problem(bad, 422, "invalid_licence_dates")
    missing = client.post("/v1/orgs/" + "0" * 32 + "/licences", json={"kind": "drug_retail"}, headers=regulator.headers)
    assert_problem(missing, 404, "org_not_found")
    assert_problem(client.post("/v1/licences/999999/revoke", headers=regulator.headers), 404, "licence_not_found")
    assert_problem(
        client.post("/v1/licences/999999/renew", json={"valid_until": None}, headers=regulator.headers),
        404,
        "licence_not_found",
    )
    assert grant(client, regulator, dist, "drug_wholesale", extra=1).status_code == 422


def test_wrong_roles_and_other_orgs(client, make_org, regulator, maker):
    dist = make_org("distributor", "drug_wholesale")
    pharm = make_org("retailer", "drug_retail")
    lic = client.get(f"/v1/orgs/{dist.id}/licences", headers=dist.headers).json()["licences"][0]
    for who in (dist, pharm, maker):
        assert_problem(grant(client, who, pharm, "drug_wholesale"), 403, "wrong_role")
        assert_problem(grant(client, who, who, "drug_wholesale"), 403, "wrong_role")  # not even for itself
        assert_problem(client.post(f"/v1/licences/{lic['id']}/revoke", headers=who.headers), 403, "wrong_role")
        renew = client.post(f"/v1/licences/{lic['id']}/renew", json={"valid_until": None}, headers=who.headers)
        assert_problem(renew, 403, "wrong_role")
        assert_problem(client.get("/v1/licences/lapsing", headers=who.headers), 403, "wrong_role")
    # another organisation's licences are for itself, admins and regulators only
    assert_problem(client.get(f"/v1/orgs/{dist.id}/licences", headers=pharm.headers), 403, "foreign_org")
    assert client.get(f"/v1/orgs/{dist.id}/licences", headers=regulator.headers).status_code == 200
    assert client.get(f"/v1/orgs/{dist.id}/licences", headers=dist.headers).json()["licences"][0]["standing"] == "valid"
    assert client.post(f"/v1/orgs/{dist.id}/licences", json={"kind": "drug_retail"}).status_code == 401


def test_lapsing_soonest_first(client, make_org, regulator):
    a, b, c = make_org("distributor", name="A"), make_org("retailer", name="B"), make_org("retailer", name="C")
    granted(client, regulator, a, "drug_wholesale", valid_until=TODAY + timedelta(days=20))
    soon = granted(client, regulator, b, "drug_retail", valid_until=TODAY)
    revoked = granted(client, regulator, c, "drug_retail", valid_until=TODAY + timedelta(days=3))
    client.post(f"/v1/licences/{revoked['id']}/revoke", headers=regulator.headers)
    granted(client, regulator, c, "medical_institution", valid_until=TODAY + timedelta(days=31))
    found = client.get("/v1/licences/lapsing?days=30", headers=regulator.headers).json()["licences"]
    assert [(x["org_name"], x["kind"], x["days_left"]) for x in found] == [
        ("B", "drug_retail", 0),
        ("A", "drug_wholesale", 20),
    ]
    assert found[0]["id"] == soon["id"]
    assert client.get("/v1/licences/lapsing?days=0", headers=regulator.headers).json()["licences"][0]["org_name"] == "B"
    assert client.get("/v1/licences/lapsing?days=-1", headers=regulator.headers).status_code == 422


# ------------------------------------------------------------------------------------------------- enforcement


def test_shipping_to_an_unlicensed_or_lapsed_partner_is_refused_and_alerted(
    client, runtime, maker, batch, issue, make_org, regulator
):
    code = issue(batch["id"], 1)[0]["uri"]
    never = make_org("distributor")
    lapsed = make_org("distributor")
    granted(
        client,
        regulator,
        lapsed,
        "drug_wholesale",
        valid_from=TODAY - timedelta(days=30),
        valid_until=TODAY - timedelta(days=1),
    )
    early = make_org("distributor")
    granted(client, regulator, early, "drug_wholesale", valid_from=TODAY + timedelta(days=1))
    wrong_kind = make_org("distributor", "drug_retail")
    before = events(runtime)

    problem = assert_problem(
        post(client, maker, {"action": "ship", "codes": [code], "to": never.id}), 409, "licence_required"
    )
    assert problem["party"] == "receiver" and problem["org"] == never.id and problem["alert_id"]
    problem = assert_problem(
        post(client, maker, {"action": "ship", "codes": [code], "to": lapsed.id}), 409, "licence_expired"
    )
    assert f"expired on {(TODAY - timedelta(days=1)).isoformat()}" in problem["detail"]
    problem = assert_problem(
        post(client, maker, {"action": "ship", "codes": [code], "to": early.id}), 409, "licence_required"
    )
    assert problem["licence"] == "not_yet_valid"
    assert_problem(
        post(client, maker, {"action": "ship", "codes": [code], "to": wrong_kind.id}), 409, "licence_required"
    )
    assert events(runtime) == before  # nothing written

    raised = alerts(runtime)
    assert {(t, org) for t, org, _ in raised} == {("unlicensed_trade", maker.id)}
    details = raised[0][2]
    assert details["party"] == "receiver" and details["action"] == "ship" and details["refusal"] == "licence_required"
    assert details["unlicensed_org"] == never.id

    # shipped while the licence stood (a backdated event; the maker trades under a wholesale licence then), the same
    # shipment is accepted
    granted(client, regulator, maker, "drug_wholesale", valid_from=TODAY - timedelta(days=30))
    backdated = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": lapsed.id, "occurred_at": backdated}))


def test_a_revoked_sender_or_receiver_stops_the_receipt(client, runtime, maker, batch, issue, make_org, regulator):
    first, second = (c["uri"] for c in issue(batch["id"], 2))
    dist = make_org("distributor")
    lic = granted(client, regulator, dist, "drug_wholesale")
    ok(post(client, maker, {"action": "ship", "codes": [first, second], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [first]}))

    # the sender loses its licence after shipping: the receiver may not take the drug from it
    maker_lic = client.get(f"/v1/orgs/{maker.id}/licences", headers=maker.headers).json()["licences"][0]
    assert client.post(f"/v1/licences/{maker_lic['id']}/revoke", headers=regulator.headers).status_code == 200
    problem = assert_problem(post(client, dist, {"action": "receive", "codes": [second]}), 409, "licence_required")
    assert problem["party"] == "sender" and problem["org"] == maker.id and problem["licence"] == "revoked"
    granted(client, regulator, maker, "drug_manufacturing")  # a new grant, explicitly
    client.post(f"/v1/licences/{lic['id']}/revoke", headers=regulator.headers)
    problem = assert_problem(post(client, dist, {"action": "receive", "codes": [second]}), 409, "licence_required")
    assert problem["party"] == "receiver" and problem["org"] == dist.id
    # nor ship on what it holds
    pharm = make_org("retailer", "drug_retail")
    assert_problem(post(client, dist, {"action": "ship", "codes": [first], "to": pharm.id}), 409, "licence_required")
    with runtime.sessions() as session:
        raised = session.execute(select(Alert.type, Alert.details, Alert.count).order_by(Alert.id)).all()
    # one open alert per code and kind: the two refused receipts of the second unit count on one alert
    assert [(t, d["action"], d["party"], n) for t, d, n in raised] == [
        ("unlicensed_trade", "receive", "sender", 2),
        ("unlicensed_trade", "ship", "sender", 1),
    ]


def test_selling_with_a_lapsed_licence(client, runtime, maker, batch, issue, make_org, regulator):
    code = issue(batch["id"], 1)[0]["uri"]
    pharm = make_org("retailer")
    lic = granted(
        client,
        regulator,
        pharm,
        "drug_retail",
        valid_from=TODAY - timedelta(days=10),
        valid_until=TODAY + timedelta(days=1),
    )
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [code]}))
    # the licence ends yesterday: a sale today is refused as expired, a sale backdated into the term is not
    renew = client.post(
        f"/v1/licences/{lic['id']}/renew",
        json={"valid_until": (TODAY - timedelta(days=1)).isoformat()},
        headers=regulator.headers,
    )
    assert renew.status_code == 200
    problem = assert_problem(
        post(client, pharm, {"action": "sell", "codes": [code], "channel": "offline"}), 409, "licence_expired"
    )
    assert problem["party"] == "seller"
    assert [(t, d["refusal"]) for t, _, d in alerts(runtime)] == [("unlicensed_sale", "licence_expired")]
    backdated = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    ok(post(client, pharm, {"action": "sell", "codes": [code], "channel": "offline", "occurred_at": backdated}))


def test_revoked_seller_is_refused_as_unlicensed(client, runtime, maker, batch, issue, make_org, regulator):
    code = issue(batch["id"], 1)[0]["uri"]
    pharm = make_org("retailer", "drug_retail")
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [code]}))
    lic = client.get(f"/v1/orgs/{pharm.id}/licences", headers=pharm.headers).json()["licences"][0]
    client.post(f"/v1/licences/{lic['id']}/revoke", headers=regulator.headers)
    problem = assert_problem(
        post(client, pharm, {"action": "sell", "codes": [code], "channel": "offline"}), 409, "licence_required"
    )
    assert problem["licence"] == "revoked"
    assert [t for t, _, _ in alerts(runtime)] == ["unlicensed_sale"]  # one alert, not two


def test_non_drugs_need_no_licence(client, maker, issue, make_org):
    response = client.post(
        "/v1/products", json={"gtin": GTIN, "name": "Rice 5 kg", "category": "food"}, headers=maker.headers
    )
    assert response.status_code == 201, response.text
    lot = client.post(
        "/v1/batches",
        json={
            "gtin": GTIN,
            "lot": "R1",
            "manufactured_on": (TODAY - timedelta(days=1)).isoformat(),
            "expires_on": (TODAY + timedelta(days=100)).isoformat(),
        },
        headers=maker.headers,
    ).json()
    code = issue(lot["id"], 1)[0]["uri"]
    shop = make_org("distributor")
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": shop.id}))
    ok(post(client, shop, {"action": "receive", "codes": [code]}))


def test_a_pallet_of_drugs_to_an_unlicensed_partner(client, maker, batch, issue, make_org):
    codes = [c["uri"] for c in issue(batch["id"], 2)]
    ok(post(client, maker, {"action": "pack", "codes": codes, "container": "(00)376104250021234569"}))
    never = make_org("distributor")
    response = post(client, maker, {"action": "ship", "codes": ["(00)376104250021234569"], "to": never.id})
    assert_problem(response, 409, "licence_required")


# ------------------------------------------------------------------------------------------------- console, CLI


def test_the_regulator_page_lists_licences_lapsing_soon(client, make_org, regulator, maker):
    pharmacy = make_org("retailer", name="Renmin Pharmacy")
    lic = granted(client, regulator, pharmacy, "drug_retail", valid_until=TODAY + timedelta(days=1), number="沪A-7")
    granted(
        client,
        regulator,
        make_org("distributor", name="Far Away"),
        "drug_wholesale",
        valid_until=TODAY + timedelta(days=90),
    )
    cookie = {"Cookie": f"passport_console={regulator.api_key}"}

    en = client.get("/regulator/licences", headers={**cookie, "Accept-Language": "en"})
    assert en.status_code == 200
    assert f'data-licence="{lic["id"]}"' in en.text and "Renmin Pharmacy" in en.text and "沪A-7" in en.text
    assert "Far Away" not in en.text and "1 day left" in en.text and "1 licence ends within 30 days" in en.text
    assert 'href="/regulator/licences"' in en.text  # in the regulator's navigation
    zh = client.get("/regulator/licences?days=100", headers={**cookie, "Accept-Language": "zh-CN"})
    assert zh.status_code == 200 and "Far Away" in zh.text and "即将到期的许可证" in zh.text and "剩余 1 天" in zh.text
    assert client.get("/regulator/licences?days=abc", headers=cookie).status_code == 200  # read as 30
    # a manufacturer may use the console but not this page
    maker_page = client.get("/regulator/licences", headers={"Cookie": f"passport_console={maker.api_key}"})
    assert maker_page.status_code == 403 and "Renmin Pharmacy" not in maker_page.text


def test_the_cli_grants_renews_and_revokes(database_url, runtime, make_org, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PASSPORT_DATABASE_URL", database_url)
    monkeypatch.setenv("PASSPORT_MASTER_KEY_FILE", str(tmp_path / "master.key"))
    dist = make_org("distributor")
    until = (TODAY + timedelta(days=7)).isoformat()
    assert (
        main(["orgs", "grant", "--org", dist.id, "--kind", "drug_wholesale", "--until", until, "--number", "N1"]) == 0
    )
    lic = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (lic["kind"], lic["valid_from"], lic["valid_until"], lic["standing"]) == (
        "drug_wholesale",
        TODAY.isoformat(),
        until,
        "valid",
    )
    assert main(["orgs", "renew", "--licence", str(lic["id"]), "--until", "none"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["valid_until"] is None
    assert main(["orgs", "revoke", "--licence", str(lic["id"])]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["standing"] == "revoked"
    assert main(["orgs", "renew", "--licence", str(lic["id"]), "--until", until]) == 2
    assert "revoked" in capsys.readouterr().err
    since = (TODAY - timedelta(days=40)).isoformat()
    args = ["orgs", "create", "--name", "Old Hand", "--role", "distributor", "--licence", "drug_wholesale"]
    assert main([*args, "--licensed-from", since]) == 0
    created = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with runtime.sessions() as session:
        rows = session.execute(select(Licence.valid_from, Licence.valid_until).where(Licence.org_id == created["id"]))
        assert [(r.valid_from.isoformat(), r.valid_until) for r in rows] == [(since, None)]


def test_0014_keeps_every_licence_standing_from_the_day_it_was_granted(empty_database_url):
    url = empty_database_url
    command.upgrade(alembic_config(url), "0013")
    engine = make_engine(url)
    granted_at = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    org = sa.table(
        "organisation", *(sa.column(c) for c in ("id", "name", "role")), sa.column("created_at", UTCDateTime())
    )
    licence = sa.table("licence", sa.column("org_id"), sa.column("kind"), sa.column("granted_at", UTCDateTime()))
    try:
        with engine.begin() as conn:
            conn.execute(org.insert().values(id="a" * 32, name="Old", role="distributor", created_at=granted_at))
            conn.execute(licence.insert().values(org_id="a" * 32, kind="drug_wholesale", granted_at=granted_at))
        command.upgrade(alembic_config(url), "0014")
        with engine.connect() as conn:
            rows = conn.execute(select(Licence.kind, Licence.valid_from, Licence.valid_until, Licence.revoked_at)).all()
        assert [tuple(r) for r in rows] == [("drug_wholesale", date(2026, 3, 4), None, None)]
        command.downgrade(alembic_config(url), "0013")
        command.upgrade(alembic_config(url), "head")
    finally:
        engine.dispose()
