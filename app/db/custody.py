"""Custody queries: load (and on PostgreSQL lock) the units and containers an event names, walk containers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    and_,
    bindparam,
    exists,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.db.models import Batch, Container, Containment, Event, EventItem, Issuance, Licence, Unit
from app.db.pairs import pairs_in

_CHUNK = 500


def load_units(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Unit]:
    """Units by (gtin, serial), locked FOR UPDATE in ascending id order across the whole set (PostgreSQL;
    SQLite serialises writers), so any two requests take their unit locks in the same order."""
    wanted = sorted(set(keys))
    if session.get_bind().dialect.name != "postgresql":  # no row locks to order: read the rows in one pass
        found: dict[tuple[str, str], Unit] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = session.scalars(select(Unit).where(pairs_in(Unit.gtin, Unit.serial, wanted[start : start + _CHUNK])))
            found.update({(u.gtin, u.serial): u for u in rows})
        return found
    ids: list[int] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        ids.extend(session.scalars(select(Unit.id).where(pairs_in(Unit.gtin, Unit.serial, chunk))))
    ids.sort()
    found = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.scalars(
            select(Unit).where(Unit.id.in_(ids[start : start + _CHUNK])).order_by(Unit.id).with_for_update()
        )
        found.update({(u.gtin, u.serial): u for u in rows})
    return found


@dataclass(slots=True, eq=False)
class UnitRow:
    """A unit's row read as a plain tuple, not an ORM object (``lock_unit_rows``): a list of 10,000 codes is
    decided on these, and the bulk lane writes their changes set-based (app/services/custody/recorder.py)."""

    id: int
    gtin: str
    serial: str
    batch_id: int
    issuance_id: int
    state: str
    holder_id: str | None
    to_id: str | None
    previous: str | None
    container_sscc: str | None


_ROW_COLUMNS = "id, gtin, serial, batch_id, issuance_id, state, holder_id, to_id, previous, container_sscc"


def unit_rows(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], UnitRow]:
    """``load_units`` as plain rows: one statement per GTIN on SQLite (the serials as a JSON array, each found by
    the (gtin, serial) index); on PostgreSQL one statement locking every row FOR UPDATE in ascending id order
    (``_pg_unit_rows``)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return _pg_unit_rows(conn, wanted, [])
    by_gtin: dict[str, list[str]] = {}
    for gtin, serial in wanted:
        by_gtin.setdefault(gtin, []).append(serial)
    rows: list[Any] = []
    for gtin, serials in by_gtin.items():
        rows.extend(
            conn.exec_driver_sql(
                f"SELECT {_ROW_COLUMNS} FROM unit WHERE gtin = ? "  # noqa: S608 - fixed column names
                "AND serial IN (SELECT value FROM json_each(?))",
                (gtin, json.dumps(serials)),
            ).all()
        )
    return {(row[1], row[2]): UnitRow(*row) for row in rows}


_PG_ROWS = f"SELECT {_ROW_COLUMNS} FROM unit WHERE id IN ({{ids}}) ORDER BY id FOR UPDATE"  # noqa: S608
_PG_NAMED = (  # the codes as two JSON arrays (one text parameter each: psycopg dumps a list of str in Python)
    "SELECT x.id FROM ROWS FROM (json_array_elements_text(%s::json), json_array_elements_text(%s::json)) "
    "AS k(gtin, serial) JOIN unit x ON x.gtin = k.gtin AND x.serial = k.serial"
)
_PG_INSIDE = "SELECT y.id FROM unit y WHERE y.container_sscc = ANY(%s)"
# Only locked, in ascending id order (the LockRows above the sort), one row back: the 10,000 units of a pallet's
# cases read back as rows cost the backend ~45 ms and the server their parsing, for rows it then dropped.
_PG_LOCK_INSIDE = (
    "SELECT count(*) FROM (SELECT y.id FROM unit y WHERE y.container_sscc = ANY(%s) ORDER BY y.id FOR UPDATE) AS s"
)


