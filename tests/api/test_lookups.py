"""The verification lookup below SQLAlchemy: on PostgreSQL, the codes of concurrent scans share one statement.

What must hold whatever the grouping: every requester gets the row of its own code (never a neighbour's), a
statement that fails fails only its own requesters, a cancelled request does not stall the others, and the
connection of a closed event loop, or of a closed service, is released.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import psycopg
import pytest
from sqlalchemy import text

from app.db import lookups as lookups_module
from app.db.engine import libpq_url
from app.db.lookups import APPLICATION_NAME, GroupedLookups, LookupFailed
from app.db.units import LOOKUP_MANY_SQL, lookup_sql
from tests.helpers import BASE_URL, GTIN


def _second_batch(client, maker) -> dict:
    today = date.today()
    response = client.post(
        "/v1/batches",
        json={
            "gtin": GTIN,
            "lot": "LOT43",
            "manufactured_on": (today - timedelta(days=3)).isoformat(),
            "expires_on": (today + timedelta(days=400)).isoformat(),
        },
        headers=maker.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def _get(url: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_concurrent_scans_each_get_their_own_verdict(server, client, maker, batch, issue):
    """Many scans at once through a real server: each answer is exactly what that scan gets alone. The short
    form (no lot in the code) shows the lot of the record it was answered from, so a neighbour's row would show."""
    other = _second_batch(client, maker)
    paths = []
    for code in issue(batch["id"], 12) + issue(other["id"], 12):
        path = code["uri"].replace(BASE_URL, "")
        head, query = path.split("?")
        serial = head.rsplit("/", 1)[1]
        short = f"/01/{GTIN}/21/{serial}?{query}"
        altered = head[:-1] + ("A" if head[-1] != "A" else "B") + "?" + query
        paths += [path, short, altered, f"/01/{GTIN}/21/{serial}"]
    paths += [f"/01/{GTIN}/21/ZZZZZZZZZZ{i:02d}" for i in range(8)]
    alone = {path: _get(server + path) for path in paths}
    assert {body["lot"] for status, body in alone.values() if status == 200} == {"LOT42", "LOT43", None}
    assert {body["verdict"] for _, body in alone.values()} >= {"authentic", "invalid_signature", "unknown"}

    together = paths * 3
    random.Random(5).shuffle(together)
    with ThreadPoolExecutor(48) as pool:
        answers = list(pool.map(lambda path: _get(server + path), together))
    for path, answer in zip(together, answers, strict=True):
        assert answer == alone[path], path


@pytest.mark.postgres_only
def test_codes_asked_together_share_a_statement_and_get_their_own_rows(runtime, batch, issue):
    serials = [code["uri"].split("/21/")[1].split("?")[0] for code in issue(batch["id"], 30)]
    asked = [*serials, *serials[:5], *(f"NEVER{i:07d}" for i in range(270))]  # repeats; more than one statement
    lookups = GroupedLookups(runtime.engine, LOOKUP_MANY_SQL)

    async def ask_all() -> list:
        return await asyncio.gather(*(lookups.fetch(GTIN, serial) for serial in asked))

    try:
        answers = asyncio.run(ask_all())
    finally:
        lookups.close()
    assert lookups.statements == 2  # 305 codes: 256 in one statement, the rest in the next
    with psycopg.connect(libpq_url(runtime.engine)) as conn:
        for serial, answer in zip(asked, answers, strict=True):
            alone = conn.execute(lookup_sql("postgresql"), (GTIN, serial)).fetchone()
            assert answer == alone, serial
    assert sum(answer is not None for answer in answers) == 35


_FAILS_FOR_BOOM = (
    "SELECT k.gtin, k.serial, 1 / (CASE WHEN k.serial = 'BOOM' THEN 0 ELSE 1 END) "
    "FROM unnest(%s::text[], %s::text[]) AS k(gtin, serial)"
)


