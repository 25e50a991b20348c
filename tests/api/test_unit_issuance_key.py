"""Migration 0024: a unit's (issuance_id, batch_id) is one foreign key to issuance (id, batch_id), in place of one key
to batch and one to issuance. Rows, the partial index and the downgrade are kept; the new key refuses what the two
did (an unknown issuance) and also a unit whose batch is not its issuance's batch."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from app.cli import alembic_config
from app.db.engine import make_engine
from tests.helpers import GTIN, seed_lots

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _seed_at_0023(url: str, *, mismatched: bool = False) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            run = conn.execute
            seed_lots(conn, T0, issued=2, lots=2)
            run(
                sa.text("INSERT INTO container (sscc, state, created_at) VALUES ('000000000000000017', 'issued', :t)"),
                {"t": T0},
            )
            units = [
                ("S1", 1, 1, "000000000000000017"),
                ("S2", 1, 1, None),
                ("S3", 2, 2, None),
                ("S4", 2 if mismatched else 1, 1, None),
            ]
            for serial, batch_id, issuance_id, sscc in units:
                run(
                    sa.text(
                        "INSERT INTO unit (gtin, serial, batch_id, issuance_id, container_sscc) "
                        "VALUES (:g, :s, :b, :i, :c)"
                    ),
                    {"g": GTIN, "s": serial, "b": batch_id, "i": issuance_id, "c": sscc},
                )
    finally:
        engine.dispose()


def _unit_keys(url: str) -> list[tuple[tuple[str, ...], str, tuple[str, ...]]]:
    engine = make_engine(url)
    try:
        keys = sa.inspect(engine).get_foreign_keys("unit")
    finally:
        engine.dispose()
    return sorted(
        (tuple(k["constrained_columns"]), k["referred_table"], tuple(k["referred_columns"]))
        for k in keys
        if k["referred_table"] in ("batch", "issuance")
    )


def _key_names(url: str) -> set[tuple[str, str | None]]:
    """Every foreign key of unit and issuance by name: a rebuild must not drop one or lose its name (a later
    migration drops keys by name)."""
    engine = make_engine(url)
    try:
        if engine.dialect.name != "sqlite":
            inspector = sa.inspect(engine)
            return {(t, k["name"]) for t in ("unit", "issuance") for k in inspector.get_foreign_keys(t)}
        # SQLAlchemy reflects a key declared with its column (CONSTRAINT x REFERENCES ...) without its name: read
        # the tables' own SQL
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('unit', 'issuance')")
            ).all()
        return {
            (table, name)
            for table, sql in tables
            for name in re.findall(r"CONSTRAINT (\w+) (?:FOREIGN KEY|REFERENCES)", sql)
        }
    finally:
        engine.dispose()


def _partial_index_sql(conn: sa.Connection) -> str:
    if conn.dialect.name == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE name = 'ix_unit_container_sscc'"
    else:
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_unit_container_sscc'"
    return conn.execute(sa.text(query)).scalar_one()


def _insert_unit(conn: sa.Connection, serial: str, batch_id: int, issuance_id: int) -> None:
    conn.execute(
        sa.text("INSERT INTO unit (gtin, serial, batch_id, issuance_id) VALUES (:g, :s, :b, :i)"),
        {"g": GTIN, "s": serial, "b": batch_id, "i": issuance_id},
    )


def test_0024_one_key_keeps_the_rows_and_refuses_a_unit_of_another_batch(empty_database_url):
    url = empty_database_url
    command.upgrade(alembic_config(url), "0023")
    _seed_at_0023(url)
    assert _unit_keys(url) == [(("batch_id",), "batch", ("id",)), (("issuance_id",), "issuance", ("id",))]
    names_before = _key_names(url)
    assert ("issuance", "fk_issuance_event_id_event") in names_before
    command.upgrade(alembic_config(url), "0024")

    assert _unit_keys(url) == [(("issuance_id", "batch_id"), "issuance", ("id", "batch_id"))]
    assert _key_names(url) == names_before - {("unit", "fk_unit_batch_id_batch")}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # added NOT VALID, then validated in a transaction of its own
                validated = conn.execute(
                    sa.text("SELECT convalidated FROM pg_constraint WHERE conname = 'fk_unit_issuance_id_issuance'")
                ).scalar_one()
                assert validated is True
            rows = conn.execute(
                sa.text("SELECT serial, batch_id, issuance_id, container_sscc FROM unit ORDER BY serial")
            ).all()
            assert [tuple(r) for r in rows] == [
                ("S1", 1, 1, "000000000000000017"),
                ("S2", 1, 1, None),
                ("S3", 2, 2, None),
                ("S4", 1, 1, None),
            ]
            assert "WHERE" in _partial_index_sql(conn).upper()
        with engine.begin() as conn:
            _insert_unit(conn, "S5", 2, 2)  # an issuance of its own batch: accepted
        for serial, batch_id, issuance_id in [("S6", 1, 2), ("S7", 2, 1), ("S8", 1, 99), ("S9", 99, 1)]:
            with pytest.raises(IntegrityError), engine.begin() as conn:
                _insert_unit(conn, serial, batch_id, issuance_id)
    finally:
        engine.dispose()

    command.downgrade(alembic_config(url), "0023")
    assert _unit_keys(url) == [(("batch_id",), "batch", ("id",)), (("issuance_id",), "issuance", ("id",))]
    assert _key_names(url) == names_before
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM unit")).scalar_one() == 5
            assert "WHERE" in _partial_index_sql(conn).upper()
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _insert_unit(conn, "S8", 1, 99)  # the two keys are back
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), "0024")
    assert _unit_keys(url) == [(("issuance_id", "batch_id"), "issuance", ("id", "batch_id"))]


def test_0024_refuses_to_run_over_a_unit_of_another_batch_than_its_issuance(empty_database_url):
    url = empty_database_url
    command.upgrade(alembic_config(url), "0023")
    _seed_at_0023(url, mismatched=True)
    with pytest.raises(RuntimeError, match="another batch than its issuance"):
        command.upgrade(alembic_config(url), "0024")
