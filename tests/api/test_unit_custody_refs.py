"""Migration 0025: on PostgreSQL a unit's holder, ``to`` and container are checked by triggers in place of foreign
keys (which PostgreSQL ran for every issued unit, all three NULL), and the custody index leaves out untouched units;
SQLite keeps its keys. Both refuse the same: a unit naming an organisation or a container that does not exist
(insert or update), and deleting, re-keying or (PostgreSQL) truncating away one that a unit names."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError, OperationalError

from app.cli import alembic_config
from app.db.engine import make_engine
from tests.helpers import GTIN, ok, post, seed_lots

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
SSCC = "000000000000000017"
OTHER_SSCC = "000000000000000024"
KEYS = {"fk_unit_holder_id_organisation", "fk_unit_to_id_organisation", "fk_unit_container_sscc_container"}


def _seed(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        run = conn.execute
        seed_lots(conn, T0, issued=9, orgs=(("d1", "distributor"), ("d2", "distributor")))
        for sscc in (SSCC, OTHER_SSCC):
            run(
                sa.text("INSERT INTO container (sscc, state, created_at) VALUES (:s, 'issued', :t)"),
                {"s": sscc, "t": T0},
            )


def _insert_unit(engine: sa.Engine, serial: str, **custody: str) -> None:
    columns = ["gtin", "serial", "batch_id", "issuance_id", *custody]
    values = {"gtin": GTIN, "serial": serial, "batch_id": 1, "issuance_id": 1, **custody}
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO unit ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
            values,
        )


def _execute(engine: sa.Engine, sql: str, **params: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _keys_at_head(engine: sa.Engine) -> set[str]:
    return KEYS if engine.dialect.name == "sqlite" else set()


def _unit_keys(engine: sa.Engine) -> set[str]:
    if engine.dialect.name == "sqlite":  # keys declared inline are reflected without their names: the table's SQL
        with engine.connect() as conn:
            sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'unit'")).scalar_one()
        return {name for name in KEYS if name in sql}
    return {k["name"] for k in sa.inspect(engine).get_foreign_keys("unit")} & KEYS


def _assert_refuses_what_the_keys_refused(engine: sa.Engine) -> None:
    _insert_unit(engine, "A1")  # as issued: nothing set, nothing to check
    _insert_unit(engine, "A2", holder_id="d1", to_id="d2", container_sscc=SSCC)
    for serial, custody in [
        ("B1", {"holder_id": "nobody"}),
        ("B2", {"to_id": "nobody"}),
        ("B3", {"container_sscc": "000000000000000000"}),
        ("B4", {"holder_id": "d1", "to_id": "d2", "container_sscc": "000000000000000000"}),
    ]:
        with pytest.raises(IntegrityError):
            _insert_unit(engine, serial, **custody)
    for column, value in [("holder_id", "nobody"), ("to_id", "nobody"), ("container_sscc", "000000000000000000")]:
        with pytest.raises(IntegrityError):
            _execute(engine, f"UPDATE unit SET {column} = :v WHERE serial = 'A1'", v=value)
    # changes to values that exist, and to NULL, are accepted; a row's other columns change freely
    _execute(
        engine, "UPDATE unit SET holder_id = 'd2', to_id = NULL, container_sscc = :s WHERE serial = 'A1'", s=OTHER_SSCC
    )
    _execute(engine, "UPDATE unit SET state = 'held', holder_id = holder_id WHERE serial = 'A2'")

    # the referenced side: what a unit names stays, and keeps its key
    for sql in [
        "DELETE FROM organisation WHERE id = 'd1'",  # A2's holder
        "DELETE FROM organisation WHERE id = 'd2'",  # A1's holder, A2's to
        "UPDATE organisation SET id = 'd9' WHERE id = 'd1'",
        f"DELETE FROM container WHERE sscc = '{SSCC}'",
        f"UPDATE container SET sscc = '000000000000000031' WHERE sscc = '{OTHER_SSCC}'",
    ]:
        with pytest.raises(IntegrityError):
            _execute(engine, sql)
    _execute(engine, "UPDATE organisation SET name = 'renamed' WHERE id = 'd1'")  # not its key: no check
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT serial, holder_id, to_id, container_sscc FROM unit ORDER BY serial")).all()
    assert [tuple(r) for r in rows] == [("A1", "d2", None, OTHER_SSCC), ("A2", "d1", "d2", SSCC)]
    # once no unit names them, they go
    _execute(engine, "UPDATE unit SET holder_id = NULL, to_id = NULL, container_sscc = NULL")
    _execute(engine, "DELETE FROM organisation WHERE id = 'd2'")
    _execute(engine, f"DELETE FROM container WHERE sscc = '{SSCC}'")


def test_custody_columns_are_checked_both_ways(database_url):
    engine = make_engine(database_url)
    try:
        _seed(engine)
        assert _unit_keys(engine) == _keys_at_head(engine)  # PostgreSQL: no key left to fire for an issued unit
        _assert_refuses_what_the_keys_refused(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_postgresql_locks_the_named_row_and_refuses_what_a_key_would_have_caught(database_url):
    engine = make_engine(database_url)
    try:
        _seed(engine)
        # a unit's insert holds the organisation it names (FOR KEY SHARE) until it ends: a delete must wait
        with engine.connect() as first:
            first.begin()
            first.execute(
                sa.text(
                    "INSERT INTO unit (gtin, serial, batch_id, issuance_id, holder_id) VALUES (:g, 'C1', 1, 1, 'd1')"
                ),
                {"g": GTIN},
            )
            with pytest.raises(OperationalError, match="lock"), engine.begin() as second:
                second.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
                second.execute(sa.text("DELETE FROM organisation WHERE id = 'd1'"))
            first.commit()
        with pytest.raises(IntegrityError):  # and once the unit is committed, the delete is refused
            _execute(engine, "DELETE FROM organisation WHERE id = 'd1'")
        # A snapshot cannot see units committed after it: deleting there is refused outright. SERIALIZABLE too: its
        # predicate locks catch nothing when the unit's writer runs in READ COMMITTED (the race shown below)
        for level in ("REPEATABLE READ", "SERIALIZABLE"):
            with (
                pytest.raises(IntegrityError, match="only under READ COMMITTED"),
                engine.connect().execution_options(isolation_level=level) as conn,
                conn.begin(),
            ):
                conn.execute(sa.text("DELETE FROM organisation WHERE id = 'd2'"))
        with (
            engine.connect().execution_options(isolation_level="SERIALIZABLE") as snapshot,
            snapshot.begin(),
        ):
            snapshot.execute(sa.text("SELECT count(*) FROM unit"))  # the snapshot is taken
            _execute(
                engine,
                "INSERT INTO unit (gtin, serial, batch_id, issuance_id, holder_id) VALUES (:g, 'C2', 1, 1, 'd2')",
                g=GTIN,
            )
            with pytest.raises(IntegrityError, match="only under READ COMMITTED"):
                snapshot.execute(sa.text("DELETE FROM organisation WHERE id = 'd2'"))
        # TRUNCATE ... CASCADE no longer reaches unit through a key: the trigger refuses to leave it dangling
        _execute(engine, "UPDATE unit SET container_sscc = :s WHERE serial = 'C1'", s=SSCC)
        with pytest.raises(IntegrityError):
            _execute(engine, "TRUNCATE container CASCADE")
        with engine.connect() as conn:
            indexdef = conn.execute(
                sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_unit_gtin_batch_id_state_custody'")
            ).scalar_one()
        assert "WHERE" in indexdef and "holder_id IS NOT NULL" in indexdef
    finally:
        engine.dispose()


def test_0025_keeps_the_rows_and_downgrades_to_the_keys(empty_database_url):
    url = empty_database_url
    command.upgrade(alembic_config(url), "0024")
    engine = make_engine(url)
    try:
        _seed(engine)
        assert _unit_keys(engine) == KEYS
        _insert_unit(engine, "S1", holder_id="d1", container_sscc=SSCC)
        _insert_unit(engine, "S2")
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), "0025")
    engine = make_engine(url)
    try:
        assert _unit_keys(engine) == _keys_at_head(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT serial, holder_id, container_sscc FROM unit ORDER BY serial")).all()
        assert [tuple(r) for r in rows] == [("S1", "d1", SSCC), ("S2", None, None)]
        with pytest.raises(IntegrityError):
            _insert_unit(engine, "S3", holder_id="nobody")
        with pytest.raises(IntegrityError):
            _execute(engine, "DELETE FROM organisation WHERE id = 'd1'")
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url), "0024")
    engine = make_engine(url)
    try:
        assert _unit_keys(engine) == KEYS
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM unit")).scalar_one() == 2
            if conn.dialect.name == "postgresql":
                validated = conn.execute(
                    sa.text("SELECT bool_and(convalidated) FROM pg_constraint WHERE conname LIKE 'fk_unit_%'")
                ).scalar_one()
                assert validated is True
                indexdef = conn.execute(
                    sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_unit_gtin_batch_id_state_custody'")
                ).scalar_one()
                assert "WHERE" not in indexdef
            triggers = conn.execute(
                sa.text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                    if conn.dialect.name == "sqlite"
                    else "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                )
            ).scalars()
            assert not [t for t in triggers if "unit_refs" in t or "custody_refs" in t]
        with pytest.raises(IntegrityError):  # the keys refuse it again
            _insert_unit(engine, "S3", holder_id="nobody")
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    try:
        assert _unit_keys(engine) == _keys_at_head(engine)
        with pytest.raises(IntegrityError):
            _insert_unit(engine, "S3", to_id="nobody")
    finally:
        engine.dispose()


def test_a_lot_case_counts_every_unit_of_its_lots_through_their_issuances(client, maker, batch, issue, make_org):
    """A case's unit count reads a lot's units through its issuances (PostgreSQL's custody index leaves out the
    untouched ones): units never moved and units moved both count, in every issuance of the lot, and only its lot."""
    codes = [c["uri"] for c in issue(batch["id"], 3)] + [c["uri"] for c in issue(batch["id"], 2)]
    today = date.today()
    other = client.post(
        "/v1/batches",
        json={
            "gtin": GTIN,
            "lot": "LOT43",
            "manufactured_on": (today - timedelta(days=10)).isoformat(),
            "expires_on": (today + timedelta(days=700)).isoformat(),
        },
        headers=maker.headers,
    ).json()
    issue(other["id"], 4)
    pharm = make_org("retailer", "drug_retail")
    ok(post(client, maker, {"action": "ship", "codes": codes[:2], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": codes[:1]}))
    opened = client.post("/v1/cases", json={"type": "suspect", "gtin": GTIN, "lots": ["LOT42"]}, headers=maker.headers)
    assert opened.status_code == 201, opened.text
    case = client.get(f"/v1/cases/{opened.json()['id']}", headers=maker.headers).json()
    assert case["units"] == {"lots": 1, "serials": 0, "in_lots": 5}
    both = client.post(
        "/v1/cases", json={"type": "suspect", "gtin": GTIN, "lots": ["LOT42", "LOT43"]}, headers=maker.headers
    ).json()
    assert client.get(f"/v1/cases/{both['id']}", headers=maker.headers).json()["units"]["in_lots"] == 9


@pytest.mark.postgres_only
def test_postgresql_checks_an_update_once_per_statement_with_the_same_guarantees(database_url):
    """Migration 0026: an UPDATE's changed holder, ``to`` and container are checked by one statement-level trigger
    over the rows it changed (0025 ran one check per row): a list naming a missing one anywhere is refused whole,
    naming the key; the value it names is locked until the transaction ends; INSERT keeps 0025's row trigger."""
    engine = make_engine(database_url)
    try:
        _seed(engine)
        with engine.connect() as conn:
            triggers = dict(
                conn.execute(
                    sa.text(
                        "SELECT tgname, tgtype & 1 FROM pg_trigger WHERE tgrelid = 'unit'::regclass AND NOT tgisinternal "
                        "AND tgname LIKE 'unit_custody_refs%'"  # 0027's triggers for containment and event_item aside
                    )
                ).all()
            )
        assert triggers == {"unit_custody_refs_insert": 1, "unit_custody_refs_changed": 0}  # 1: FOR EACH ROW
        for n in range(6):
            _insert_unit(engine, f"U{n}")
        # one row of six changing to a missing value: the statement is refused, no row changed
        with pytest.raises(IntegrityError, match="fk_unit_to_id_organisation"):
            _execute(engine, "UPDATE unit SET to_id = CASE WHEN serial = 'U4' THEN 'nobody' ELSE 'd1' END")
        with pytest.raises(IntegrityError, match="fk_unit_container_sscc_container"):
            _execute(
                engine,
                "UPDATE unit SET container_sscc = CASE WHEN serial = 'U0' THEN :s ELSE '000000000000000000' END",
                s=SSCC,
            )
        with engine.connect() as conn:
            assert (
                conn.execute(
                    sa.text("SELECT count(*) FROM unit WHERE to_id IS NOT NULL OR container_sscc IS NOT NULL")
                ).scalar_one()
                == 0
            )
        # a statement that changes nothing it checks (state only; a value set to itself) runs through
        _execute(engine, "UPDATE unit SET state = 'held', holder_id = holder_id")
        # the container an UPDATE puts units in is held (FOR KEY SHARE) until the transaction ends: a delete waits,
        # where without the lock it would not see the uncommitted units and leave them naming nothing
        with engine.connect() as first:
            first.begin()
            first.execute(sa.text("UPDATE unit SET container_sscc = :s, holder_id = 'd2'"), {"s": OTHER_SSCC})
            for sql in (
                f"DELETE FROM container WHERE sscc = '{OTHER_SSCC}'",
                "DELETE FROM organisation WHERE id = 'd2'",
            ):
                with pytest.raises(OperationalError, match="lock"), engine.begin() as second:
                    second.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
                    second.execute(sa.text(sql))
            first.commit()
        with pytest.raises(IntegrityError):  # committed, the units name it: refused
            _execute(engine, f"DELETE FROM container WHERE sscc = '{OTHER_SSCC}'")
        # Only values a row changes to are checked, as a key's trigger: a row left naming what it named (here a
        # holder no organisation has, written with triggers off) passes; another row changing to it does not.
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text("UPDATE unit SET holder_id = 'ghost' WHERE serial = 'U0'"))
        with engine.begin() as conn:  # one session: a one-row statement first, then one of six rows
            conn.execute(sa.text("UPDATE unit SET state = 'locked' WHERE serial = 'U0'"))
            conn.execute(sa.text("UPDATE unit SET state = 'held'"))
        with pytest.raises(IntegrityError, match="fk_unit_holder_id_organisation"):
            _execute(engine, "UPDATE unit SET holder_id = 'ghost' WHERE serial = 'U1'")
        with engine.connect() as conn:
            definition = conn.execute(
                sa.text("SELECT pg_get_functiondef('unit_custody_refs_changed'::regproc)")
            ).scalar_one()
        # the changed values by a set operation: a join of the transition tables keeps its first plan for the session
        # (a nested loop, for a one-row UPDATE) and ran a later 10,000-row UPDATE as 10^8 comparisons
        assert "EXCEPT" in definition and "JOIN" not in definition.upper()
    finally:
        engine.dispose()


def test_0026_downgrades_to_the_row_trigger_and_back(empty_database_url):
    """0026 down: 0025's row trigger checks an UPDATE again; up: the statement trigger. SQLite: its keys throughout."""
    url = empty_database_url
    command.upgrade(alembic_config(url), "0026")
    command.downgrade(alembic_config(url), "0025")
    engine = make_engine(url)
    try:
        _seed(engine)
        _insert_unit(engine, "D1")
        with pytest.raises(IntegrityError):
            _execute(engine, "UPDATE unit SET holder_id = 'nobody'")
        _execute(engine, "UPDATE unit SET holder_id = 'd1', container_sscc = :s", s=SSCC)
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    try:
        with pytest.raises(IntegrityError):
            _execute(engine, "UPDATE unit SET to_id = 'nobody'")
        _execute(engine, "UPDATE unit SET to_id = 'd2'")
        with pytest.raises(IntegrityError):
            _execute(engine, "DELETE FROM organisation WHERE id = 'd2'")
    finally:
        engine.dispose()