def _pg_unit_rows(conn: Connection, wanted: list[tuple[str, str]], ssccs: list[str]) -> dict[tuple[str, str], UnitRow]:
    """PostgreSQL: the named units' rows, locked FOR UPDATE, with the units directly inside the containers
    ``ssccs`` (locked, not returned), by one statement in ascending id order: any two requests take their unit
    locks in the same order, and a request naming a unit and a case holding another takes both sets as one order
    (set by set, shipping unit 5 with a case holding unit 3 would take 5 then 3, against another taking 3 then 5).
    A single code: its row, locked by one statement (one row, no order to keep)."""
    if len(wanted) == 1 and not ssccs:  # a till, a scanner
        rows = conn.exec_driver_sql(
            f"SELECT {_ROW_COLUMNS} FROM unit WHERE gtin = %s AND serial = %s FOR UPDATE",  # noqa: S608
            wanted[0],
        ).all()
        return {(row[1], row[2]): UnitRow(*row) for row in rows}
    if not wanted:  # containers only (a pallet of cases, a pallet's hop): their contents locked, nothing read back
        conn.exec_driver_sql(_PG_LOCK_INSIDE, (ssccs,))
        return {}
    params: tuple[Any, ...] = (json.dumps([k[0] for k in wanted]), json.dumps([k[1] for k in wanted]))
    ids = _PG_NAMED
    if ssccs:
        ids, params = f"{_PG_NAMED} UNION ALL {_PG_INSIDE}", (*params, ssccs)
    rows = conn.exec_driver_sql(_PG_ROWS.format(ids=ids), params).all()
    found = {(row[1], row[2]): row for row in rows}
    if ssccs:  # the contents were only to be locked
        return {key: UnitRow(*row) for key in wanted if (row := found.get(key)) is not None}
    return {key: UnitRow(*row) for key, row in found.items()}


@dataclass(frozen=True, slots=True)
class ProductRow:
    """What the custody rules read of a product (``product_row``): a plain row, not an ORM object."""

    gtin: str
    category: str
    manufacturer_id: str


@dataclass(frozen=True, slots=True)
class BatchRow:
    """What the custody rules read of a lot (``batch_row``)."""

    id: int
    gtin: str
    lot: str
    expires_on: date


@dataclass(frozen=True, slots=True)
class OrgRow:
    """What the custody rules read of an organisation (``orgs_and_licences``)."""

    id: str
    name: str
    role: str
    region: str | None


# The custody rules read products, lots and organisations as plain rows: an ORM object loaded by ``Session.get``
# was the largest single part of a single event's CPU on SQLite (~8 % of its Python, docs/benchmarks.md), for two
# strings read off it. Products and lots do not change within a custody request; nothing there writes them.
_PRODUCT_SQL = {
    "postgresql": "SELECT gtin, category, manufacturer_id FROM product WHERE gtin = %s",
    "sqlite": "SELECT gtin, category, manufacturer_id FROM product WHERE gtin = ?",
}
_BATCH = select(Batch.id, Batch.gtin, Batch.lot, Batch.expires_on).where(Batch.id == bindparam("id"))
_ORGS_SQL = (
    "SELECT o.id, o.name, o.role, o.region, l.kind, l.valid_from, l.valid_until, l.revoked_at "
    "FROM organisation o LEFT JOIN licence l ON l.org_id = o.id WHERE {ids} ORDER BY l.id"
)
_ORGS_IDS = {"postgresql": "o.id = ANY(%s)", "sqlite": "o.id IN (SELECT value FROM json_each(?))"}


_PROCESSORS: dict[tuple[str, str], tuple[Callable[[Any], Any] | None, ...]] = {}


def _licence_processors(dialect: Dialect) -> tuple[Callable[[Any], Any] | None, ...]:
    """The result processors of the licence's valid from, valid until and revoked at on this dialect: driver SQL
    gives what the driver returns (on SQLite, text); these make of it what a typed select would (a date, a UTC
    datetime)."""
    key = (dialect.name, dialect.driver)
    found = _PROCESSORS.get(key)
    if found is None:
        columns = (Licence.valid_from, Licence.valid_until, Licence.revoked_at)
        found = _PROCESSORS[key] = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    return found


@dataclass(slots=True)
class EventRow:
    """An accepted event's row as ``Recorder.event_row`` inserted it, for the actions that change nothing of it
    afterwards (all but packing, unpacking and undo, which get an ORM ``Event``): a plain row, not an ORM object
    given to the session (building, registering and forgetting one was ~5 % of a single event's CPU on SQLite,
    docs/benchmarks.md). Whoever reads the event later in the request (``Session.get``) reads its row."""

    id: int
    org_id: str
    action: str
    occurred_at: datetime
    recorded_at: datetime
    region: str | None
    to_id: str | None
    container_sscc: str | None
    channel: str | None
    platform_id: str | None
    order_ref: str | None
    prescription_id: str | None
    idempotency_key: str | None
    undoes_event_id: int | None
    undone_by_event_id: int | None
    payload: Any


