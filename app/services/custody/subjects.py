"""The units and containers an event names, and their custody records as the rows store them.

A code is resolved against the rows locked for the request; a code never issued is refused, as a mis-scan when it
is one slip away from an issued serial, otherwise with an ``unknown_code`` alert for a product registered here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.custody import UnitRow, container_chain, load_containers, load_units
from app.db.lot_counters import NONE, CustodyKey
from app.db.models import Container, Product, Unit
from app.domain.code_import import CodeKind, parse_import_code
from app.domain.custody import Custody, Status
from app.domain.errors import AlertDraft, InvalidInput, NotFound
from app.domain.identifiers import ContainerCode, UnitCode
from app.domain.triage import near_codes
from app.services.cn_codes import read_code


@dataclass
class Subject:
    """A unit or a container an event names, with the text that named it. A unit is an ORM object or, as the
    request locked it, a plain ``UnitRow`` (the bulk lane decides on those; ``Recorder.unit_objects``)."""

    text: str
    unit: Unit | UnitRow | None = None
    container: Container | None = None

    @property
    def row(self) -> Unit | UnitRow | Container:
        row = self.unit if self.unit is not None else self.container
        assert row is not None
        return row

    @property
    def parent(self) -> str | None:
        if self.unit is not None:
            return self.unit.container_sscc
        assert self.container is not None
        return self.container.parent_sscc


def custody_of(row: Unit | UnitRow | Container, manufacturer: str | None) -> Custody:
    """A row's own record (a unit never moved is held by its manufacturer)."""
    return Custody(
        Status(row.state),
        holder=row.holder_id or manufacturer,
        to=row.to_id,
        previous=Status(row.previous) if row.previous else None,
    )


def store(row: Unit | Container, custody: Custody) -> None:
    row.state = custody.status.value
    row.holder_id = custody.holder
    row.to_id = custody.to
    row.previous = custody.previous.value if custody.previous else None


def counter_key(custody: Custody) -> CustodyKey:
    return (custody.status.value, custody.holder or NONE, custody.to or NONE)


def effective_custody(session: Session, subject: Subject, manufacturer: str | None) -> Custody:
    """The outermost container's record for anything packed; otherwise the subject's own."""
    if subject.parent is not None:
        root = container_chain(session, subject.parent)[-1]
        return custody_of(root, None)
    return custody_of(subject.row, manufacturer)


def resolve(
    session: Session,
    actor: str,
    locked: dict[tuple[str, str], Unit | UnitRow],
    codes: list[str],
    known: dict[str, UnitCode | ContainerCode] | None = None,
) -> list[Subject]:
    """The subjects of ``codes`` in order; ``locked``: units already loaded (and locked) for this request;
    ``known``: codes already read for this request (by the locking), not read again."""
    parsed: list[tuple[str, UnitCode | ContainerCode]] = []
    for text in codes:
        code = known.get(text) if known is not None else None
        if code is not None:
            parsed.append((text, code))
            continue
        try:
            parsed.append((text, read_code(session, text)))
        except InvalidInput as error:
            package = _package(text)
            if package is None or not load_containers(session, [package.sscc]):  # not an imported package either
                raise type(error)(f"code {text!r}: {error.detail}", code=error.code, **error.extra) from None
            parsed.append((text, package))
    keys = [c.key for _, c in parsed if isinstance(c, UnitCode)]
    units: dict[tuple[str, str], Unit | UnitRow] = {k: locked[k] for k in keys if k in locked}
    units.update(load_units(session, [k for k in keys if k not in units]))
    # A GTIN + serial that is no unit may be an imported package code (a container, as an SSCC is).
    packages = {
        text: p for text, c in parsed if isinstance(c, UnitCode) and c.key not in units if (p := _package(text))
    }
    containers = load_containers(
        session,
        [c.sscc for _, c in parsed if isinstance(c, ContainerCode)] + [p.sscc for p in packages.values()],
    )
    parsed = [
        (text, packages[text] if packages.get(text) and packages[text].sscc in containers else c) for text, c in parsed
    ]
    subjects: list[Subject] = []
    seen: set[object] = set()
    for text, code in parsed:
        key = code.key if isinstance(code, UnitCode) else code.sscc
        if key in seen:
            raise InvalidInput(f"code {text!r} is listed twice in one event", code="duplicate_code")
        seen.add(key)
        if isinstance(code, UnitCode):
            unit = units.get(code.key)
            if unit is None:
                raise _unknown(session, actor, text, code)
            subjects.append(Subject(text, unit=unit))
        else:
            container = containers.get(code.sscc)
            if container is None:
                raise NotFound(f"container {code.sscc} is unknown", code="unknown_container", unit=text)
            subjects.append(Subject(text, container=container))
    return subjects


def _package(text: str) -> ContainerCode | None:
    """The container an imported package code became (app/domain/code_import.py), if the text is such a code."""
    try:
        code = parse_import_code(text)
    except InvalidInput:
        return None
    return ContainerCode(code.container_key) if code.kind is not CodeKind.SSCC else None


def _unknown(session: Session, actor: str, text: str, code: UnitCode) -> NotFound:
    """An event naming a code never issued: a mis-scan one slip away from a real serial is said as such and
    raises no alert; otherwise, for a product registered here, it is an ``unknown_code`` alert."""
    near = near_codes(code.serial)
    hits = session.scalars(select(Unit.serial).where(Unit.gtin == code.gtin, Unit.serial.in_(near))).all()
    if hits:
        return NotFound(
            f"code {text!r} was never issued; it is one slip away from a serial that was "
            "(a mis-scan? scan the pack again)",
            code="unknown_code",
            unit=text,
            triage="misscan",
        )
    alerts: list[AlertDraft] = []
    if session.get(Product, code.gtin) is not None:
        details = {
            "reason": "an event named a code of a registered product that was never issued, and "
            "not one slip away from an issued serial",
            "code": text,
            "attempted_by": actor,
            "candidates_checked": len(near),
        }
        alerts.append(AlertDraft("unknown_code", details, gtin=code.gtin, serial=code.serial))
    return NotFound(f"code {text!r} was never issued", code="unknown_code", alerts=alerts, unit=text)
