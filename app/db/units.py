"""Unit queries: the bulk insert of issuance and the one-row lookup of verification, both below the ORM."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from app.db.models import Unit


class SerialTaken(Exception):
    """A serial of the chunk already exists for the GTIN (or appears twice in it)."""


def insert_units(conn: Connection, gtin: str, batch_id: int, issuance_id: int, serials: Sequence[str]) -> None:
    """Insert one chunk of new units; raise ``SerialTaken`` if a serial is already used for the GTIN."""
    if conn.dialect.name == "postgresql":
        import psycopg.errors

        # COPY is about three times faster than executemany; serials and GTINs need no escaping.
        tail = f"\t{batch_id}\t{issuance_id}\n"
        block = "".join(f"{gtin}\t{serial}{tail}" for serial in serials)
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            with (
                driver.cursor() as cursor,
                cursor.copy("COPY unit (gtin, serial, batch_id, issuance_id) FROM STDIN") as copy,
            ):
                copy.write(block)
        except psycopg.errors.UniqueViolation as error:
            raise SerialTaken(str(error)) from error
        return
    try:
        conn.exec_driver_sql(
            "INSERT INTO unit (gtin, serial, batch_id, issuance_id) VALUES (?, ?, ?, ?)",
            [(gtin, serial, batch_id, issuance_id) for serial in serials],
        )
    except IntegrityError as error:
        raise SerialTaken(str(error.orig)) from error


def issuance_serials(conn: Connection, issuance_id: int, chunk: int) -> Iterator[list[str]]:
    """The serials of one issuance in the order they were issued, a chunk at a time (keyset paging)."""
    last_id = 0
    while True:
        rows = conn.execute(
            select(Unit.id, Unit.serial)
            .where(Unit.issuance_id == issuance_id, Unit.id > last_id)
            .order_by(Unit.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        last_id = rows[-1][0]
        yield [row[1] for row in rows]


@dataclass(frozen=True, slots=True)
class UnitRow:
    """Everything a verification needs about a unit, from one query."""

    lot: str
    expires_on: date
    state: str
    product_name: str
    category: str
    manufacturer: str
    id: int
    container_sscc: str | None
    holder_id: str | None
    to_id: str | None
    issued_at: Any
    manufacturer_region: str | None
    repeat_sale_alert: bool  # an open alert says someone tried to sell it again
    clone_alert: bool  # an open alert says the code is being scanned as a clone
    product_has_recalls: bool  # only then is the recall scope worth reading
    signed: bool  # issued with a signing key (not commissioned unsigned through EPCIS)
    product_has_passport: bool = False  # only then is a passport worth reading
    under_investigation: bool = False  # an active suspect-product case names the unit or its lot

    @property
    def untouched(self) -> bool:
        """Never named by a custody event: every event leaves a holder, a container or another state."""
        return self.state == "issued" and self.holder_id is None and self.container_sscc is None


_OPEN_ALERT = "EXISTS (SELECT 1 FROM alert a WHERE a.unit_id = u.id AND a.type = '{kind}' AND a.status <> 'closed')"
# Fixed text only (the alert kinds are constants); the values are bound parameters.
_COLUMNS = (
    "b.lot, b.expires_on, u.state, p.name, p.category, o.name, u.id, u.container_sscc, u.holder_id, u.to_id, "  # noqa: S608
    f"i.created_at, o.region, {_OPEN_ALERT.format(kind='repeat_sale')}, {_OPEN_ALERT.format(kind='clone_suspect')}, "
    "EXISTS (SELECT 1 FROM recall r WHERE r.gtin = u.gtin), i.key_tag IS NOT NULL, "
    "EXISTS (SELECT 1 FROM passport pp WHERE pp.gtin = u.gtin), "
    # Two probes of case_subject's (batch_id, active) and (unit_id, active) indexes: nothing when no case is open.
    "(EXISTS (SELECT 1 FROM case_subject cs WHERE cs.batch_id = u.batch_id AND cs.active) "
    "OR EXISTS (SELECT 1 FROM case_subject cs WHERE cs.unit_id = u.id AND cs.active))"
)
_JOINS = (
    "JOIN batch b ON b.id = u.batch_id JOIN product p ON p.gtin = u.gtin "
    "JOIN organisation o ON o.id = p.manufacturer_id JOIN issuance i ON i.id = u.issuance_id"
)


def lookup_sql(dialect: str) -> str:
    """One code: the unit's row (see ``unit_row``), or none."""
    p = "%s" if dialect == "postgresql" else "?"
    return f"SELECT {_COLUMNS} FROM unit u {_JOINS} WHERE u.gtin = {p} AND u.serial = {p}"  # noqa: S608


# Many codes in one statement (PostgreSQL), given as an array of GTINs and one of serials: a row per code found,
# the code (gtin, serial) first, then the columns of ``lookup_sql``.
LOOKUP_MANY_SQL = (
    f"SELECT k.gtin, k.serial, {_COLUMNS} FROM unnest(%s::text[], %s::text[]) AS k(gtin, serial) "  # noqa: S608
    f"JOIN unit u ON u.gtin = k.gtin AND u.serial = k.serial {_JOINS}"
)


def unit_row(raw: Any) -> UnitRow:
    values = list(raw)
    if isinstance(values[1], str):
        values[1] = date.fromisoformat(values[1])
    if isinstance(values[10], str):
        values[10] = datetime.fromisoformat(values[10]).replace(tzinfo=UTC)
    values[12:18] = [bool(v) for v in values[12:18]]
    return UnitRow(*values)
