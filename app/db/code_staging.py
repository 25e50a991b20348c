"""The staging of an import of codes: a temporary table the lines are copied into, then checked and turned into
units, containers and container counters by set-based statements, so a million lines never sit in memory.

The table is the connection's own (``TEMPORARY``) and lives inside the request's transaction: a refused import
rolls it back with everything else. Fixed SQL text only; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from app.db.bulk import copy_rows
from app.db.types import UTCDateTime

TABLE = "code_import_row"
LOTS = "code_import_lot"
COLUMNS = ("line", "key", "kind", "gtin", "serial", "parent", "pkey")


def create(conn: Connection) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {TABLE} (line INTEGER NOT NULL, key VARCHAR(48) NOT NULL, kind VARCHAR(4) NOT NULL, "
        "gtin VARCHAR(14), serial VARCHAR(20), parent VARCHAR(48), ckey VARCHAR(18), pkey VARCHAR(18), "
        "level INTEGER, pkg INTEGER NOT NULL DEFAULT 0)"
    )


def drop(conn: Connection) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")


def write(conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
    copy_rows(conn, TABLE, COLUMNS, rows)


def index(conn: Connection) -> None:
    """After loading (cheaper than keeping indexes up to date line by line); PostgreSQL also gathers statistics,
    which a temporary table never gets from autovacuum."""
    conn.exec_driver_sql(f"CREATE INDEX ix_{TABLE}_key ON {TABLE} (key)")
    conn.exec_driver_sql(f"CREATE INDEX ix_{TABLE}_parent ON {TABLE} (parent)")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {TABLE}")


def _first(conn: Connection, sql: str, **params: Any) -> tuple[Any, ...] | None:
    row = conn.execute(text(sql), params).first()
    return tuple(row) if row is not None else None


def first_duplicate(conn: Connection) -> tuple[int, str, int] | None:
    """(line, code, earlier line) of the first code listed a second time."""
    return _first(
        conn,
        f"SELECT r.line, r.key, (SELECT MIN(s.line) FROM {TABLE} s WHERE s.key = r.key) FROM {TABLE} r "  # noqa: S608
        f"WHERE EXISTS (SELECT 1 FROM {TABLE} s WHERE s.key = r.key AND s.line < r.line) ORDER BY r.line LIMIT 1",
    )


def first_unknown_parent(conn: Connection) -> tuple[int, str] | None:
    return _first(
        conn,
        f"SELECT r.line, r.parent FROM {TABLE} r WHERE r.parent IS NOT NULL "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {TABLE} s WHERE s.key = r.parent) ORDER BY r.line LIMIT 1",
    )


def assign_levels(conn: Connection, max_levels: int) -> int:
    """Depth of each package from the top (0: no parent), one statement per level, over the packages only (a unit
    is never rewritten: on PostgreSQL every UPDATE writes a new row version). The number of levels, the units'
    included. A package left without a level never reaches the top: it sits on a cycle (a cycle is made of
    packages only, since each of its codes is another's parent), or below one, or too deep."""
    conn.execute(text(f"UPDATE {TABLE} SET level = 0 WHERE pkg = 1 AND parent IS NULL"))  # noqa: S608
    level = 0
    while level < max_levels:
        moved = conn.execute(
            text(
                f"UPDATE {TABLE} SET level = :next WHERE pkg = 1 AND level IS NULL AND parent IN "  # noqa: S608
                f"(SELECT key FROM {TABLE} WHERE pkg = 1 AND level = :level)"
            ),
            {"next": level + 1, "level": level},
        ).rowcount
        if not moved:
            break
        level += 1
    packages = conn.execute(text(f"SELECT 1 FROM {TABLE} WHERE pkg = 1 LIMIT 1")).first()  # noqa: S608
    return level + 2 if packages is not None else 1


def first_unplaced(conn: Connection) -> tuple[int, str, str] | None:
    """(line, code, parent) of the first code that never reaches the top: on or below a cycle, or too deep."""
    return _first(
        conn,
        f"SELECT line, key, parent FROM {TABLE} WHERE pkg = 1 AND level IS NULL ORDER BY line LIMIT 1",  # noqa: S608
    )


def mark_packages(conn: Connection) -> None:
    """A code some other code names as its parent is a package; the rest are units."""
    conn.execute(
        text(f"UPDATE {TABLE} SET pkg = 1 WHERE key IN (SELECT parent FROM {TABLE} WHERE parent IS NOT NULL)")  # noqa: S608
    )


def key_packages(conn: Connection) -> None:
    """A package's container key, as the codes it holds carry it (``pkey``): computed once per package, on the
    lines naming it as parent, never for the units."""
    conn.execute(
        text(
            f"UPDATE {TABLE} SET ckey = (SELECT c.pkey FROM {TABLE} c WHERE c.parent = {TABLE}.key LIMIT 1) "  # noqa: S608
            "WHERE pkg = 1"
        )
    )


def first_bad_unit(conn: Connection, gtin: str, cn_drug_id: str | None) -> tuple[int, str, str] | None:
    """(line, code, kind) of the first unit that is not a unit of the batch's product: an SSCC (a package
    only), a GS1 code of another GTIN, or a 20-digit code without the product's 7-digit prefix."""
    return _first(
        conn,
        f"SELECT line, key, kind FROM {TABLE} WHERE pkg = 0 AND (kind = 'sscc' "  # noqa: S608
        "OR (kind = 'gs1' AND gtin <> :gtin) "
        "OR (kind = 'cn' AND SUBSTR(key, 1, 7) <> :prefix)) ORDER BY line LIMIT 1",
        gtin=gtin,
        prefix=cn_drug_id or "",  # none registered: no 20-digit code is a unit of the product
    )


def first_taken(conn: Connection, gtin: str) -> tuple[int, str] | None:
    """(line, code) of the first code already registered: a unit serial of the GTIN, or a container."""
    return _first(
        conn,
        f"SELECT r.line, r.key FROM {TABLE} r WHERE (r.pkg = 0 AND EXISTS "  # noqa: S608
        "(SELECT 1 FROM unit u WHERE u.gtin = :gtin AND u.serial = r.serial)) "
        "OR (r.pkg = 1 AND EXISTS (SELECT 1 FROM container c WHERE c.sscc = r.ckey)) ORDER BY r.line LIMIT 1",
        gtin=gtin,
    )


def counts(conn: Connection) -> tuple[int, int]:
    """(units, packages)."""
    row = conn.execute(text(f"SELECT COUNT(*) - COALESCE(SUM(pkg), 0), COALESCE(SUM(pkg), 0) FROM {TABLE}")).one()  # noqa: S608
    return int(row[0]), int(row[1])


def insert_containers(conn: Connection, levels: int, holder: str, now: datetime) -> None:
    """The packages as containers, issued at the manufacturer like the units inside them, outer levels first
    (a container's parent exists before it), each with its printed code (an SSCC is its own key: no code)."""
    statement = text(
        "INSERT INTO container (sscc, state, holder_id, to_id, previous, parent_sscc, created_at, code) "  # noqa: S608
        f"SELECT ckey, 'issued', :holder, NULL, NULL, pkey, :now, CASE WHEN kind = 'sscc' THEN NULL ELSE key END "
        f"FROM {TABLE} WHERE pkg = 1 AND level = :level"
    ).bindparams(bindparam("now", type_=UTCDateTime()))
    for level in range(levels):
        conn.execute(statement, {"holder": holder, "now": now, "level": level})


def insert_units(conn: Connection, gtin: str, batch_id: int, issuance_id: int) -> None:
    conn.execute(
        text(
            "INSERT INTO unit (gtin, serial, batch_id, issuance_id, container_sscc) "  # noqa: S608
            f"SELECT :gtin, serial, :batch_id, :issuance_id, pkey FROM {TABLE} WHERE pkg = 0"
        ),
        {"gtin": gtin, "batch_id": batch_id, "issuance_id": issuance_id},
    )


def insert_container_lots(conn: Connection, levels: int, batch_id: int) -> None:
    """Units anywhere inside each package (its whole subtree): the units directly in each package, then, innermost
    level first, each package's total added to its parent's, all in a small table of partial counts beside the
    staging table (which is never rewritten for it: on PostgreSQL every UPDATE writes a row version)."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {LOTS}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {LOTS} (sscc VARCHAR(18) NOT NULL, units INTEGER NOT NULL)")
    conn.execute(
        text(
            f"INSERT INTO {LOTS} (sscc, units) SELECT pkey, COUNT(*) FROM {TABLE} "  # noqa: S608
            "WHERE pkg = 0 AND pkey IS NOT NULL GROUP BY pkey"
        )
    )
    for level in reversed(range(1, levels - 1)):  # the packages inside another, innermost first
        conn.execute(
            text(
                f"INSERT INTO {LOTS} (sscc, units) SELECT p.pkey, SUM(l.units) FROM {TABLE} p "  # noqa: S608
                f"JOIN {LOTS} l ON l.sscc = p.ckey WHERE p.pkg = 1 AND p.level = :level GROUP BY p.pkey"
            ),
            {"level": level},
        )
    conn.execute(
        text(
            "INSERT INTO container_lot (sscc, batch_id, units) "  # noqa: S608
            f"SELECT sscc, :batch_id, SUM(units) FROM {LOTS} GROUP BY sscc HAVING SUM(units) > 0"
        ),
        {"batch_id": batch_id},
    )
    conn.exec_driver_sql(f"DROP TABLE {LOTS}")


def insert_containment(conn: Connection, event_id: int) -> None:
    """Each package inside its parent since the import's event: the intervals that histories and recall traces walk
    up to the containers an event named (as packing writes them). The units get none: a unit in its import package
    is read from its ``container_sscc`` until it leaves (``app.db.custody.in_import_package``)."""
    conn.execute(
        text(
            "INSERT INTO containment (unit_id, child_sscc, parent_sscc, packed_event_id, batch_id) "  # noqa: S608
            f"SELECT NULL, ckey, pkey, :event_id, NULL FROM {TABLE} WHERE pkg = 1 AND pkey IS NOT NULL"
        ),
        {"event_id": event_id},
    )