_EVENT_COLUMNS = (
    "org_id",
    "action",
    "occurred_at",
    "recorded_at",
    "region",
    "to_id",
    "container_sscc",
    "channel",
    "platform_id",
    "order_ref",
    "prescription_id",
    "idempotency_key",
    "undoes_event_id",
    "undone_by_event_id",
    "payload",
)
_EVENT_INSERTS: dict[tuple[str, str], tuple[str, tuple[Callable[[Any], Any] | None, ...]]] = {}


def insert_event(conn: Connection, values: dict[str, Any]) -> int:
    """Insert an event's row (every column but its id given in ``values``), its id back: driver SQL, each value
    made by its column type's bind processor as a compiled insert's would be (a UTC timestamp, the payload's JSON),
    with no statement to compile or cache key to build (~0.1 ms of a single event's CPU on SQLite)."""
    dialect = conn.dialect
    key = (dialect.name, dialect.driver)
    found = _EVENT_INSERTS.get(key)
    if found is None:
        mark = "%s" if dialect.name == "postgresql" else "?"
        columns = Event.__table__.c
        sql = (
            f"INSERT INTO event ({', '.join(_EVENT_COLUMNS)}) "  # noqa: S608 - the table's own column names
            f"VALUES ({', '.join([mark] * len(_EVENT_COLUMNS))}) RETURNING id"
        )
        if dialect.name == "postgresql":  # as the compiled insert does: the JSON parameter cast (render_bind_cast)
            sql = sql.replace(f"{mark}) RETURNING", f"{mark}::JSON) RETURNING")
        processors = tuple(columns[n].type.dialect_impl(dialect).bind_processor(dialect) for n in _EVENT_COLUMNS)
        found = _EVENT_INSERTS[key] = (sql, processors)
    sql, processors = found
    params = tuple(
        value if process is None else process(value)
        for process, value in zip(processors, (values[n] for n in _EVENT_COLUMNS), strict=True)
    )
    return int(conn.exec_driver_sql(sql, params).scalar_one())


def product_row(conn: Connection, gtin: str) -> ProductRow | None:
    row = conn.exec_driver_sql(_PRODUCT_SQL.get(conn.dialect.name, _PRODUCT_SQL["sqlite"]), (gtin,)).first()
    return ProductRow(*row) if row is not None else None


def batch_row(conn: Connection, batch_id: int) -> BatchRow | None:
    row = conn.execute(_BATCH, {"id": batch_id}).first()  # typed columns: the date comes back a date on SQLite
    return BatchRow(*row) if row is not None else None


def orgs_and_licences(
    conn: Connection, ids: list[str]
) -> list[tuple[OrgRow, str | None, date | None, date | None, datetime | None]]:
    """The organisations ``ids`` (those that exist), each with every licence grant it has (kind, valid from, valid
    until, revoked at; None for an organisation without any), one row per grant, in grant order. Driver SQL, the
    ids one parameter (an array, a JSON array): an expanding ``IN`` is rendered afresh at every execution."""
    postgresql = conn.dialect.name == "postgresql"
    sql = _ORGS_SQL.format(ids=_ORGS_IDS["postgresql" if postgresql else "sqlite"])
    rows = conn.exec_driver_sql(sql, (list(ids) if postgresql else json.dumps(list(ids)),))
    processors = _licence_processors(conn.dialect)
    found = []
    for org_id, name, role, region, kind, *dates in rows:
        valid_from, valid_until, revoked_at = (
            p(v) if p is not None and v is not None else v for p, v in zip(processors, dates, strict=True)
        )
        found.append((OrgRow(org_id, name, role, region), kind, valid_from, valid_until, revoked_at))
    return found


def lock_everything(
    session: Session, unit_keys: Iterable[tuple[str, str]], ssccs: Iterable[str]
) -> dict[tuple[str, str], Unit]:
    """Lock, up front and in one global order (units by id, then containers by SSCC), every row a request may
    change: the units named, the units directly inside containers named, and every container around any of
    them or named. Later row locks in the request are then already held, so two requests cannot deadlock."""
    unit_keys, ssccs = sorted(set(unit_keys)), sorted(set(ssccs))
    _lock_units_and_contents(session, unit_keys, ssccs)
    return _lock_everything(session, load_units(session, unit_keys), ssccs)


