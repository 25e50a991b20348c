"""Audit replay: the custody of every unit and container, and the per-lot counters, derived again from the log.

The log proves which events happened; this module proves that the derived state follows from them. ``Replay``
walks leaf documents (app/domain/leaf.py) in log order, starting every unit from its issued state at its
manufacturer (the units and packages of an import of codes: issued at the manufacturer, nested as the import
recorded them, from the import's ``pack`` event on; ``add_import``), and keeps a replayed record per unit and
container the log names. For each item it checks that the logged ``before`` is the replayed effective custody (a
packed thing's custody is its outermost container's record), then applies the event as the recorder did
(app/services/custody/):

- ``pack``: the container is created (held by the packer) if new; the item leaves its old container, keeping the
  custody it had there, and goes into the new one. ``unpack``: what was directly inside takes the container's
  custody and is loose again.
- anything else (``undo`` included): the item leaves its container and takes the logged ``after``.

Counters are derived from the replayed states, independently of how the service keeps them
(app/db/lot_counters.py): custody by lot relative to issuance, units of each lot in each container's subtree,
units shipped per hop, standing sales per kind (distinct units), units ever returned, destroyed or recycled.
``differences`` then names every stored value that disagrees with the replayed one. docs/audit-replay.md says
what is and is not checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.domain.custody import SALE_ACTIONS, Status

NONE = ""  # "no one" in counter keys, as the counter tables store it
RECOVERY_ACTIONS = frozenset({"return", "destroy", "recycle"})

SaleKind = tuple[str, str, str]  # (action, channel, platform), '' for none
CounterKey = tuple[Any, ...]

# The counter tables, their key columns in order (as in app/db/models.py).
COUNTER_KEYS: dict[str, tuple[str, ...]] = {
    "lot_custody": ("batch_id", "state", "holder_id", "to_id"),
    "container_lot": ("sscc", "batch_id"),
    "lot_hop": ("batch_id", "from_id", "to_id"),
    "lot_sale": ("batch_id", "action", "channel", "platform_id"),
    "lot_recovery": ("batch_id", "action"),
}


@dataclass(frozen=True, slots=True)
class Record:
    """A custody record as leaves carry it: status, holder (resolved), addressee, status before a lock."""

    status: str
    holder: str | None
    to: str | None = None
    previous: str | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Record:
        return cls(data.get("status", ""), data.get("holder"), data.get("to"), data.get("previous"))

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.status, self.holder or NONE, self.to or NONE)

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "holder": self.holder, "to": self.to, "previous": self.previous}


@dataclass(frozen=True, slots=True)
class Origin:
    """What the unit table says a unit was issued as: its lot and its product's manufacturer."""

    batch_id: int
    manufacturer: str


def issued(manufacturer: str) -> Record:
    return Record(Status.ISSUED.value, manufacturer)


@dataclass(frozen=True, slots=True)
class Placement:
    """A unit's or container's own record and the container directly around it (None: loose)."""

    record: Record
    inside: str | None


@dataclass(slots=True)
class _Unit:
    batch_id: int
    manufacturer: str
    record: Record
    inside: str | None = None
    sales: dict[SaleKind, set[int]] | None = None  # standing sale events by kind (most units have none)


@dataclass(slots=True)
class _Container:
    record: Record
    inside: str | None = None
    units: set[str] = field(default_factory=set)
    children: set[str] = field(default_factory=set)
    lots: Counter[int] = field(default_factory=Counter)  # units of each lot in the whole subtree


@dataclass(frozen=True, slots=True)
class Difference:
    """A stored value that is not the replayed one (or a logged ``before`` that is not the replayed state)."""

    subject: str
    stored: object
    replayed: object
    stored_label: str = "stored"

    def text(self) -> str:
        return f"{self.subject}: {self.stored_label} {self.stored!r}, replayed {self.replayed!r}"


@dataclass(frozen=True, slots=True)
class Counters:
    """The counter tables as the replay derives them, keyed like the tables (zero counts left out)."""

    tables: dict[str, dict[CounterKey, int]]


def _nonzero(counts: Mapping[CounterKey, int]) -> dict[CounterKey, int]:
    return {key: n for key, n in counts.items() if n}


