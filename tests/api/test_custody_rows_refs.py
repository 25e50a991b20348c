"""Migration 0027: on PostgreSQL the keys of ``containment`` (5) and ``event_item`` (3) are statement-level triggers,
each distinct value a statement writes checked once, in place of foreign keys that ran one check per row; SQLite
keeps its keys. Both refuse the same: a row naming a unit, container or event that does not exist (insert or
update), and deleting or re-keying (PostgreSQL: truncating away) one that a row names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError, OperationalError

from app.cli import alembic_config
from app.db.engine import make_engine
from tests.helpers import GTIN, seed_lots

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
SSCC = "000000000000000017"
OTHER_SSCC = "000000000000000024"
MISSING_SSCC = "000000000000000000"
KEYS = {
    "fk_containment_unit_id_unit",
    "fk_containment_child_sscc_container",
    "fk_containment_parent_sscc_container",
    "fk_containment_packed_event_id_event",
    "fk_containment_unpacked_event_id_event",
    "fk_event_item_event_id_event",
    "fk_event_item_unit_id_unit",
    "fk_event_item_container_sscc_container",
}
ITEM = '{"status": "held"}'


def _seed(engine: sa.Engine, units: int = 6) -> None:
    with engine.begin() as conn:
        run = conn.execute
        seed_lots(conn, T0, issued=units)
        for n in range(1, units + 1):
            run(
                sa.text("INSERT INTO unit (id, gtin, serial, batch_id, issuance_id) VALUES (:n, :g, :s, 1, 1)"),
                {"n": n, "g": GTIN, "s": f"S{n}"},
            )
        for sscc in (SSCC, OTHER_SSCC):
            run(
                sa.text("INSERT INTO container (sscc, state, created_at) VALUES (:s, 'held', :t)"),
                {"s": sscc, "t": T0},
            )
        for event_id in (1, 2):
            run(
                sa.text(
                    "INSERT INTO event (id, org_id, action, occurred_at, recorded_at, payload) "
                    "VALUES (:e, 'm1', 'pack', :t, :t, '{}')"
                ),
                {"e": event_id, "t": T0},
            )


def _execute(engine: sa.Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _containment(engine: sa.Engine, unit_id: object, parent: str = SSCC, packed: object = 1, **more: object) -> None:
    columns = {"unit_id": unit_id, "parent_sscc": parent, "packed_event_id": packed, **more}
    _execute(
        engine,
        f"INSERT INTO containment ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
        **columns,
    )


def _item(engine: sa.Engine, event_id: object = 1, unit_id: object = None, container: object = None) -> None:
    _execute(
        engine,
        'INSERT INTO event_item (event_id, unit_id, container_sscc, "before", "after") VALUES (:e, :u, :c, :b, :b)',
        e=event_id,
        u=unit_id,
        c=container,
        b=ITEM,
    )


def _keys(engine: sa.Engine) -> set[str]:
    if engine.dialect.name == "sqlite":  # the tables' SQL names them
        with engine.connect() as conn:
            sql = " ".join(
                conn.execute(
                    sa.text("SELECT sql FROM sqlite_master WHERE name IN ('containment', 'event_item')")
                ).scalars()
            )
        return {name for name in KEYS if name in sql}
    inspector = sa.inspect(engine)
    found = {k["name"] for t in ("containment", "event_item") for k in inspector.get_foreign_keys(t)}
    return found & KEYS


def _keys_at_head(engine: sa.Engine) -> set[str]:
    return KEYS if engine.dialect.name == "sqlite" else set()


def _assert_refuses_what_the_keys_refused(engine: sa.Engine) -> None:
    _containment(engine, 1)
    _containment(engine, None, child_sscc=OTHER_SSCC)
    _item(engine, unit_id=1)
    _item(engine, container=SSCC)
    for unit_id, parent, packed, more in [
        (999, SSCC, 1, {}),
        (2, MISSING_SSCC, 1, {}),
        (2, SSCC, 999, {}),
        (None, SSCC, 1, {"child_sscc": MISSING_SSCC}),
        (2, SSCC, 1, {"unpacked_event_id": 999}),
    ]:
        with pytest.raises(IntegrityError):
            _containment(engine, unit_id, parent, packed, **more)
    for event_id, unit_id, container in [(999, 1, None), (1, 999, None), (1, None, MISSING_SSCC)]:
        with pytest.raises(IntegrityError):
            _item(engine, event_id, unit_id, container)
    for sql in [
        "UPDATE containment SET unpacked_event_id = 999 WHERE unit_id = 1",
        "UPDATE containment SET unit_id = 999 WHERE unit_id = 1",
        f"UPDATE containment SET parent_sscc = '{MISSING_SSCC}' WHERE unit_id = 1",
        f"UPDATE containment SET child_sscc = '{MISSING_SSCC}' WHERE child_sscc IS NOT NULL",
        "UPDATE containment SET packed_event_id = 999",
        "UPDATE event_item SET event_id = 999",
        "UPDATE event_item SET unit_id = 999 WHERE unit_id IS NOT NULL",
        f"UPDATE event_item SET container_sscc = '{MISSING_SSCC}' WHERE container_sscc IS NOT NULL",
    ]:
        with pytest.raises(IntegrityError):
            _execute(engine, sql)
    # values that exist, and NULL, are accepted
    _execute(engine, "UPDATE containment SET unpacked_event_id = 2, parent_sscc = :s WHERE unit_id = 1", s=OTHER_SSCC)
    _execute(engine, "UPDATE event_item SET event_id = 2, unit_id = 3 WHERE unit_id = 1")

    # the referenced side: what a row names stays, and keeps its key
    for sql in [
        "DELETE FROM unit WHERE id = 3",  # an event item's unit
        "DELETE FROM unit WHERE id = 1",  # a containment row's unit
        "UPDATE unit SET id = 99 WHERE id = 1",
        f"DELETE FROM container WHERE sscc = '{OTHER_SSCC}'",  # a containment row's child and parent
        f"UPDATE container SET sscc = '000000000000000031' WHERE sscc = '{SSCC}'",  # an item's container
        "DELETE FROM event WHERE id = 1",  # packed_event_id
        "DELETE FROM event WHERE id = 2",  # unpacked_event_id, an item's event
        "UPDATE event SET id = 9 WHERE id = 2",
    ]:
        with pytest.raises(IntegrityError):
            _execute(engine, sql)
    _execute(engine, "UPDATE unit SET state = 'held' WHERE id = 1")  # not its key: no check
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT unit_id, child_sscc, parent_sscc, packed_event_id, unpacked_event_id FROM containment "
                "ORDER BY id"
            )
        ).all()
        items = conn.execute(sa.text("SELECT event_id, unit_id, container_sscc FROM event_item ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(1, None, OTHER_SSCC, 1, 2), (None, OTHER_SSCC, SSCC, 1, None)]
    assert [tuple(r) for r in items] == [(2, 3, None), (1, None, SSCC)]
    # once nothing names them, they go
    _execute(engine, "DELETE FROM event_item")
    _execute(engine, "DELETE FROM containment")
    _execute(engine, "DELETE FROM unit WHERE id = 1")
    _execute(engine, "DELETE FROM event WHERE id = 2")


def test_containment_and_event_items_are_checked_both_ways(database_url):
    engine = make_engine(database_url)
    try:
        _seed(engine)
        assert _keys(engine) == _keys_at_head(engine)
        _assert_refuses_what_the_keys_refused(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_postgresql_checks_a_statement_once_with_the_same_guarantees(database_url):
    engine = make_engine(database_url)
    try:
        _seed(engine)
        with engine.connect() as conn:
            triggers = dict(
                conn.execute(
                    sa.text(
                        "SELECT tgname, tgtype & 1 FROM pg_trigger WHERE NOT tgisinternal "
                        "AND tgrelid IN ('containment'::regclass, 'event_item'::regclass)"
                    )
                ).all()
            )
        assert triggers == {  # 0: FOR EACH STATEMENT
            "containment_refs_inserted": 0,
            "containment_refs_updated": 0,
            "event_item_refs_inserted": 0,
            "event_item_refs_updated": 0,
        }
        # one session: a one-row statement first (its plan is kept), then many rows, then one missing among many:
        # refused whole, naming the key
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO containment (unit_id, parent_sscc, packed_event_id) VALUES (1, :s, 1)"),
                {"s": SSCC},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO containment (unit_id, parent_sscc, packed_event_id) "
                    "SELECT id, :s, 1 FROM unit WHERE id > 1"
                ),
                {"s": SSCC},
            )
        for sql, key in [
            (
                "INSERT INTO containment (unit_id, parent_sscc, packed_event_id) "
                "SELECT CASE WHEN id = 4 THEN 999 ELSE id END, :s, 1 FROM unit",
                "fk_containment_unit_id_unit",
            ),
            (
                'INSERT INTO event_item (event_id, unit_id, "before", "after") '
                "SELECT CASE WHEN id = 6 THEN 999 ELSE 1 END, id, '{}', '{}' FROM unit",
                "fk_event_item_event_id_event",
            ),
            (
                "UPDATE containment SET unpacked_event_id = CASE WHEN unit_id = 5 THEN 999 ELSE 2 END",
                "fk_containment_unpacked_event_id_event",
            ),
        ]:
            with pytest.raises(IntegrityError, match=key):
                _execute(engine, sql, s=SSCC)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM containment")).scalar_one() == 6
            assert (
                conn.execute(
                    sa.text("SELECT count(*) FROM containment WHERE unpacked_event_id IS NOT NULL")
                ).scalar_one()
                == 0
            )
            assert conn.execute(sa.text("SELECT count(*) FROM event_item")).scalar_one() == 0
        # what a statement names is held (FOR KEY SHARE) until its transaction ends: a delete waits, where without
        # the lock it would not see the uncommitted rows and leave them naming nothing
        with engine.connect() as first:
            first.begin()
            first.execute(
                sa.text(
                    'INSERT INTO event_item (event_id, unit_id, container_sscc, "before", "after") '
                    "SELECT 2, id, NULL, '{}'::json, '{}'::json FROM unit UNION ALL SELECT 2, NULL, :s, '{}', '{}'"
                ),
                {"s": OTHER_SSCC},
            )
            first.execute(sa.text("UPDATE containment SET unpacked_event_id = 2 WHERE unit_id = 1"))
            for sql in (
                "DELETE FROM event WHERE id = 2",
                "DELETE FROM unit WHERE id = 6",
                f"DELETE FROM container WHERE sscc = '{OTHER_SSCC}'",
            ):
                with pytest.raises(OperationalError, match="lock"), engine.begin() as second:
                    second.execute(sa.text("SET LOCAL lock_timeout = '100ms'"))
                    second.execute(sa.text(sql))
            first.commit()
        for sql in ("DELETE FROM event WHERE id = 2", "DELETE FROM unit WHERE id = 6"):
            with pytest.raises(IntegrityError):  # committed, the rows name them: refused
                _execute(engine, sql)
        # a snapshot cannot see rows committed after it: deleting there is refused outright
        for level in ("REPEATABLE READ", "SERIALIZABLE"):
            with (
                pytest.raises(IntegrityError, match="only under READ COMMITTED"),
                engine.connect().execution_options(isolation_level=level) as conn,
                conn.begin(),
            ):
                conn.execute(sa.text("DELETE FROM event WHERE id = 1"))
        # TRUNCATE ... CASCADE no longer reaches the rows through a key: the trigger refuses to leave them dangling
        for table in ("event", "unit"):
            with pytest.raises(IntegrityError):
                _execute(engine, f"TRUNCATE {table} CASCADE")
        # only values a row changes to are checked: a row left naming what it named (here an event no row is,
        # written with triggers off) passes; another row changing to it does not
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text("UPDATE containment SET packed_event_id = 77 WHERE unit_id = 2"))
        _execute(engine, "UPDATE containment SET batch_id = 1")
        with pytest.raises(IntegrityError, match="fk_containment_packed_event_id_event"):
            _execute(engine, "UPDATE containment SET packed_event_id = 77 WHERE unit_id = 3")
        with engine.connect() as conn:
            for function in ("containment_refs_updated", "event_item_refs_updated"):
                definition = conn.execute(sa.text(f"SELECT pg_get_functiondef('{function}'::regproc)")).scalar_one()
                # the changed values by a set operation, never a join of the two transition tables (0026)
                assert "EXCEPT" in definition and "old_rows o" in definition and "JOIN old_rows" not in definition
    finally:
        engine.dispose()


def test_0027_keeps_the_rows_and_downgrades_to_the_keys(empty_database_url):
    url = empty_database_url
    command.upgrade(alembic_config(url), "0026")
    engine = make_engine(url)
    try:
        _seed(engine)
        assert _keys(engine) == KEYS
        _containment(engine, 1)
        _item(engine, unit_id=1)
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), "0027")
    engine = make_engine(url)
    try:
        assert _keys(engine) == _keys_at_head(engine)
        with pytest.raises(IntegrityError):
            _containment(engine, 999)
        with pytest.raises(IntegrityError):
            _execute(engine, "DELETE FROM unit WHERE id = 1")
    finally:
        engine.dispose()
    command.downgrade(alembic_config(url), "0026")
    engine = make_engine(url)
    try:
        assert _keys(engine) == KEYS
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM containment")).scalar_one() == 1
            assert conn.execute(sa.text("SELECT count(*) FROM event_item")).scalar_one() == 1
            if conn.dialect.name == "postgresql":
                triggers = conn.execute(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars()
                assert not [t for t in triggers if "refs_inserted" in t or "custody_rows_refs" in t]
        with pytest.raises(IntegrityError):  # the keys refuse it again
            _item(engine, unit_id=999)
    finally:
        engine.dispose()
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    try:
        assert _keys(engine) == _keys_at_head(engine)
        with pytest.raises(IntegrityError):
            _item(engine, event_id=999, unit_id=1)
    finally:
        engine.dispose()