def lock_unit_rows(
    session: Session, unit_keys: Iterable[tuple[str, str]], ssccs: Iterable[str]
) -> dict[tuple[str, str], UnitRow]:
    """``lock_everything``, the named units read as plain rows (``UnitRow``); on PostgreSQL they and the units
    inside the containers named are locked and read by one statement."""
    unit_keys, ssccs = sorted(set(unit_keys)), sorted(set(ssccs))
    if session.get_bind().dialect.name == "postgresql" and (unit_keys or ssccs):
        return _lock_everything(session, _pg_unit_rows(session.connection(), unit_keys, ssccs), ssccs)
    return _lock_everything(session, unit_rows(session, unit_keys), ssccs)


_ROW_WIDTH = len(_ROW_COLUMNS.split(", "))  # the unit's columns, then the product's, in one fetched row
_UNIT_AND_PRODUCT = (
    f"SELECT {', '.join('u.' + c for c in _ROW_COLUMNS.split(', '))}, p.category, p.manufacturer_id "  # noqa: S608
    "FROM unit u JOIN product p ON p.gtin = u.gtin WHERE u.gtin = {mark} AND u.serial = {mark}"
)
_UNIT_AND_PRODUCT_SQL = {
    "postgresql": _UNIT_AND_PRODUCT.format(mark="%s") + " FOR UPDATE OF u",
    "sqlite": _UNIT_AND_PRODUCT.format(mark="?"),
}


def lock_unit_with_product(
    session: Session, key: tuple[str, str]
) -> tuple[dict[tuple[str, str], UnitRow], ProductRow | None]:
    """``lock_unit_rows`` for one unit code (a till, a scanner), its product's row read by the same statement (on
    PostgreSQL the unit's row locked FOR UPDATE, not the product's): one statement, not two."""
    conn = session.connection()
    sql = _UNIT_AND_PRODUCT_SQL.get(conn.dialect.name, _UNIT_AND_PRODUCT_SQL["sqlite"])
    row = conn.exec_driver_sql(sql, key).first()
    if row is None:
        return {}, None
    unit = UnitRow(*row[:_ROW_WIDTH])
    category, manufacturer_id = row[_ROW_WIDTH:]  # exactly two left, or the columns and the row disagree
    product = ProductRow(unit.gtin, category, manufacturer_id)
    return _lock_everything(session, {(unit.gtin, unit.serial): unit}, []), product


_Units = TypeVar("_Units", dict[tuple[str, str], Unit], dict[tuple[str, str], UnitRow])


def _lock_units_and_contents(session: Session, unit_keys: list[tuple[str, str]], ssccs: list[str]) -> None:
    """PostgreSQL, when containers are named: the named units and the units directly inside those containers,
    locked by one statement in ascending id order, so the two sets are one order (locked set by set, a request
    shipping unit 5 and a case holding unit 3 would take 5 then 3, against another taking 3 then 5). The rows
    are read after, their locks already held. SQLite has no row locks to take."""
    if not ssccs or session.get_bind().dialect.name != "postgresql":
        return
    session.connection().exec_driver_sql(
        f"SELECT id FROM unit WHERE id IN ({_PG_NAMED} UNION ALL {_PG_INSIDE}) ORDER BY id FOR UPDATE",  # noqa: S608
        (json.dumps([k[0] for k in unit_keys]), json.dumps([k[1] for k in unit_keys]), ssccs),
    ).all()


def _lock_everything(session: Session, units: _Units, named: list[str]) -> _Units:
    """The named units and those inside the containers named are locked; then the containers."""
    containers = set(named) | {u.container_sscc for u in units.values() if u.container_sscc}
    if named:
        containers |= set(session.scalars(select(Container.sscc).where(Container.parent_sscc.in_(named))))
    frontier = set(containers)
    while frontier:
        parents = set(
            session.scalars(
                select(Container.parent_sscc).where(
                    Container.sscc.in_(sorted(frontier)), Container.parent_sscc.is_not(None)
                )
            )
        )
        frontier = parents - containers
        containers |= parents
    load_containers(session, containers)
    return units


def load_containers(session: Session, ssccs: Iterable[str]) -> dict[str, Container]:
    wanted = sorted(set(ssccs))
    if not wanted:
        return {}
    rows = session.scalars(
        select(Container).where(Container.sscc.in_(wanted)).order_by(Container.sscc).with_for_update()
    )
    return {c.sscc: c for c in rows}