class Replay:
    """Replayed custody of everything the log names, fed one leaf document at a time, in log order."""

    def __init__(self) -> None:
        self._units: dict[str, _Unit] = {}
        self._containers: dict[str, _Container] = {}
        self._missing: set[str] = set()
        self._hops: Counter[CounterKey] = Counter()
        self._recovery: Counter[CounterKey] = Counter()
        self.breaks: list[Difference] = []
        self.events = 0

    # ------------------------------------------------------------------------------------------ feeding

    def unknown_units(self, documents: Iterable[Mapping[str, Any]]) -> set[str]:
        """Units the documents name whose origin the replay has not been given yet."""
        named = {item["unit"] for doc in documents for item in doc["items"] if item.get("unit")}
        return {name for name in named if name not in self._units and name not in self._missing}

    def add_unit(self, name: str, origin: Origin | None) -> None:
        """Start a unit at issuance; ``None``: the log names a unit the unit table does not have."""
        if origin is None:
            self._missing.add(name)
            self.breaks.append(Difference(f"unit {name}", "absent", "named by the log", stored_label="unit table"))
            return
        self._units.setdefault(name, _Unit(origin.batch_id, origin.manufacturer, issued(origin.manufacturer)))

    def add_import(
        self, manufacturer: str, containers: Mapping[str, str | None], units: Iterable[tuple[str, int, str]]
    ) -> None:
        """What an import of codes registered (its ``pack`` event names no item): each package a container issued
        at the manufacturer, inside its parent (``containers``: sscc -> parent or None), and each unit (name, lot,
        package) issued at the manufacturer inside its package."""
        record = issued(manufacturer)
        for sscc in containers:
            self._containers[sscc] = _Container(record)
        for sscc, parent in containers.items():
            if parent is not None and parent in self._containers:
                self._attach(sscc, self._containers[sscc], parent)
        for name, batch_id, sscc in units:
            self._missing.discard(name)
            unit = self._units[name] = _Unit(batch_id, manufacturer, record)
            if sscc in self._containers:
                self._attach(name, unit, sscc)

    def apply(self, index: int, doc: Mapping[str, Any]) -> None:
        self.events += 1
        where = f"leaf {index} (event {doc['event_id']}, {doc['action']})"
        for item in doc["items"]:
            self._apply_item(where, doc, item)

    # ------------------------------------------------------------------------------------------ reading

    def unit(self, name: str) -> Placement | None:
        """The replayed placement of a unit the log names (None: never touched, so still as issued)."""
        state = self._units.get(name)
        return Placement(state.record, state.inside) if state is not None else None

    def containers(self) -> dict[str, Placement]:
        return {sscc: Placement(c.record, c.inside) for sscc, c in self._containers.items()}

    @property
    def unit_count(self) -> int:
        return len(self._units)

    def counters(self) -> Counters:
        custody: Counter[CounterKey] = Counter()
        sales: Counter[CounterKey] = Counter()
        for state in self._units.values():
            custody[(state.batch_id, *self._effective(state).key)] += 1
            custody[(state.batch_id, *issued(state.manufacturer).key)] -= 1  # issuance counts are implicit
            for kind, standing in (state.sales or {}).items():
                if standing:
                    sales[(state.batch_id, *kind)] += 1
        contents = {(sscc, b): n for sscc, c in self._containers.items() for b, n in c.lots.items() if n}
        return Counters(
            {
                "lot_custody": _nonzero(custody),
                "container_lot": contents,
                "lot_hop": _nonzero(self._hops),
                "lot_sale": _nonzero(sales),
                "lot_recovery": _nonzero(self._recovery),
            }
        )

    # ------------------------------------------------------------------------------------------ the walk

    def _apply_item(self, where: str, doc: Mapping[str, Any], item: Mapping[str, Any]) -> None:
        subject = self._subject(where, item)
        if subject is None:
            return
        key, state = subject
        name = f"unit {key}" if isinstance(state, _Unit) else f"container {key}"
        logged = Record.of(item["before"])
        replayed = self._effective(state)
        if logged != replayed:
            self.breaks.append(
                Difference(f"{where} {name} before", logged.as_json(), replayed.as_json(), stored_label="logged")
            )
        action = doc["action"]
        if action == "pack":
            self._pack(where, key, state, logged, doc)
            return
        if action == "unpack":
            self._unpack(key, state, logged)
            return
        lots = self._lots(state)
        self._detach(key, state)
        state.record = Record.of(item["after"])
        if action == "ship":
            for batch_id, n in lots.items():
                self._hops[(batch_id, doc["org"], doc["to"] or NONE)] += n
        elif action in RECOVERY_ACTIONS:
            for batch_id, n in lots.items():
                self._recovery[(batch_id, action)] += n
        elif action in SALE_ACTIONS and isinstance(state, _Unit):
            kind = (action, doc["channel"] or NONE, doc["platform"] or NONE)
            state.sales = state.sales or {}
            state.sales.setdefault(kind, set()).add(doc["event_id"])
        elif action == "undo" and isinstance(state, _Unit):
            for standing in (state.sales or {}).values():
                standing.discard(doc["undoes"])

    def _subject(self, where: str, item: Mapping[str, Any]) -> tuple[str, _Unit | _Container] | None:
        if item.get("unit"):
            name = item["unit"]
            unit = self._units.get(name)
            if unit is None and name not in self._missing:
                self.breaks.append(Difference(f"{where} unit {name}", "named", "no origin given", "logged"))
            return (name, unit) if unit is not None else None
        sscc = item.get("container")
        container = self._containers.get(sscc) if sscc else None
        if container is None:
            self.breaks.append(Difference(f"{where} container {sscc}", "named", "never packed", stored_label="logged"))
            return None
        return sscc, container

    def _pack(self, where: str, key: str, state: _Unit | _Container, before: Record, doc: Mapping[str, Any]) -> None:
        target_sscc = doc["container"]
        if not target_sscc:
            self.breaks.append(Difference(f"{where} {key}", "pack without a container", "a container", "logged"))
            return
        target = self._containers.get(target_sscc)
        if target is None:
            target = self._containers[target_sscc] = _Container(Record(Status.HELD.value, doc["org"]))
        self._detach(key, state)
        state.record = before
        self._attach(key, state, target_sscc)

    def _unpack(self, key: str, state: _Unit | _Container, before: Record) -> None:
        if not isinstance(state, _Container):
            return  # the recorder refuses to unpack a unit; a log that does so changed nothing
        self._detach(key, state)
        state.record = before
        for name in sorted(state.units):
            unit = self._units[name]
            self._detach(name, unit)
            unit.record = before
        for sscc in sorted(state.children):
            child = self._containers[sscc]
            self._detach(sscc, child)
            child.record = before

    # ------------------------------------------------------------------------------------------ the tree

    def _chain(self, inside: str | None) -> list[_Container]:
        """The containers from ``inside`` outwards (a cycle, which the recorder refuses, stops the walk)."""
        chain: list[_Container] = []
        seen: set[str] = set()
        while inside is not None and inside not in seen:
            seen.add(inside)
            container = self._containers[inside]
            chain.append(container)
            inside = container.inside
        return chain

    def _effective(self, state: _Unit | _Container) -> Record:
        chain = self._chain(state.inside)
        return chain[-1].record if chain else state.record

    def _lots(self, state: _Unit | _Container) -> Counter[int]:
        return Counter({state.batch_id: 1}) if isinstance(state, _Unit) else Counter(state.lots)

    def _detach(self, key: str, state: _Unit | _Container) -> None:
        """Out of its container, keeping the custody it had there."""
        if state.inside is None:
            return
        parent = self._containers[state.inside]
        (parent.units if isinstance(state, _Unit) else parent.children).discard(key)
        lots = self._lots(state)
        chain = self._chain(state.inside)
        for container in chain:
            container.lots.subtract(lots)
        state.record = chain[-1].record
        state.inside = None

    def _attach(self, key: str, state: _Unit | _Container, sscc: str) -> None:
        target = self._containers[sscc]
        (target.units if isinstance(state, _Unit) else target.children).add(key)
        lots = self._lots(state)
        for container in self._chain(sscc):
            container.lots.update(lots)
        state.inside = sscc


