"""One open alert per code and kind counts the repeats (README: Alerts), on SQLite and PostgreSQL; migration 0011
merges the duplicates stored before it and makes published ids AUTOINCREMENT on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.cli import alembic_config
from app.db.engine import make_engine
from app.db.models import Alert, metadata
from app.db.types import UTCDateTime
from tests.helpers import GTIN, assert_problem, post, serial


def sold_unit(client, maker, batch, issue, pharmacy) -> str:
    uri = issue(batch["id"], 1)[0]["uri"]
    for org, body in (
        (maker, {"action": "ship", "codes": [uri], "to": pharmacy.id}),
        (pharmacy, {"action": "receive", "codes": [uri]}),
        (pharmacy, {"action": "sell", "codes": [uri], "channel": "offline"}),
    ):
        assert post(client, org, body).status_code == 201
    return uri


def stored_alerts(runtime) -> list[Alert]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def test_repeat_sales_count_on_one_open_alert(client, runtime, make_org, maker, batch, issue):
    pharmacy, stranger, other = (make_org("retailer", "drug_retail") for _ in range(3))
    regulator = make_org("regulator")
    uri = sold_unit(client, maker, batch, issue, pharmacy)
    ids = set()
    for seller in (stranger, other, stranger):
        problem = assert_problem(
            post(client, seller, {"action": "sell", "codes": [uri], "channel": "offline"}), 409, "already_sold"
        )
        ids.add(problem["alert_id"])
    (alert,) = stored_alerts(runtime)
    assert ids == {alert.id}
    assert (alert.type, alert.status, alert.count) == ("repeat_sale", "open", 3)
    assert alert.org_id == stranger.id  # the first attempt's details stay; the repeats are counted
    assert alert.last_at is not None and alert.last_at >= alert.created_at
    view = client.get(f"/v1/alerts/{alert.id}", headers=regulator.headers).json()
    assert view["details"]["count"] == 3 and view["details"]["last_seen"] == alert.last_at.isoformat()

    # Under investigation it still counts; closed, the next attempt opens a new alert.
    url = f"/v1/alerts/{alert.id}"
    assert client.patch(url, json={"status": "investigating"}, headers=regulator.headers).status_code == 200
    assert_problem(
        post(client, stranger, {"action": "sell", "codes": [uri], "channel": "offline"}), 409, "already_sold"
    )
    assert [(a.id, a.count) for a in stored_alerts(runtime)] == [(alert.id, 4)]
    closing = {"status": "closed", "root_cause": "till misconfigured"}
    assert client.patch(url, json=closing, headers=regulator.headers).status_code == 200
    again = assert_problem(
        post(client, stranger, {"action": "sell", "codes": [uri], "channel": "offline"}), 409, "already_sold"
    )
    assert again["alert_id"] != alert.id
    assert [(a.status, a.count) for a in stored_alerts(runtime)] == [("closed", 4), ("open", 1)]

    # Reopening the closed one while another is open would make two: refused, nothing changed.
    reopen = client.patch(url, json={"status": "investigating"}, headers=regulator.headers)
    assert_problem(reopen, 409, "alert_already_open")
    assert reopen.json()["open_alert_id"] == again["alert_id"]
    assert [a.status for a in stored_alerts(runtime)] == ["closed", "open"]


def test_each_code_and_kind_has_its_own_alert(client, runtime, make_org, maker, batch, issue):
    pharmacy, stranger = make_org("retailer", "drug_retail"), make_org("retailer", "drug_retail")
    first, second = (sold_unit(client, maker, batch, issue, pharmacy) for _ in range(2))
    for uri in (first, second, first):
        assert_problem(
            post(client, stranger, {"action": "sell", "codes": [uri], "channel": "offline"}), 409, "already_sold"
        )
    never_issued = f"https://passport.test/01/{GTIN}/21/NEVERISSUED9"
    for _ in range(2):
        assert_problem(
            post(client, stranger, {"action": "sell", "codes": [never_issued], "channel": "offline"}),
            404,
            "unknown_code",
        )
    assert [(a.type, a.serial, a.count) for a in stored_alerts(runtime)] == [
        ("repeat_sale", serial(first), 2),
        ("repeat_sale", serial(second), 1),
        ("unknown_code", "NEVERISSUED9", 2),
    ]


def test_the_database_refuses_a_second_open_alert(runtime):
    row = {"type": "repeat_sale", "severity": "high", "gtin": GTIN, "serial": "S1", "details": {}}
    now = datetime.now(UTC)
    with runtime.sessions.begin() as session:
        session.add(Alert(**row, created_at=now, status="closed"))
        session.add(Alert(**row, created_at=now, status="open"))
    with pytest.raises(IntegrityError), runtime.sessions.begin() as session:
        session.add(Alert(**row, created_at=now, status="investigating"))


# ------------------------------------------------------------------------------------------------- migration 0011

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PUBLISHED_ID_TABLES = ("batch", "issuance", "event", "recall", "alert", "webhook_endpoint", "webhook_delivery")

old_alert = sa.table(
    "alert",
    sa.column("id", sa.Integer()),
    sa.column("type", sa.String()),
    sa.column("severity", sa.String()),
    sa.column("unit_id", sa.Integer()),
    sa.column("gtin", sa.String()),
    sa.column("serial", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("status", sa.String()),
    sa.column("root_cause", sa.String()),
    sa.column("details", sa.JSON()),
)


def _seed_at_0010(url: str) -> None:
    """A database as 0010 left it: a unit with its issuance and events, and alerts duplicated while open."""
    engine = make_engine(url)
    at = sa.bindparam("at", type_=UTCDateTime())
    with engine.begin() as conn:
        for sql in (
            "INSERT INTO organisation (id, name, role, created_at) VALUES ('m', 'Maker', 'manufacturer', :at)",
            "INSERT INTO product (gtin, name, category, manufacturer_id, created_at) "
            f"VALUES ('{GTIN}', 'P', 'drug_otc', 'm', :at)",
            "INSERT INTO batch (id, gtin, lot, manufactured_on, expires_on, created_at) "
            f"VALUES (1, '{GTIN}', 'L1', '2026-01-01', '2028-01-01', :at)",
            "INSERT INTO issuance (id, batch_id, key_tag, count, created_at) VALUES (1, 1, NULL, 1, :at)",
            f"INSERT INTO unit (id, gtin, serial, batch_id, issuance_id) VALUES (1, '{GTIN}', 'S1', 1, 1)",
            "INSERT INTO event (id, org_id, action, occurred_at, recorded_at, payload) "
            "VALUES (1, 'm', 'ship', :at, :at, '{}')",
            "INSERT INTO event (id, org_id, action, occurred_at, recorded_at, payload, undoes_event_id) "
            "VALUES (2, 'm', 'undo', :at, :at, '{}', 1)",
            "INSERT INTO event_item (id, event_id, unit_id, before, after) VALUES (1, 1, 1, '{}', '{}')",
        ):
            statement = sa.text(sql)
            conn.execute(statement.bindparams(at) if ":at" in sql else statement, {"at": T0})
        alerts = [
            (1, "repeat_sale", "S1", "open", {"reason": "first"}),
            (2, "repeat_sale", "S1", "open", {"reason": "second"}),
            (3, "repeat_sale", "S1", "closed", {"reason": "explained"}),
            (4, "repeat_sale", "S1", "investigating", {"reason": "looked at"}),
            (
                5,
                "clone_suspect",
                "S1",
                "open",
                {"count": 7, "first_seen": T0.isoformat(), "last_seen": "2026-12-02T10:00:00+00:00"},
            ),
            (6, "unknown_code", "S9", "open", {"reason": "never issued"}),
        ]
        for id_, type_, serial_, status, details in alerts:
            conn.execute(
                old_alert.insert().values(
                    id=id_,
                    type=type_,
                    severity="high",
                    unit_id=1 if serial_ == "S1" else None,
                    gtin=GTIN,
                    serial=serial_,
                    created_at=T0 + timedelta(minutes=id_),
                    status=status,
                    root_cause="see ticket 7" if id_ == 4 else None,
                    details=details,
                )
            )
    engine.dispose()


def test_0011_merges_open_duplicates_keeps_every_other_row_and_rebuilds_tables(empty_database_url):
    url = empty_database_url
    command.upgrade(alembic_config(url), "0010")
    _seed_at_0010(url)
    command.upgrade(alembic_config(url), "head")

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(Alert.id, Alert.type, Alert.status, Alert.count, Alert.last_at, Alert.root_cause).order_by(
                    Alert.id
                )
            ).all()
            assert [tuple(r) for r in rows] == [
                (1, "repeat_sale", "investigating", 3, T0 + timedelta(minutes=4), "see ticket 7"),
                (3, "repeat_sale", "closed", 1, T0 + timedelta(minutes=3), None),
                (5, "clone_suspect", "open", 7, datetime(2026, 12, 2, 10, tzinfo=UTC), None),
                (6, "unknown_code", "open", 1, T0 + timedelta(minutes=6), None),
            ]
            details = dict(conn.execute(sa.select(Alert.id, Alert.details)).all())
            assert details[1] == {"reason": "first", "merged_alert_ids": [2, 4]}
            assert details[5] == {"first_seen": T0.isoformat()}
            counts = [
                conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("unit", "issuance", "event", "event_item", "batch")
            ]
            assert counts == [1, 1, 2, 1, 1]
            assert conn.execute(sa.text("SELECT undoes_event_id FROM event WHERE id = 2")).scalar_one() == 1
            if engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
                for table in PUBLISHED_ID_TABLES:
                    sql = conn.execute(
                        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
                    ).scalar_one()
                    assert "AUTOINCREMENT" in sql, table
                    assert metadata.tables[table].dialect_options["sqlite"]["autoincrement"], table
                # A deleted row's id is not handed out again.
                conn.exec_driver_sql("DELETE FROM alert WHERE id = 6")
                conn.execute(
                    old_alert.insert().values(
                        type="unknown_code", severity="m", created_at=T0, status="open", details={}
                    )
                )
                assert conn.exec_driver_sql("SELECT max(id) FROM alert").scalar_one() == 7
                conn.rollback()
    finally:
        engine.dispose()

    # And back: the counts return into the details, and forward again.
    command.downgrade(alembic_config(url), "0010")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            details = dict(conn.execute(sa.select(old_alert.c.id, old_alert.c.details)).all())
            assert details[1]["count"] == 3 and details[5]["count"] == 7 and "count" not in details[6]
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), "head")
