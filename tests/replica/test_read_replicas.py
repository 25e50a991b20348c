"""Reads on a real streaming standby (PASSPORT_READ_DATABASE_URL): served there, and never wrong under lag.

The standby's own statistics show which reads it served; replay is paused on it (``pg_wal_replay_pause()``) to
make it lag: a code issued meanwhile is not unknown, a refusal is the primary's, and a pack sold meanwhile reads
as sold once the standby is further behind than the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from app.api.routes_pages import COOKIE
from app.config import Settings
from tests.helpers import GTIN, JSON, assert_problem, post, serial, settings_for, verify
from tests.pg_standby import StandbyPair


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll until ``condition()`` is truthy (a correctness wait, not a measurement)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def standby_reads(pair: StandbyPair, database: str, table: str) -> int:
    """Scans of ``table`` the standby itself has served (its pg_stat_user_tables)."""
    with pair.standby(database) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = %s",
            (table,),
        ).fetchone()
        return int(row[0]) if row else 0


def on_standby(pair: StandbyPair, database: str, sql: str, *params: Any) -> Any:
    with pair.standby(database) as conn:
        return conn.execute(sql, params).fetchone()[0]  # type: ignore[index]


def health(client: Any) -> dict[str, Any]:
    response = client.get("/healthz")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def serving(client: Any) -> bool:
    return bool(health(client)["replicas"][0]["serving_reads"])


def sell(client: Any, maker: Any, pharmacy: Any, uri: str) -> None:
    for org, body in (
        (maker, {"action": "ship", "codes": [uri], "to": pharmacy.id}),
        (pharmacy, {"action": "receive", "codes": [uri]}),
        (pharmacy, {"action": "sell", "codes": [uri], "channel": "offline"}),
    ):
        assert post(client, org, body).status_code == 201


@pytest.fixture
def lag_limit() -> float:
    return 1.0


@pytest.fixture
def settings(database_url: str, standby_url: str, lag_limit: float) -> Settings:
    return settings_for(database_url, read_database_url=standby_url, max_replica_lag_seconds=lag_limit)


@pytest.fixture
def database(database_url: str) -> str:
    name = make_url(database_url).database
    assert name
    return name


@pytest.mark.parametrize("lag_limit", [60.0])  # a loaded machine's stalls must not send these reads elsewhere
def test_scans_and_reads_are_served_by_the_standby(
    client, runtime, standby_pair, database, make_org, maker, batch, issue
):
    codes = [c["uri"] for c in issue(batch["id"], 4)]
    sold = codes[0]
    sell(client, maker, make_org("retailer", "drug_retail"), sold)
    standby_pair.wait_caught_up()
    wait_for(lambda: serving(client), "an idle, caught-up standby serves reads")  # an idle primary is not "lag"
    replica = health(client)["replicas"][0]
    assert replica["error"] is None and replica["lag_seconds"] is not None
    assert replica["name"].endswith(f":{standby_pair.standby_port}/{database}")

    primary_lookups = runtime.verifier._lookups.statements
    for uri in codes * 3:
        body = verify(client, uri)
        assert body["verdict"] == "authentic"
        assert body["state"] == ("sold" if uri == sold else "issued")
    assert verify(client, sold)["state"] == "sold"
    assert runtime.verifier._lookups.statements == primary_lookups  # the primary answered no scan
    (on_replica,) = runtime.verifier._on_replica.values()
    assert on_replica._lookups.statements >= len(codes) * 3

    # Product and lot scans too (their one-statement lookups).
    primary_products = runtime.passport_scans._products.statements
    for path in (f"/01/{GTIN}", f"/01/{GTIN}/10/LOT42") * 2:
        answer = client.get(path, headers=JSON)
        assert answer.status_code == 200 and answer.json()["verdict"] == "registered", answer.text
    assert runtime.passport_scans._products.statements == primary_products
    (products_on_replica,) = runtime.passport_scans._on_replica.values()
    assert products_on_replica._products.statements >= 4

    gtin, number = GTIN, serial(sold)
    assert client.get(f"/v1/units/{gtin}/{number}", headers=maker.headers).status_code == 200
    assert client.get("/epcis/events", headers={**maker.headers, **JSON}).status_code == 200
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility", "class": "I"},
        headers=maker.headers,
    )
    assert recall.status_code == 201, recall.text
    regulator = make_org("regulator")
    standby_pair.wait_caught_up()
    wait_for(lambda: serving(client), "the standby serves reads again")
    for _ in range(3):
        assert client.get(f"/v1/recalls/{recall.json()['id']}/trace", headers=maker.headers).status_code == 200
        page = client.get(
            f"/regulator/recalls/{recall.json()['id']}?lang=en", headers={"Cookie": f"{COOKIE}={regulator.api_key}"}
        )
        assert page.status_code == 200
    # An idle backend flushes its statistics within PostgreSQL's idle interval (10 s): hence the waits.
    wait_for(lambda: standby_reads(standby_pair, database, "unit") >= len(codes) * 3, "unit reads on the standby")
    wait_for(lambda: standby_reads(standby_pair, database, "recall") >= 6, "recall reads on the standby")


@pytest.mark.parametrize("lag_limit", [60.0])
def test_under_lag_a_new_code_is_found_and_refusals_are_the_primarys(
    client, runtime, standby_pair, database, make_org, maker, batch, issue
):
    """A limit of 60 s keeps the paused standby in use, so every answer here passed through it first."""
    old = issue(batch["id"], 1)[0]["uri"]
    pharmacy, other = make_org("retailer", "drug_retail"), make_org("retailer", "drug_retail")
    standby_pair.wait_caught_up()
    wait_for(lambda: serving(client), "the standby serves reads")
    standby_pair.pause_replay()

    new = issue(batch["id"], 1)[0]["uri"]
    assert on_standby(standby_pair, database, "SELECT count(*) FROM unit WHERE serial = %s", serial(new)) == 0
    assert serving(client)  # still within 60 s
    (on_replica,) = runtime.verifier._on_replica.values() or [None]
    asked = on_replica._lookups.statements if on_replica else 0
    primary_lookups = runtime.verifier._lookups.statements
    body = verify(client, new)
    assert body["verdict"] == "authentic" and body["state"] == "issued"  # not "unknown"
    (on_replica,) = runtime.verifier._on_replica.values()
    assert on_replica._lookups.statements > asked  # the standby was asked first ...
    assert runtime.verifier._lookups.statements > primary_lookups  # ... and the primary after it
    assert client.get(f"/v1/units/{GTIN}/{serial(new)}", headers=maker.headers).status_code == 200

    # A lot registered meanwhile is not an unknown lot: the standby is asked, then the primary.
    lot = client.post(
        "/v1/batches",
        json={"gtin": GTIN, "lot": "LOT43", "manufactured_on": "2026-01-01", "expires_on": "2099-01-01"},
        headers=maker.headers,
    )
    assert lot.status_code == 201, lot.text
    assert on_standby(standby_pair, database, "SELECT count(*) FROM batch WHERE lot = %s", "LOT43") == 0
    primary_products = runtime.passport_scans._products.statements
    answer = client.get(f"/01/{GTIN}/10/LOT43", headers=JSON).json()
    assert answer["verdict"] == "registered" and answer["expires_on"] == "2099-01-01"
    (products_on_replica,) = runtime.passport_scans._on_replica.values()
    assert products_on_replica._products.statements >= 1
    assert runtime.passport_scans._products.statements > primary_products

    # A sale refused on the primary's state, not the standby's (where the pack is still unsold).
    sell(client, maker, pharmacy, old)
    assert on_standby(standby_pair, database, "SELECT count(*) FROM unit WHERE serial = %s", serial(old)) == 1
    assert_problem(post(client, other, {"action": "sell", "codes": [old], "channel": "offline"}), 409, "already_sold")

    # A recall made meanwhile: its trace and page are found (the standby's 404 is asked again on the primary).
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility", "class": "I"},
        headers=maker.headers,
    )
    assert recall.status_code == 201, recall.text
    recall_id = recall.json()["id"]
    assert on_standby(standby_pair, database, "SELECT count(*) FROM recall WHERE id = %s", recall_id) == 0
    assert client.get(f"/v1/recalls/{recall_id}/trace", headers=maker.headers).status_code == 200
    # A regulator whose key is newer than the standby is signed in, not sent to the login page.
    regulator = make_org("regulator")
    page = client.get(
        f"/regulator/recalls/{recall_id}?lang=en", headers={"Cookie": f"{COOKIE}={regulator.api_key}"},
        follow_redirects=False,
    )  # fmt: skip
    assert page.status_code == 200
    assert client.get("/v1/recalls/999999/trace", headers=maker.headers).status_code == 404  # a true 404 stays one


def test_a_sold_pack_reads_as_sold_once_the_standby_lags_past_the_limit(
    client, runtime, standby_pair, database, make_org, maker, batch, issue
):
    uri = issue(batch["id"], 1)[0]["uri"]
    standby_pair.wait_caught_up()
    wait_for(lambda: serving(client), "the standby serves reads")
    assert verify(client, uri)["state"] == "issued"
    standby_pair.pause_replay()
    sell(client, maker, make_org("retailer", "drug_retail"), uri)

    # Within the limit the standby may still say issued; past it, reads go to the primary.
    wait_for(lambda: not serving(client), "the paused standby is dropped past the 1 s limit", timeout=15)
    lagging = health(client)["replicas"][0]
    assert lagging["lag_seconds"] > 1.0 and lagging["error"] is None
    primary_lookups = runtime.verifier._lookups.statements
    body = verify(client, uri)
    assert body["state"] == "sold"
    assert runtime.verifier._lookups.statements > primary_lookups

    standby_pair.resume_replay()
    wait_for(lambda: serving(client), "the standby serves reads again once it has caught up")
    (on_replica,) = runtime.verifier._on_replica.values()
    asked = on_replica._lookups.statements

    def sold_from_the_standby() -> bool:
        assert verify(client, uri)["state"] == "sold"  # whoever answers
        return on_replica._lookups.statements > asked

    wait_for(sold_from_the_standby, "a scan answered by the caught-up standby")


@pytest.fixture
def dead_port() -> int:
    from tests.helpers import free_port

    return free_port()


def test_an_unreachable_standby_counts_as_lagging(standby_pair, database_url, dead_port, tmp_path):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.services.runtime import Runtime

    dead = f"postgresql://postgres@127.0.0.1:{dead_port}/nothing"
    settings = settings_for(database_url, read_database_url=dead)
    runtime = Runtime.start(settings)
    try:
        assert runtime.replicas is not None and runtime.replicas.wait_measured()
        with TestClient(create_app(settings, runtime)) as client:
            (replica,) = health(client)["replicas"]
            assert replica["serving_reads"] is False and replica["lag_seconds"] is None
            assert replica["error"].startswith("unreachable") and replica["name"] == f"127.0.0.1:{dead_port}/nothing"
            assert client.get("/01/09506000134352/21/NOSUCH", headers=JSON).json()["verdict"] == "unknown"
    finally:
        runtime.close()


def test_a_primary_named_as_its_own_standby_takes_no_reads(standby_pair, database_url):
    from app.services.runtime import Runtime

    runtime = Runtime.start(settings_for(database_url, read_database_url=database_url))
    try:
        assert runtime.replicas is not None and runtime.replicas.wait_measured()
        (replica,) = runtime.replicas.status()
        assert replica["serving_reads"] is False and "not a standby" in replica["error"]
        assert runtime.replicas.pick() is None
    finally:
        runtime.close()
