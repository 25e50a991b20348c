"""API keys kept a moment in a serving process (``app.services.orgs.Principals``, ``PASSPORT_API_KEY_SECONDS``):
a key's organisation and licence grants are read once and kept ``seconds``, so a revoked key or licence applies
within that bound; an unknown key is never kept; a key only ever finds its own organisation; which licences stand
is decided at each request's time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, text

from app.domain.errors import NotAuthenticated
from app.services.clock import utcnow
from app.services.orgs import Principals, authenticate, hash_api_key
from tests.helpers import assert_problem, ok, post


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _revoke_key(runtime, org) -> None:
    with runtime.sessions.begin() as session:
        session.execute(text("UPDATE api_key SET revoked_at = CURRENT_TIMESTAMP WHERE org_id = :org"), {"org": org.id})


def _key_reads(runtime):
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:
        if "api_key" in statement:
            seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(runtime.engine, "before_cursor_execute", record)


def test_a_kept_key_is_read_once_and_a_revoked_key_is_refused_within_the_bound(runtime, make_org):
    maker = make_org("manufacturer", "drug_manufacturing")
    clock = Clock()
    principals = Principals(2.0, clock=clock)
    seen, stop = _key_reads(runtime)
    try:
        with runtime.sessions() as session:
            first = principals.authenticate(session, maker.api_key)
            again = principals.authenticate(session, maker.api_key)
        assert first == again and first.org_id == maker.id and first.licences == {"drug_manufacturing"}
        assert len(seen) == 1, seen  # the second request read nothing
    finally:
        stop()
    _revoke_key(runtime, maker)
    with runtime.sessions() as session:
        clock.now += 1.9  # within the bound: the key read before
        assert principals.authenticate(session, maker.api_key).org_id == maker.id
        clock.now += 0.1  # the bound passed: the revocation applies
        with pytest.raises(NotAuthenticated):
            principals.authenticate(session, maker.api_key)
        clock.now -= 10  # a refused key is not kept: refused again, whatever the clock says
        with pytest.raises(NotAuthenticated):
            principals.authenticate(session, maker.api_key)
        with pytest.raises(NotAuthenticated):
            authenticate(session, maker.api_key)  # the uncached lookup agrees


def test_another_organisations_key_never_sees_the_kept_principal(runtime, make_org):
    first, second = make_org("manufacturer", "drug_manufacturing"), make_org("distributor", "drug_wholesale")
    principals = Principals(60.0, clock=Clock())
    with runtime.sessions() as session:
        for _ in range(2):
            a = principals.authenticate(session, first.api_key)
            b = principals.authenticate(session, second.api_key)
            assert (a.org_id, a.role, a.licences) == (first.id, "manufacturer", {"drug_manufacturing"})
            assert (b.org_id, b.role, b.licences) == (second.id, "distributor", {"drug_wholesale"})
        for wrong in (first.api_key + "x", first.api_key[:-1], hash_api_key(first.api_key), ""):
            with pytest.raises(NotAuthenticated):
                principals.authenticate(session, wrong)


def test_an_unknown_key_is_never_kept_so_a_new_key_works_at_once(runtime, make_org):
    principals = Principals(60.0, clock=Clock())
    org = make_org("distributor", "drug_wholesale")
    with runtime.sessions() as session:
        with pytest.raises(NotAuthenticated):
            principals.authenticate(session, "pp_not-issued-yet")
    with runtime.sessions.begin() as session:  # the same text becomes a key
        session.execute(
            text("INSERT INTO api_key (org_id, key_hash, prefix, created_at) VALUES (:org, :hash, 'pp_not-is', :at)"),
            {"org": org.id, "hash": hash_api_key("pp_not-issued-yet"), "at": utcnow()},
        )
    with runtime.sessions() as session:
        assert principals.authenticate(session, "pp_not-issued-yet").org_id == org.id


def test_licences_stand_at_each_requests_time_not_when_the_key_was_read(runtime, make_org, monkeypatch):
    dist = make_org("distributor", "drug_wholesale")
    principals = Principals(60.0, clock=Clock())
    soon = utcnow() + timedelta(seconds=1)
    with runtime.sessions.begin() as session:  # revoked a second from now (a revocation carries its moment)
        session.execute(text("UPDATE licence SET revoked_at = :at WHERE org_id = :org"), {"at": soon, "org": dist.id})
    with runtime.sessions() as session:
        assert principals.authenticate(session, dist.api_key).licences == {"drug_wholesale"}
        monkeypatch.setattr("app.services.orgs.utcnow", lambda: soon + timedelta(microseconds=1))
        assert principals.authenticate(session, dist.api_key).licences == frozenset()  # kept, yet revoked by now


def test_a_served_request_with_a_revoked_key_is_refused_once_the_bound_passed(
    client, runtime, maker, batch, issue, make_org
):
    clock = Clock()
    assert client.app.state.principals.seconds == 2.0  # PASSPORT_API_KEY_SECONDS's default
    client.app.state.principals = Principals(2.0, clock=clock)  # the fixtures' requests kept the key by the real clock
    dist = make_org("distributor", "drug_wholesale")
    first, second, third = (c["uri"] for c in issue(batch["id"], 3))
    ok(post(client, maker, {"action": "ship", "codes": [first], "to": dist.id}))  # read and kept
    _revoke_key(runtime, maker)
    clock.now += 1.5
    ok(post(client, maker, {"action": "ship", "codes": [second], "to": dist.id}))  # within the bound
    clock.now += 0.5
    assert_problem(post(client, maker, {"action": "ship", "codes": [third], "to": dist.id}), 401, "invalid_api_key")
    # the other routes (dependencies) share the same keys
    assert_problem(client.get(f"/v1/orgs/{maker.id}/licences", headers=maker.headers), 401, "invalid_api_key")


def test_without_keeping_every_request_reads_the_key(database_url, make_org, runtime):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.helpers import settings_for

    settings = settings_for(database_url, api_key_seconds=0)
    org = make_org("manufacturer", "drug_manufacturing")
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
        assert client.get("/v1/orgs/" + org.id + "/licences", headers=org.headers).status_code == 200
        _revoke_key(runtime, org)
        refused = client.get("/v1/orgs/" + org.id + "/licences", headers=org.headers)
        assert_problem(refused, 401, "invalid_api_key")


def test_a_licence_revoked_stands_no_more_for_registering_a_drug_though_the_key_is_kept(client, make_org):
    """The kept principal carries the licences read with the key; registering a drug reads them afresh, so a
    revocation (or a grant) applies from its moment, not up to PASSPORT_API_KEY_SECONDS later."""
    regulator = make_org("regulator")
    maker = make_org("manufacturer", "drug_manufacturing")
    client.app.state.principals = Principals(60.0, clock=Clock())  # the key kept for the whole test

    def register(gtin: str):
        body = {"gtin": gtin, "name": "Paracetamol 500 mg", "category": "drug_otc"}
        return client.post("/v1/products", headers=maker.headers, json=body)

    assert register("09506000134352").status_code == 201  # the key read and kept here
    [lic] = client.get(f"/v1/orgs/{maker.id}/licences", headers=regulator.headers).json()["licences"]
    assert client.post(f"/v1/licences/{lic['id']}/revoke", headers=regulator.headers).status_code == 200
    assert_problem(register("09506000134369"), 409, "licence_required")
    granted = {"kind": "drug_manufacturing"}
    assert client.post(f"/v1/orgs/{maker.id}/licences", headers=regulator.headers, json=granted).status_code == 201
    assert register("09506000134369").status_code == 201