@pytest.mark.postgres_only
def test_a_failed_statement_fails_its_own_requests_only(runtime):
    lookups = GroupedLookups(runtime.engine, _FAILS_FOR_BOOM)

    async def scenario() -> tuple[list, list, list]:
        failing = [asyncio.ensure_future(lookups.fetch(GTIN, s)) for s in ("A1", "BOOM", "A2")]
        await asyncio.sleep(0)  # their statement is on its way
        meanwhile = [asyncio.ensure_future(lookups.fetch(GTIN, s)) for s in ("A3", "A4")]  # for the next one
        first = await asyncio.gather(*failing, return_exceptions=True)
        second = await asyncio.gather(*meanwhile)
        after = await asyncio.gather(*(lookups.fetch(GTIN, s) for s in ("A5", "A6")))
        return first, second, after

    try:
        first, second, after = asyncio.run(scenario())
    finally:
        lookups.close()
    assert all(isinstance(answer, LookupFailed) for answer in first), first
    assert all(isinstance(answer.__cause__, psycopg.errors.DivisionByZero) for answer in first)
    assert len({id(answer) for answer in first}) == 3  # each requester raises an exception of its own
    assert second == after == [(1,), (1,)]
    assert lookups.statements == 3


@pytest.mark.postgres_only
def test_a_cancelled_request_does_not_stall_the_others(runtime):
    lookups = GroupedLookups(runtime.engine, _FAILS_FOR_BOOM)

    async def scenario() -> list:
        tasks = [asyncio.ensure_future(lookups.fetch(GTIN, f"C{i}")) for i in range(6)]
        await asyncio.sleep(0)  # all six are waiting for their statement
        tasks[2].cancel()
        done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=10)
        return [type(answer).__name__ if isinstance(answer, BaseException) else answer for answer in done]

    try:
        answers = asyncio.run(scenario())
    finally:
        lookups.close()
    assert answers == [(1,), (1,), "CancelledError", (1,), (1,), (1,)]


def _lookup_connections(runtime) -> int:
    """The lookup connections open on this test's database, once the server has caught up with closes."""
    deadline = time.monotonic() + 10
    while True:
        with runtime.engine.connect() as conn:
            count = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": APPLICATION_NAME},
            ).scalar_one()
        if count <= 1 or time.monotonic() > deadline:
            return int(count)
        time.sleep(0.05)


@pytest.mark.postgres_only
def test_connections_end_with_their_event_loop_and_on_close(runtime):
    lookups = GroupedLookups(runtime.engine, _FAILS_FOR_BOOM)
    assert asyncio.run(lookups.fetch(GTIN, "L1")) == (1,)
    assert asyncio.run(lookups.fetch(GTIN, "L2")) == (1,)  # a second loop: the first one's connection is closed
    assert _lookup_connections(runtime) == 1
    lookups.close()
    deadline = time.monotonic() + 10
    while _lookup_connections(runtime) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _lookup_connections(runtime) == 0


@pytest.mark.postgres_only
def test_a_statement_that_does_not_answer_fails_in_time_and_the_next_gets_a_new_connection(runtime, monkeypatch):
    monkeypatch.setattr(lookups_module, "TIMEOUT_S", 0.3)
    slow = (
        "SELECT k.gtin, k.serial, 1 FROM unnest(%s::text[], %s::text[]) AS k(gtin, serial) "
        "CROSS JOIN LATERAL pg_sleep(CASE WHEN k.serial = 'SLOW' THEN 5 ELSE 0 END)"
    )
    lookups = GroupedLookups(runtime.engine, slow)

    async def scenario() -> tuple[BaseException | None, float, tuple | None]:
        start = time.monotonic()
        try:
            await lookups.fetch(GTIN, "SLOW")
            failure = None
        except LookupFailed as error:
            failure = error
        return failure, time.monotonic() - start, await lookups.fetch(GTIN, "QUICK")

    try:
        failure, waited, next_answer = asyncio.run(scenario())
    finally:
        lookups.close()
    assert failure is not None and isinstance(failure.__cause__, TimeoutError)
    assert waited < 3
    assert next_answer == (1,)
