"""``passport log verify --replay``: replay the logged events from the database and compare the derived state.

Reads, in one snapshot (REPEATABLE READ on PostgreSQL; one read transaction on SQLite), the log's leaves a page
at a time, checks that each event as it stands still hashes to the leaf the log committed to, feeds the leaves to
``app.domain.replay.Replay`` (then the events committed but not integrated yet, as the log's next leaves: a live
PostgreSQL primary always has a few), then streams the unit and container tables and reads the five lot counter
tables (with their unmerged changes), naming every stored value that is not the replayed one. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from app.db.cases import case_leaves
from app.db.custody import in_import_package
from app.db.log import leaf_events, passport_leaves, pending_leaf_events, tree_size
from app.db.lot_counters import KINDS
from app.db.models import (
    Container,
    ContainerLot,
    Containment,
    Issuance,
    LogNode,
    LotCustody,
    LotDelta,
    LotHop,
    LotRecovery,
    LotSale,
    Product,
    Unit,
)
from app.db.pairs import pairs_in
from app.domain import merkle
from app.domain.leaf import LeafEvent, leaf_bytes, leaf_document
from app.domain.replay import (
    COUNTER_KEYS,
    CounterKey,
    Difference,
    Origin,
    Placement,
    Record,
    Replay,
    count_differences,
    issued,
    placement_differences,
)
from app.services.log import integrate

PAGE = 1_000  # leaves per read
UNIT_PAGE = 5_000
_CHUNK = 500
COUNTER_TABLES: dict[str, Any] = {
    "lot_custody": LotCustody,
    "container_lot": ContainerLot,
    "lot_hop": LotHop,
    "lot_sale": LotSale,
    "lot_recovery": LotRecovery,
}
Progress = Callable[[str, int, int], None]  # (stage, done, total or 0 when not known)


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@dataclass
class ReplayReport:
    events: int = 0
    units: int = 0
    containers: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def text(self) -> str:
        summary = (
            f"{_counted(self.events, 'event')} replayed, {_counted(self.units, 'unit')} and "
            f"{_counted(self.containers, 'container')} checked, lot counters compared"
        )
        if self.ok:
            return f"replay verified: {summary}; derived state agrees with the log"
        lines = [d.text() for d in self.differences]
        lines.append(f"replay FAILED: {_counted(len(self.differences), 'difference')}; {summary}")
        return "\n".join(lines)


def replay_database(engine: Engine, *, progress: Progress | None = None) -> ReplayReport:
    # Leaves and lot-counter deltas left pending by a process that stopped between an event's commit and its
    # integration go into the log and the counters first (app/services/log.py), so the snapshot compares them.
    integrate(engine)
    options: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        return replay(conn, progress=progress)


def replay(conn: Connection, *, progress: Progress | None = None, page: int = PAGE) -> ReplayReport:
    report = ReplayReport()
    state = Replay()
    size = tree_size(conn)
    for start in range(0, size, page):
        end = min(start + page, size)
        report.differences.extend(_replay_page(conn, state, start, end))
        if progress is not None:
            progress("events", end, size)
    # Events committed but not integrated yet (a live PostgreSQL primary, between an event's commit and its batch):
    # they changed units and counters in this snapshot, so they are replayed too, as the log's next leaves.
    pending = [(size + n, leaf, leaf_hash) for n, (leaf_hash, leaf) in enumerate(pending_leaf_events(conn))]
    report.differences.extend(_replay_leaves(conn, state, pending))
    report.events = state.events
    report.differences.extend(state.breaks)
    report.units = _compare_units(conn, state, report.differences, progress)
    report.containers = _compare_containers(conn, state, report.differences)
    replayed = state.counters().tables
    for table, model in COUNTER_TABLES.items():
        report.differences.extend(count_differences(table, _stored_counts(conn, table, model), replayed[table]))
    return report


def _replay_page(conn: Connection, state: Replay, start: int, end: int) -> list[Difference]:
    found: list[Difference] = []
    hashes = dict(
        conn.execute(
            select(LogNode.index, LogNode.hash).where(LogNode.level == 0, LogNode.index >= start, LogNode.index < end)
        ).all()
    )
    events = leaf_events(conn, start, end)
    passports = passport_leaves(conn, start, end)  # passport versions change no custody: only their hash is checked
    for index, (data, _) in passports.items():
        if merkle.leaf_hash(data) != bytes(hashes[index]):
            found.append(
                Difference(f"leaf {index} (passport version)", "edited since logged", "as logged", "passports")
            )
    cases = case_leaves(conn, start, end)  # case changes move no custody either: only their hash is checked
    for index, (data, _) in cases.items():
        if merkle.leaf_hash(data) != bytes(hashes[index]):
            found.append(Difference(f"leaf {index} (case change)", "edited since logged", "as logged", "cases"))
    present = {index for index, _ in events} | passports.keys() | cases.keys()
    for index in range(start, end):
        if index not in present:
            found.append(Difference(f"leaf {index}", "no event", "an event", stored_label="log"))
    found.extend(_replay_leaves(conn, state, [(index, leaf, bytes(hashes[index])) for index, leaf in events]))
    return found


def _replay_leaves(conn: Connection, state: Replay, leaves: list[tuple[int, LeafEvent, bytes]]) -> list[Difference]:
    """Check each event against the hash its leaf committed to, then feed it to the replay, in index order."""
    found: list[Difference] = []
    documents = []
    for index, leaf, leaf_hash in leaves:
        if merkle.leaf_hash(leaf_bytes(leaf)) != leaf_hash:
            found.append(
                Difference(f"leaf {index} (event {leaf.event_id})", "edited since logged", "as logged", "event rows")
            )
        documents.append((index, leaf_document(leaf)))
    wanted = sorted(state.unknown_units(doc for _, doc in documents))
    origins = _origins(conn, wanted)
    for name in wanted:
        state.add_unit(name, origins.get(name))
    imports = _imports(conn, [doc["event_id"] for _, doc in documents if _is_import(doc)])
    for index, doc in documents:
        if doc["event_id"] in imports:
            containers, units = imports[doc["event_id"]]
            state.add_import(doc["org"], containers, units)
        state.apply(index, doc)
    return found


def _is_import(doc: dict[str, Any]) -> bool:
    """An import of codes logs one ``pack`` naming no item and no container (app/services/code_import.py)."""
    return doc["action"] == "pack" and not doc["items"] and not doc["container"]


Registered = tuple[dict[str, str | None], list[tuple[str, int, str]]]


def _imports(conn: Connection, event_ids: list[int]) -> dict[int, Registered]:
    """What each import registered, from the containment rows it recorded with its event: the packages with their
    parents (a top-level package is only ever a parent) and the units with their lot and package (a unit that has
    not left its package has no row: its issuance names the import's event, its container is the package)."""
    found: dict[int, Registered] = {}
    for start in range(0, len(event_ids), _CHUNK):
        chunk = event_ids[start : start + _CHUNK]
        rows = conn.execute(
            select(Containment.packed_event_id, Containment.child_sscc, Containment.parent_sscc)
            .where(Containment.packed_event_id.in_(chunk), Containment.unit_id.is_(None))
            .order_by(Containment.id)
        )
        for event_id, child, parent in rows:
            containers = found.setdefault(event_id, ({}, []))[0]
            containers.setdefault(parent, None)
            containers[child] = parent
        units = conn.execute(
            select(Containment.packed_event_id, Unit.gtin, Unit.serial, Unit.batch_id, Containment.parent_sscc)
            .join(Unit, Unit.id == Containment.unit_id)
            .where(Containment.packed_event_id.in_(chunk))
            .order_by(Containment.id)
        )
        for event_id, gtin, serial, batch_id, parent in units:
            containers, listed = found.setdefault(event_id, ({}, []))
            containers.setdefault(parent, None)
            listed.append((f"{gtin}/{serial}", int(batch_id), parent))
        # the units still in the package the import put them in have no row yet: their issuance names the event
        still = conn.execute(
            select(Issuance.event_id, Unit.gtin, Unit.serial, Unit.batch_id, Unit.container_sscc)
            .join(Unit, Unit.issuance_id == Issuance.id)
            .where(Issuance.event_id.in_(chunk), in_import_package())
            .order_by(Unit.id)
        )
        for event_id, gtin, serial, batch_id, parent in still:
            containers, listed = found.setdefault(event_id, ({}, []))
            containers.setdefault(parent, None)
            listed.append((f"{gtin}/{serial}", int(batch_id), parent))
    return found


def _origins(conn: Connection, names: list[str]) -> dict[str, Origin]:
    keys = [tuple(name.split("/", 1)) for name in names]
    found: dict[str, Origin] = {}
    for start in range(0, len(keys), _CHUNK):
        rows = conn.execute(
            select(Unit.gtin, Unit.serial, Unit.batch_id, Product.manufacturer_id)
            .join(Product, Product.gtin == Unit.gtin)
            .where(pairs_in(Unit.gtin, Unit.serial, keys[start : start + _CHUNK]))
        )
        for gtin, serial, batch_id, manufacturer in rows:
            found[f"{gtin}/{serial}"] = Origin(int(batch_id), manufacturer)
    return found


def _unit_pages(conn: Connection) -> Iterator[list[Any]]:
    """The unit table in id order, a page at a time (keyset paging: constant cost per page)."""
    last = 0
    while True:
        rows = conn.execute(
            select(
                Unit.id,
                Unit.gtin,
                Unit.serial,
                Unit.state,
                Unit.holder_id,
                Unit.to_id,
                Unit.previous,
                Unit.container_sscc,
                Product.manufacturer_id,
            )
            .join(Product, Product.gtin == Unit.gtin)
            .where(Unit.id > last)
            .order_by(Unit.id)
            .limit(UNIT_PAGE)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        yield rows


def _compare_units(conn: Connection, state: Replay, out: list[Difference], progress: Progress | None) -> int:
    checked = 0
    for rows in _unit_pages(conn):
        for row in rows:
            name = f"{row.gtin}/{row.serial}"
            # An unmoved unit's holder column is empty: its holder is its product's manufacturer.
            stored = Placement(
                Record(row.state, row.holder_id or row.manufacturer_id, row.to_id, row.previous), row.container_sscc
            )
            replayed = state.unit(name)
            expected = replayed if replayed is not None else Placement(issued(row.manufacturer_id), None)
            out.extend(placement_differences(f"unit {name}", stored, expected, "container"))
        checked += len(rows)
        if progress is not None:
            progress("units", checked, 0)
    return checked


def _compare_containers(conn: Connection, state: Replay, out: list[Difference]) -> int:
    replayed = state.containers()
    stored: dict[str, Placement] = {}
    last = ""
    while True:
        rows = conn.execute(
            select(
                Container.sscc,
                Container.state,
                Container.holder_id,
                Container.to_id,
                Container.previous,
                Container.parent_sscc,
            )
            .where(Container.sscc > last)
            .order_by(Container.sscc)
            .limit(UNIT_PAGE)
        ).all()
        if not rows:
            break
        last = rows[-1].sscc
        for row in rows:
            stored[row.sscc] = Placement(Record(row.state, row.holder_id, row.to_id, row.previous), row.parent_sscc)
    for sscc in sorted(stored.keys() | replayed.keys()):
        if sscc not in replayed:
            out.append(Difference(f"container {sscc}", "present", "never packed"))
        elif sscc not in stored:
            out.append(Difference(f"container {sscc}", "absent", "packed by the log"))
        else:
            out.extend(placement_differences(f"container {sscc}", stored[sscc], replayed[sscc], "parent"))
    return len(stored)


def _stored_counts(conn: Connection, table: str, model: Any) -> dict[CounterKey, int]:
    columns = [getattr(model, name) for name in COUNTER_KEYS[table]]
    counts: dict[CounterKey, int] = {}
    for row in conn.execute(select(*columns, model.units)):
        if row[-1]:
            counts[tuple(row[:-1])] = int(row[-1])
    # with the changes not merged yet (PostgreSQL: events write deltas, the sequencer merges them in batches)
    kind = next((kind for kind, (counter, _) in KINDS.items() if counter.name == table), None)
    if kind is not None:
        deltas = select(LotDelta.batch_id, LotDelta.a, LotDelta.b, LotDelta.c, LotDelta.units).where(
            LotDelta.kind == kind
        )
        for *key, units in conn.execute(deltas):
            name = tuple(key[: len(columns)])
            counts[name] = counts.get(name, 0) + int(units)
            if not counts[name]:
                del counts[name]
    return counts
