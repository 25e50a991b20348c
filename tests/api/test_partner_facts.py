"""The partner answer's facts (app/db/partner_facts.py): on PostgreSQL the requests that arrive together are asked in
one statement (``grouped_facts``: the public scan's ``GroupedLookups`` with the partner statement), and each gets
exactly what the statement for it alone answers. Whether a requester ever had a unit (app/db/partner_rows.py
``held_pairs``) is decided in the keeper's transaction, a group at a time; on PostgreSQL a group whose every
requester had its unit is decided and inserted by one statement (``insert_if_all_held``), the same decision."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from app.db.engine import libpq_url
from app.db.lookups import LookupFailed
from app.db.models import PartnerVerification, Unit
from app.db.partner_facts import grouped_facts, partner_facts_sql
from app.db.partner_rows import held_pairs, insert_if_all_held
from app.services.clock import utcnow
from app.services.orgs import hash_api_key
from tests.helpers import GTIN, ok, post

UNKNOWN_KEY = hash_api_key("pp_no-such-key")


@pytest.fixture
def facts(runtime):
    grouped = grouped_facts(runtime.engine)
    yield grouped
    grouped.close()


def unit_ids(runtime, codes: list[dict[str, Any]]) -> list[int]:
    with runtime.sessions() as session:
        by_serial = {
            serial: id_ for serial, id_ in session.execute(select(Unit.serial, Unit.id).where(Unit.gtin == GTIN))
        }
    return [by_serial[code["uri"].split("/21/")[1].split("?")[0]] for code in codes]


def alone(runtime, key_hash: str, gtin: str | None) -> tuple[Any, ...] | None:
    with psycopg.connect(libpq_url(runtime.engine)) as conn:
        row = conn.execute(partner_facts_sql("postgresql"), (gtin, key_hash)).fetchone()
    return tuple(row) if row is not None else None


@pytest.mark.postgres_only
def test_requests_asked_together_get_what_each_would_get_alone(runtime, maker, batch, make_org, facts):
    dist = make_org("distributor", "drug_wholesale")
    pharm = make_org("retailer", "drug_retail")
    key = {org.id: hash_api_key(org.api_key) for org in (maker, dist, pharm)}
    asked = [
        (key[dist.id], GTIN),
        (key[pharm.id], GTIN),
        (UNKNOWN_KEY, GTIN),  # no such key: no row
        (key[maker.id], None),  # a malformed code: no product
        (key[dist.id], "09506000000000"),  # a GTIN nobody registered
        (key[dist.id], GTIN),  # the same request twice in one statement
    ]

    async def ask_all() -> list[Any]:
        return await asyncio.gather(*(facts.fetch(*request) for request in asked))

    answers = asyncio.run(ask_all())
    assert facts.statements == 1  # all six arrived before the statement went out
    assert answers == [alone(runtime, *request) for request in asked]
    assert [answer[0] if answer is not None else None for answer in answers] == [
        dist.id, pharm.id, None, maker.id, dist.id, dist.id
    ]  # fmt: skip
    assert answers[3][4] is None and answers[4][4] is None  # no product
    assert answers[0][4] == maker.id and answers[0][7] == "drug_otc"
    assert [grant[0] for grant in answers[1][3]] == ["drug_retail"]  # the licence grants, as one JSON array


def test_held_is_whether_the_requester_ever_had_the_unit(runtime, client, maker, batch, issue, make_org):
    dist = make_org("distributor", "drug_wholesale")
    pharm = make_org("retailer", "drug_retail")
    stranger = make_org("retailer", "drug_retail")
    codes = issue(batch["id"], 3)
    first, second = codes[0]["uri"], codes[1]["uri"]
    ok(post(client, maker, {"action": "ship", "codes": [first, second], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [first, second]}))
    ok(post(client, dist, {"action": "ship", "codes": [first], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [first]}))  # dist is named with it in events only now
    one, two, three = unit_ids(runtime, codes)
    with runtime.engine.connect() as conn:
        held = held_pairs(conn, {(dist.id, one), (pharm.id, one), (pharm.id, two), (stranger.id, three)})
    # dist: named in its events; pharm: holds one, and held units of its lot (lot custody); stranger: nothing
    assert held == {(dist.id, one), (pharm.id, one), (pharm.id, two)}


@pytest.mark.postgres_only
def test_a_group_is_inserted_in_one_statement_only_if_every_requester_had_its_unit(
    runtime, client, maker, batch, issue, make_org
):
    dist = make_org("distributor", "drug_wholesale")
    stranger = make_org("retailer", "drug_retail")
    codes = issue(batch["id"], 3)
    ok(post(client, maker, {"action": "ship", "codes": [codes[0]["uri"]], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [codes[0]["uri"]]}))
    one, _, three = unit_ids(runtime, codes)
    at = utcnow()

    def row(org: str, unit: int | None, held: bool | None, n: int) -> tuple[Any, ...]:
        request = {"path": f"/01/{GTIN}/21/{n}", "query": 'a="b"\\ 😀', "error": None}
        answer = f'{{"correlationUUID":"c{n}","名":"对乙酰氨基酚 \\"x\\" 😀"}}'
        return (org, maker.id, GTIN, str(n), unit, "statusCheck", f"c{n}", n % 2 == 0, held, request, answer, at)

    def kept() -> list[tuple[Any, ...]]:
        columns = (PartnerVerification.correlation_uuid, PartnerVerification.held, PartnerVerification.verified)
        more = (PartnerVerification.request, PartnerVerification.answer, PartnerVerification.requested_at)
        with runtime.sessions() as session:
            return [tuple(r) for r in session.execute(select(*columns, *more).order_by(PartnerVerification.id))]

    mixed = [row(dist.id, one, None, 1), row(stranger.id, three, None, 2), row(maker.id, None, True, 3)]
    with runtime.engine.connect() as conn:
        assert insert_if_all_held(conn, mixed) is False  # the stranger never had unit three: nothing written
        assert kept() == []
        assert conn.connection.driver_connection.autocommit is False  # back to transactions, for the guard's
        assert insert_if_all_held(conn, [row(dist.id, one, None, 4), row(maker.id, None, True, 5)]) is True
        assert held_pairs(conn, {(dist.id, one), (stranger.id, three)}) == {(dist.id, one)}  # the same decision
        conn.rollback()  # held_pairs began a transaction
        for odd in ("\x00", "\ud800"):  # JSON carries them escaped, json_to_recordset refuses them: nothing written,
            request = row(dist.id, one, None, 6)  # and left to the transaction's COPY, which stores them
            request[9]["error"] = odd
            assert insert_if_all_held(conn, [request]) is False
            assert conn.connection.driver_connection.autocommit is False
    first, second = row(dist.id, one, None, 4), row(maker.id, None, True, 5)
    assert kept() == [  # in order, decided held, the request and answer as JSON, the time to the microsecond
        ("c4", True, True, first[9], json.loads(first[10]), at),
        ("c5", True, False, second[9], json.loads(second[10]), at),
    ]
    with runtime.engine.connect() as conn:  # the answer's very bytes, as signed and sent
        stored = conn.exec_driver_sql("SELECT answer::text FROM partner_verification ORDER BY id").scalars().all()
    assert stored == [first[10], second[10]]


@pytest.mark.postgres_only
def test_a_revoked_key_gets_no_facts_beside_a_valid_one(runtime, client, maker, make_org, facts):
    dist = make_org("distributor", "drug_wholesale")
    with psycopg.connect(libpq_url(runtime.engine), autocommit=True) as conn:
        conn.execute("UPDATE api_key SET revoked_at = now() WHERE key_hash = %s", (hash_api_key(dist.api_key),))

    async def ask_both() -> list[Any]:
        return await asyncio.gather(
            facts.fetch(hash_api_key(dist.api_key), GTIN), facts.fetch(hash_api_key(maker.api_key), GTIN)
        )

    revoked, valid = asyncio.run(ask_both())
    assert revoked is None
    assert valid is not None and valid[0] == maker.id


@pytest.mark.postgres_only
def test_a_failed_statement_fails_its_own_requests_and_the_next_ones_are_answered(runtime, maker, facts):
    async def scenario() -> tuple[list[Any], list[Any]]:
        # A NUL in a text parameter fails the whole statement (PostgreSQL's text cannot hold it).
        failing = [asyncio.ensure_future(facts.fetch(hash_api_key(maker.api_key), g)) for g in (GTIN, "0\x00", None)]
        first = await asyncio.gather(*failing, return_exceptions=True)
        after = await asyncio.gather(*(facts.fetch(hash_api_key(maker.api_key), None) for _ in range(3)))
        return first, after

    first, after = asyncio.run(scenario())
    assert all(isinstance(answer, LookupFailed) for answer in first), first
    assert len({id(answer) for answer in first}) == 3  # each requester raises an exception of its own
    assert [answer[0] for answer in after] == [maker.id] * 3


@pytest.mark.postgres_only
def test_a_cancelled_request_does_not_stall_the_others(runtime, maker, facts):
    async def scenario() -> list[Any]:
        tasks = [asyncio.ensure_future(facts.fetch(hash_api_key(maker.api_key), None)) for _ in range(5)]
        await asyncio.sleep(0)  # all five are waiting for their statement
        tasks[1].cancel()
        done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=10)
        return [type(answer).__name__ if isinstance(answer, BaseException) else answer[0] for answer in done]

    assert asyncio.run(scenario()) == [maker.id, "CancelledError", maker.id, maker.id, maker.id]