# ---------------------------------------------------------------------------------------------- comparing


def placement_differences(subject: str, stored: Placement, replayed: Placement, inside: str) -> list[Difference]:
    """Field by field; ``inside`` names the containing column (``container`` for units, ``parent`` otherwise)."""
    pairs = (
        ("state", stored.record.status, replayed.record.status),
        ("holder", stored.record.holder, replayed.record.holder),
        ("to", stored.record.to, replayed.record.to),
        ("previous", stored.record.previous, replayed.record.previous),
        (inside, stored.inside, replayed.inside),
    )
    return [Difference(f"{subject} {column}", s, r) for column, s, r in pairs if s != r]


def describe_key(table: str, key: CounterKey) -> str:
    names = COUNTER_KEYS[table]
    return f"{table} " + " ".join(f"{n}={v if v != NONE else '-'}" for n, v in zip(names, key, strict=True))


def count_differences(
    table: str, stored: Mapping[CounterKey, int], replayed: Mapping[CounterKey, int]
) -> list[Difference]:
    """Every key whose count differs (a missing row counts as zero)."""
    keys = {k for k, n in stored.items() if n} | {k for k, n in replayed.items() if n}
    return [
        Difference(describe_key(table, key), stored.get(key, 0), replayed.get(key, 0))
        for key in sorted(keys, key=lambda k: tuple(str(v) for v in k))
        if stored.get(key, 0) != replayed.get(key, 0)
    ]