def container_chain(session: Session, sscc: str) -> list[Container]:
    """The container and its parents, innermost first (locked)."""
    chain: list[Container] = []
    current: str | None = sscc
    while current is not None:
        container = session.scalar(select(Container).where(Container.sscc == current).with_for_update())
        if container is None or container in chain:
            break
        chain.append(container)
        current = container.parent_sscc
    return chain


class WriteBatch:
    """PostgreSQL: the plain writes of one event (its units' custody, its items, its log leaf, its lot deltas) sent
    as one statement, each a common table expression of it: one round trip instead of one each (~11 a single event
    had, docs/benchmarks.md). Only INSERT and UPDATE statements without a WITH of their own, on rows no other part
    changes (a statement's parts see the same snapshot and none sees another's rows): ``add`` is given no other."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, params: Iterable[Any]) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def send(self, conn: Connection, then: str | None = None) -> Any:
        """Send the writes; ``then``: a statement without parameters that is the statement's main query (the writes
        its common table expressions), its first column's value returned."""
        parts, params = self.parts, tuple(self.params)
        self.parts, self.params = [], []
        if then is not None:
            parts.append(then)
        if not parts:
            return None
        *first, last = parts
        ctes = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(first))
        result = conn.exec_driver_sql(f"WITH {ctes} {last}" if ctes else last, params)
        return result.scalar() if then is not None else None


def set_custody(conn: Connection, ids: list[int], values: dict[str, Any], batch: WriteBatch | None = None) -> None:
    """The same custody columns on many unit rows (ids ascending, already locked): one statement, the ids as an
    array on PostgreSQL (sent with ``batch`` when given), a JSON array on SQLite."""
    _set_units(conn, ids, values, batch)


def set_container(conn: Connection, ids: list[int], sscc: str) -> None:
    """Many loose unit rows (locked) go into one container."""
    _set_units(conn, ids, {"container_sscc": sscc})


