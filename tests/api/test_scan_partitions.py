"""The scan log by month (issue 19): partitions on PostgreSQL made ahead, by the service and by `passport scans
partitions`; `passport scans prune` removes scans past the retention (whole partitions on PostgreSQL, rows on
SQLite) and nothing else; the migration turns a table with rows into the partitioned one and back."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text

from app.cli import alembic_config, main
from app.db import scan_partitions
from app.db.models import Scan, metadata
from app.db.scan_log import insert_scans
from app.db.scan_partitions import add_months, month_start, partition_name
from app.services.clock import utcnow
from tests.helpers import GTIN, ok, post

NOW = utcnow()


def _row(unit_id: int | None, at: datetime, serial: str = "S1") -> tuple:
    return (GTIN, serial, unit_id, "genuine", "c0ffee00c0ffee00", None, None, at, None)


def _counts(runtime) -> dict[str, int]:
    """Rows of every table of the models (the scan log included)."""
    with runtime.engine.connect() as conn:
        return {t.name: conn.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}


def _scans_at(runtime) -> list[datetime]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Scan.scanned_at).order_by(Scan.scanned_at)))


def test_prune_removes_only_scans_past_the_retention(
    client, maker, make_org, runtime, batch, issue, monkeypatch, capsys, settings
):
    codes = [c["uri"] for c in issue(batch["id"], 3)]  # units, events and log leaves that must all survive
    ok(post(client, maker, {"action": "ship", "codes": codes, "to": make_org("distributor", "drug_wholesale").id}))
    passport = client.put(f"/v1/products/{GTIN}/passport", json={"composition": "v1"}, headers=maker.headers)
    assert passport.status_code == 201, passport.text
    with runtime.sessions() as session:
        unit_id = session.scalar(text("SELECT min(id) FROM unit"))
    this_month = month_start(NOW)
    old = add_months(this_month, -14) + timedelta(days=3)  # past a 12-month retention
    edge = add_months(this_month, -12)  # the first instant kept by 12 months
    recent = NOW - timedelta(days=1)
    with runtime.engine.begin() as conn:
        partitioned = scan_partitions.is_partitioned(conn)
        assert partitioned == (conn.dialect.name == "postgresql")
        if partitioned:  # the old months as the service would have made them at the time
            for months_back in (14, 13, 12):
                scan_partitions.create_month(conn, add_months(this_month, -months_back))
        insert_scans(conn, [_row(unit_id, old), _row(unit_id, edge - timedelta(seconds=1)), _row(unit_id, edge)])
        insert_scans(conn, [_row(unit_id, recent), _row(None, NOW, "UNKNOWN1")])
        if partitioned:
            # a scan far ahead of any partition lands in the default one instead of failing the batch
            insert_scans(conn, [_row(unit_id, add_months(this_month, 30))])
            assert conn.scalar(text("SELECT count(*) FROM scan_default")) == 1
            assert conn.scalar(text(f"SELECT count(*) FROM {partition_name(add_months(this_month, -14))}")) == 1
    before = _counts(runtime)
    assert {t: before[t] > 0 for t in ("event", "log_node", "passport", "passport_version", "unit")} == dict.fromkeys(
        ("event", "log_node", "passport", "passport_version", "unit"), True
    )

    monkeypatch.setenv("PASSPORT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PASSPORT_MASTER_KEY", settings.master_key)
    monkeypatch.setenv("PASSPORT_SCAN_RETENTION_MONTHS", "0")
    assert main(["scans", "prune"]) == 2  # no retention set: nothing removed, and it says so
    assert "no retention set" in capsys.readouterr().err
    assert _counts(runtime) == before

    monkeypatch.setenv("PASSPORT_SCAN_RETENTION_MONTHS", "12")
    assert main(["scans", "prune"]) == 0
    out = capsys.readouterr().out
    after = _counts(runtime)
    assert {k: v for k, v in after.items() if k != "scan"} == {k: v for k, v in before.items() if k != "scan"}
    assert after["scan"] == before["scan"] - 2
    assert _scans_at(runtime)[0] == edge  # the month at the edge is kept whole
    if partitioned:
        dropped = [partition_name(add_months(this_month, -14)), partition_name(add_months(this_month, -13))]
        assert f'"partitions_dropped": {str(dropped).replace(chr(39), chr(34))}' in out
        with runtime.engine.connect() as conn:
            left = scan_partitions.partitions(conn)
        assert dropped[0] not in left and dropped[1] not in left and partition_name(edge) in left
    else:
        assert '"rows_deleted": 2' in out
    assert main(["scans", "prune", "--months", "12"]) == 0  # again: nothing more to remove
    assert _counts(runtime) == after


def test_partitions_are_made_ahead_and_take_over_rows_of_the_default(runtime, settings, monkeypatch, capsys):
    monkeypatch.setenv("PASSPORT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PASSPORT_MASTER_KEY", settings.master_key)
    first = month_start(NOW)
    assert main(["scans", "partitions", "--ahead", "6"]) == 0
    out = capsys.readouterr().out
    with runtime.engine.begin() as conn:
        if conn.dialect.name != "postgresql":
            assert '"partitioned": false' in out and scan_partitions.partitions(conn) == []
            return
        present = scan_partitions.partitions(conn)
        # the service made this month and three ahead at start (PASSPORT_SCAN_PARTITIONS_AHEAD); the command six
        assert [partition_name(add_months(first, i)) for i in range(7)] == present[:7]
        assert present[-1] == "scan_default"
        far = add_months(first, 9)
        insert_scans(conn, [_row(None, far + timedelta(days=2), "FAR")])  # into the default partition
        assert scan_partitions.ensure_partitions(conn, far, 0) == [partition_name(far)]
        assert conn.scalar(text("SELECT count(*) FROM scan_default")) == 0
        assert conn.scalar(text(f"SELECT serial FROM {partition_name(far)}")) == "FAR"
        assert scan_partitions.ensure_partitions(conn, far, 0) == []  # made once
    with pytest.raises(ValueError, match="at least one month"):
        scan_partitions.prune_cutoff(NOW, 0)


@pytest.mark.postgres_only
def test_the_migration_partitions_a_table_with_rows_and_back(database_url):
    config = alembic_config(database_url)
    engine = create_engine(database_url)
    try:
        command.downgrade(config, "0021")
        with engine.begin() as conn:
            assert conn.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'scan'")) == "r"
            conn.execute(
                text(
                    "INSERT INTO scan (gtin, serial, verdict, client, scanned_at) SELECT :gtin, 'S' || g, 'unknown', "
                    "'c', now() - make_interval(days => g * 20) FROM generate_series(1, 30) g"
                ),
                {"gtin": GTIN},
            )
            rows = conn.execute(text("SELECT id, serial, scanned_at FROM scan ORDER BY id")).all()
        command.upgrade(config, "head")
        with engine.begin() as conn:
            assert conn.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'scan'")) == "p"
            assert conn.execute(text("SELECT id, serial, scanned_at FROM scan ORDER BY id")).all() == rows
            assert conn.scalar(text("SELECT count(*) FROM scan_default")) == 0  # every old month got a partition
            key = conn.scalar(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_scan' "
                    "AND conrelid = 'scan'::regclass"
                )
            )
            assert key == "PRIMARY KEY (id, scanned_at)"
            # ids go on from the same sequence; the foreign key to unit holds on the partitioned table
            new_id = conn.scalar(
                text(
                    "INSERT INTO scan (gtin, serial, verdict, client, scanned_at) VALUES (:g, 'N', 'unknown', 'c', now()) RETURNING id"
                ),
                {"g": GTIN},
            )
            assert new_id > rows[-1][0]
            with pytest.raises(Exception, match="fk_scan_unit_id_unit"):
                with conn.begin_nested():
                    conn.execute(
                        text(
                            "INSERT INTO scan (gtin, serial, unit_id, verdict, client, scanned_at) "
                            "VALUES (:g, 'X', 999999999, 'genuine', 'c', now())"
                        ),
                        {"g": GTIN},
                    )
        command.downgrade(config, "0021")
        with engine.begin() as conn:
            assert conn.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'scan'")) == "r"
            assert conn.scalar(text("SELECT count(*) FROM scan")) == len(rows) + 1
            assert not conn.scalar(text("SELECT count(*) FROM pg_class WHERE relname LIKE 'scan\\_y%'"))
        command.upgrade(config, "head")
    finally:
        engine.dispose()