def pack_units(conn: Connection, links: list[tuple[int, str, int, int]]) -> None:
    """PostgreSQL: loose unit rows (locked) go into their containers, and their containment rows open, ``links``
    being (unit, container, packing event, lot) in the order the rows are to be written: one statement per
    container, the unit rows updated and the containment rows inserted from two arrays sent as one literal each."""
    by_sscc: dict[str, list[tuple[int, str, int, int]]] = {}
    for link in links:
        by_sscc.setdefault(link[1], []).append(link)
    for sscc, rows in by_sscc.items():
        events = {row[2] for row in rows}
        assert len(events) == 1  # one packing event per container in a write
        conn.exec_driver_sql(
            "WITH moved AS (UPDATE unit SET container_sscc = %s WHERE id = ANY(%s::bigint[])) "
            "INSERT INTO containment (unit_id, parent_sscc, packed_event_id, batch_id) "
            "SELECT k.unit_id, %s, %s, k.batch_id FROM unnest(%s::bigint[], %s::bigint[]) AS k(unit_id, batch_id)",
            (
                sscc,
                int_array(sorted(row[0] for row in rows)),
                sscc,
                events.pop(),
                int_array([row[0] for row in rows]),
                int_array([row[3] for row in rows]),
            ),
        )


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers (``{1,2,3}``), for a ``%s::bigint[]`` parameter: one string built in
    C, where psycopg dumps a list element by element in Python (~1.5 µs each, 15 ms for 10,000 ids)."""
    return "{" + ",".join(map(str, values)) + "}"


_SETTABLE = frozenset({"state", "holder_id", "to_id", "previous", "container_sscc"})


def _set_units(conn: Connection, ids: list[int], values: dict[str, Any], batch: WriteBatch | None = None) -> None:
    if not ids:
        return
    names = sorted(values)
    assert _SETTABLE.issuperset(names)  # column names are written into the statement
    if conn.dialect.name == "postgresql":
        assignments = ", ".join(f"{name} = %s" for name in names)
        # One unit (a till, a scanner): ``id = %s``, not ``= ANY(array)``. The statement is prepared (psycopg, from
        # its 5th run), and a generic plan's ANY of an array parameter is costed as 10 rows against the custom
        # plan's 1, so PostgreSQL re-planned the single event's whole write batch at every event (~0.2 ms of the
        # backend's CPU, pg_stat_statements: plans = calls); with one scalar id it keeps the generic plan.
        where, key = ("id = %s", ids[0]) if len(ids) == 1 else ("id = ANY(%s::bigint[])", int_array(ids))
        sql = f"UPDATE unit SET {assignments} WHERE {where}"  # noqa: S608 - fixed column names
        params = (*(values[n] for n in names), key)
        if batch is not None:
            batch.add(sql, params)
        else:
            conn.exec_driver_sql(sql, params)
        return
    assignments = ", ".join(f"{name} = ?" for name in names)
    sql = f"UPDATE unit SET {assignments} WHERE id IN (SELECT value FROM json_each(?))"  # noqa: S608
    conn.exec_driver_sql(sql, (*(values[n] for n in names), json.dumps(ids)))


def ids_param(conn: Connection, column: str, ids: list[int]) -> tuple[str, Any]:
    """``{column}`` is one of ``ids``, as SQL and its one parameter: an array on PostgreSQL, a JSON array on SQLite
    (one statement, however many ids, none compiled per id)."""
    if conn.dialect.name == "postgresql":
        return f"{column} = ANY(%s)", ids
    return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(ids)  # noqa: S608 - a column name


def shipped_by(conn: Connection, ids: list[int], org_id: str, other_than: int) -> set[int]:
    """Of the units ``ids``, those that ``org_id`` shipped (named directly) in an event other than ``other_than``."""
    if not ids:
        return set()
    where, param = ids_param(conn, "ei.unit_id", ids)
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    sql = (
        "SELECT DISTINCT ei.unit_id FROM event_item ei JOIN event e ON e.id = ei.event_id "  # noqa: S608
        f"WHERE {where} AND e.id <> {mark} AND e.org_id = {mark} AND e.action = 'ship'"
    )
    return {int(u) for u in conn.exec_driver_sql(sql, (param, other_than, org_id)).scalars()}


def close_containment(session: Session, *, event_id: int, unit_id: int | None = None, sscc: str | None = None) -> None:
    query = update(Containment).where(Containment.unpacked_event_id.is_(None))
    query = (
        query.where(Containment.unit_id == unit_id)
        if unit_id is not None
        else query.where(Containment.child_sscc == sscc)
    )
    session.execute(query.values(unpacked_event_id=event_id))


def in_import_package(unit: Any = Unit) -> ColumnElement[bool]:
    """The unit is still in the package an import of codes put it in: it has a container and no open containment
    row. An import writes no containment row for its units (a million of them would cost as much as the units),
    so such a unit's interval is (its ``container_sscc``, the import's event, open); the row is written, closed,
    when the unit leaves (``close_import_containment``). Every reader of a unit's intervals adds this one. No event
    before the import can name the package (its container was made by the import), so a reader may take the
    interval's start as 0."""
    open_row = exists().where(Containment.unit_id == unit.id, Containment.unpacked_event_id.is_(None))
    return and_(unit.container_sscc.is_not(None), ~open_row)


def close_import_containment(session: Session, *, event_id: int, sscc: str, unit_id: int | None = None) -> None:
    """The containment rows of the units an import put in ``sscc`` that leave it at ``event_id`` (all of them,
    or the one ``unit_id``), written closed: from the import's event to this one."""
    units = select(Unit.id, null(), Unit.container_sscc, Issuance.event_id, literal(event_id), Unit.batch_id).join(
        Issuance, Issuance.id == Unit.issuance_id
    )
    units = units.where(Unit.container_sscc == sscc, Issuance.event_id.is_not(None), in_import_package())
    if unit_id is not None:
        units = units.where(Unit.id == unit_id)
    columns = ["unit_id", "child_sscc", "parent_sscc", "packed_event_id", "unpacked_event_id", "batch_id"]
    session.execute(insert(Containment).from_select(columns, units))


def latest_item(
    session: Session, *, unit_id: int | None = None, sscc: str | None = None
) -> tuple[EventItem, Event] | None:
    query = select(EventItem, Event).join(Event, Event.id == EventItem.event_id)
    query = (
        query.where(EventItem.unit_id == unit_id)
        if unit_id is not None
        else query.where(EventItem.container_sscc == sscc)
    )
    row = session.execute(query.order_by(EventItem.id.desc()).limit(1)).one_or_none()
    return (row[0], row[1]) if row else None


def last_sale(session: Session, unit_id: int) -> Event | None:
    return session.scalar(
        select(Event)
        .join(EventItem, EventItem.event_id == Event.id)
        .where(
            EventItem.unit_id == unit_id,
            Event.action.in_(("sell", "dispense")),
            Event.undone_by_event_id.is_(None),
        )
        .order_by(Event.id.desc())
        .limit(1)
    )
