"""Recording custody events: resolve the codes, decide through the custody table and the sale rules, persist.

A list is all-or-nothing (one savepoint) unless ``atomic`` is false; then events are applied in the order they
happened, each in its own savepoint, with a result apiece. A refusal that the rules alert on carries its alerts
(``DomainError.alerts``), written after the rollback, so they stand although the event itself does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.alerts import raise_alert
from app.db.cases import units_under_investigation
from app.db.custody import UnitRow, last_sale, latest_item, lock_unit_rows, lock_unit_with_product
from app.db.engine import WRITE_OPTIONS
from app.db.log import PENDING, SEQUENCER_TRIED, log_index_of
from app.db.lot_counters import NONE, RECOVERY_ACTIONS
from app.db.models import Event, Organisation, Prescription, Unit
from app.domain.alerts import SEVERITY, AlertType
from app.domain.code_reader import CodeReader
from app.domain.custody import SALE_ACTIONS, Action, Custody, Refused, Status, apply
from app.domain.errors import AlertDraft, DomainError, InvalidInput
from app.domain.event_rules import (
    EventIn,
    Policy,
    ResultStatus,
    alert_kind,
    check_fields,
    check_occurred_at,
    check_takes,
    parse_action,
)
from app.domain.identifiers import UnitCode
from app.domain.licences import valid_kinds
from app.domain.sale_rules import Sale, check_sale
from app.services.cn_codes import read_code
from app.services.custody import containers
from app.services.custody.licences import check_trade
from app.services.custody.recorder import Occurrence, Recorded, Recorder
from app.services.custody.returns import check_return, shipped_before
from app.services.custody.settlement import settle
from app.services.custody.subjects import Subject, counter_key, resolve, store
from app.services.custody.undo import undo
from app.services.gc_pause import collector_paused
from app.services.orgs import Principal


@dataclass(slots=True)
class Result:
    status: ResultStatus
    event_id: int | None = None
    problem: DomainError | None = None
    log_index: int | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "event_id": self.event_id, "log_index": self.log_index}
        if self.problem is not None:
            body["problem"] = {"code": self.problem.code, "detail": self.problem.detail, **self.problem.extra}
        return body


@dataclass(slots=True)
class Outcome:
    results: list[Result]
    error: DomainError | None = None  # an atomic list refused as a whole


class _Duplicate(Exception):
    def __init__(self, event_id: int, log_index: int | None) -> None:
        self.event_id = event_id
        self.log_index = log_index


class RepeatInList(Exception):
    """Raised by ``record_events(..., savepoints=False)``: an event of the atomic list repeats one its organisation
    just recorded (a duplicate), which only a savepoint of its own could leave out; the list wrote nothing (its
    savepoint was rolled back). Record the events again with savepoints (or one at a time) to get their results."""


# What an action does beyond the custody record, for a subject whose ``before`` record is given; returns the
# record after. Packing and unpacking move things between containers; every other action is ``_move``.
Effect = Callable[[Recorder, Occurrence, Subject, Custody], Custody]


def _record(rec: Recorder, ev: EventIn) -> Result:
    action = parse_action(ev.action)
    if ev.idempotency_key:
        prior = rec.session.scalar(
            select(Event.id).where(Event.org_id == rec.actor, Event.idempotency_key == ev.idempotency_key)
        )
        if prior is not None:
            return Result(ResultStatus.DUPLICATE, prior, log_index=log_index_of(rec.session, prior))
    occurred_at = ev.occurred_at or rec.policy.now
    check_occurred_at(occurred_at, rec.policy.now)
    rec.start()
    if action is Action.UNDO:
        return _accepted(rec, undo(rec, ev, occurred_at))
    if not ev.codes:
        raise InvalidInput(
            '\'codes\' is missing or empty: an event needs at least one code, e.g. "codes": ["(01)...(21)..."]',
            code="codes_required",
        )
    check_fields(action, ev, lambda org_id: rec.org(org_id) is not None)
    subjects = resolve(rec.session, rec.actor, rec.locked_units, ev.codes, rec.codes)
    rec.unit_objects(subjects, orm=False)  # an ORM object the session holds stands for its row
    occ = Occurrence(rec.event_row(action, ev, occurred_at), action, ev, occurred_at)
    rec.bulk = _bulk_lane(action, ev, subjects)
    if not rec.bulk:
        rec.unit_objects(subjects, orm=True)
    loose = [s.unit for s in subjects if s.unit is not None]
    if action is Action.RECEIVE:
        rec.returning = shipped_before(rec, loose, occ.event.id)
    elif action in SALE_ACTIONS:
        rec.investigated = units_under_investigation(rec.session.connection(), [(u.id, u.batch_id) for u in loose])
    try:
        if rec.bulk:
            _decide_list(rec, occ, subjects)
        else:
            for subject in subjects:
                _apply(rec, occ, subject)
    except Refused:
        _maybe_duplicate(rec, action, subjects, occurred_at)
        raise
    return _accepted(rec, occ.event)


def _decide_list(rec: Recorder, occ: Occurrence, subjects: list[Subject]) -> None:
    """The bulk lane's decision: units alike in everything the custody table and the rules read of them (product,
    lot, record) get one decision, that of the first of them in list order, staged for them all; a unit some rule
    reads by itself (coming back to its shipper, named by a case, of a product with recalls when sold) is decided
    alone. Units are decided in the order each kind first appears, so the first refusal names the first offending
    unit of the list, as deciding them one by one would; the event's items are staged in list order."""
    numbers: dict[tuple[Any, ...], int] = {}
    kind_of = [numbers.setdefault(key, len(numbers)) for key in _kinds(rec, occ, subjects)]  # numbered 0, 1, ...
    kinds: list[list[Subject]] = [[] for _ in numbers]
    for kind, subject in zip(kind_of, subjects, strict=True):
        kinds[kind].append(subject)
    decided: list[tuple[Custody, Custody]] = []
    for alike in kinds:
        rec.alike = [s.unit for s in alike if s.unit is not None]
        try:
            decided.append(_apply(rec, occ, alike[0]))
        except Refused:
            first = subjects.index(alike[0])  # every unit before it is of a kind accepted
            rec.stage_items([s.unit for s in subjects[:first]], kind_of, decided)
            rec.write_staged_items(occ.event)  # as the ORM's autoflush writes them on the other lane
            raise
        finally:
            rec.alike = []
    rec.stage_items([s.unit for s in subjects], kind_of, decided)


def _kinds(rec: Recorder, occ: Occurrence, subjects: list[Subject]) -> list[tuple[Any, ...]]:
    """For each loose unit on the bulk lane, what the custody table and the rules read of it; its id when a rule
    reads the unit by itself."""
    alone = rec.returning | rec.investigated
    sale = occ.action in SALE_ACTIONS
    kinds: list[tuple[Any, ...]] = []
    for subject in subjects:
        u = subject.unit
        assert u is not None
        if (alone and u.id in alone) or (sale and rec.has_recalls(u.gtin)):
            kinds.append(("unit", u.id))
        else:
            kinds.append((u.gtin, u.batch_id, u.state, u.holder_id, u.to_id, u.previous, u.container_sscc))
    return kinds


def _bulk_lane(action: Action, ev: EventIn, subjects: list[Subject]) -> bool:
    """An event naming loose units only (none in a container), with no settlement, is recorded by the bulk lane:
    the same rules decide, unit by unit in list order (a decision repeated for units of the same record and
    lot), but nothing is written per unit: the rows change set-based when the event is logged
    (``Recorder.write_staged``). Unpacking names containers; undo has its own path."""
    if action in (Action.UNPACK, Action.UNDO) or ev.settlement is not None:
        return False
    return all(s.unit is not None and s.unit.container_sscc is None for s in subjects)


def _accepted(rec: Recorder, event: Recorded) -> Result:
    return Result(ResultStatus.ACCEPTED, event.id, log_index=rec.logged(event))


def _apply(rec: Recorder, occ: Occurrence, subject: Subject) -> tuple[Custody, Custody]:
    """Decide one subject and write (or, on the bulk lane, stage) its record; its record before and after."""
    check_takes(occ.action, subject.text, is_unit=subject.unit is not None)
    before = rec.custody(subject)
    effect = _EFFECTS.get(occ.action, _move)
    try:
        after = effect(rec, occ, subject, before)
    except Refused as refusal:
        refusal.extra.setdefault("unit", subject.text)
        refusal.detail = f"{subject.text}: {refusal.detail}"
        refusal.alerts.extend(_alerts_for(rec, refusal, occ.action, subject))
        raise
    if rec.bulk:  # its item is staged in list order (``_decide_list``)
        return before, after
    sscc = subject.container.sscc if subject.container is not None else None
    rec.add_item(occ.event, subject.unit, sscc, before.to_json(), after.to_json())
    return before, after


def _move(rec: Recorder, occ: Occurrence, subject: Subject, before: Custody) -> Custody:
    """The record moves as the custody table says; a sale passes the sale rules too."""
    if occ.ev.settlement is not None and subject.unit is not None:  # before the sale: a resale is a resettlement
        settle(rec, occ, subject.unit.id, occ.ev.settlement, split_open=before.status is Status.OPEN)
    after = apply(before, occ.action, rec.actor, occ.ev.to)
    if occ.action is Action.RECEIVE and subject.unit is not None:
        check_return(rec, occ, subject.unit)
    check_trade(rec, occ, subject, before, after)
    if occ.action in SALE_ACTIONS:
        _check_sale(rec, occ, subject)
    containers.detach(rec, subject, occ.event.id)
    if rec.bulk:
        assert subject.unit is not None
        rec.stage_custody(subject.unit, after)
    else:
        store(subject.row, after)
    lots = containers.lots(rec, subject)
    rec.tally.move(lots, counter_key(before), counter_key(after))
    if occ.action is Action.SHIP:
        rec.tally.ship(lots, rec.actor, occ.event.to_id or NONE)
    elif occ.action.value in RECOVERY_ACTIONS:
        rec.tally.recover(lots, occ.action.value)
    elif occ.action in SALE_ACTIONS and subject.unit is not None:
        rec.sales.extend((unit, occ.event, 1) for unit in rec.units_alike(subject.unit))
    return after


_EFFECTS: dict[Action, Effect] = {Action.PACK: containers.pack, Action.UNPACK: containers.unpack}


def _check_sale(rec: Recorder, occ: Occurrence, subject: Subject) -> None:
    unit = subject.unit
    assert unit is not None
    ev = occ.ev
    platform = rec.org(ev.platform) if ev.platform else None
    batch = rec.batch(unit.batch_id)
    if rec.recalls_of(unit.gtin, batch.lot, unit.serial):
        raise Refused("this unit is recalled and may not be sold or dispensed", code="recalled")
    if unit.id in rec.investigated:
        raise Refused(
            "this unit is in an open suspect-product case and may not be sold or dispensed until it is cleared",
            code="under_investigation",
        )
    # Without a prescription the sale rules read nothing of the unit but its product and lot.
    passed = ("sale", unit.gtin, unit.batch_id) if ev.prescription is None else None
    if passed is not None and passed in rec.passed:
        return
    recorded = rec.session.get(Prescription, ev.prescription.id) if ev.prescription is not None else None
    used = recorded is not None and recorded.event_id != occ.event.id
    check_sale(
        Sale(
            action=occ.action,
            category=rec.product(unit.gtin).category,
            expires_on=batch.expires_on,
            occurred_at=occ.at,
            seller_licences=valid_kinds(rec.licence_terms(rec.actor), occ.at),
            channel=ev.channel or "offline",
            platform_role=platform.role if platform else None,
            platform_named=bool(ev.platform),
            prescription=ev.prescription,
            prescription_used_elsewhere=used,
        )
    )
    if ev.prescription is not None and recorded is None:
        rec.session.add(
            Prescription(
                id=ev.prescription.id,
                prescriber=ev.prescription.prescriber,
                issued_at=ev.prescription.issued_at,
                event_id=occ.event.id,
            )
        )
        rec.session.flush()
    if passed is not None:
        rec.passed.add(passed)


def _maybe_duplicate(rec: Recorder, action: Action, subjects: list[Subject], occurred_at: datetime) -> None:
    """A refusal caused by the same organisation repeating itself within seconds is a duplicate.

    "Within seconds" is measured between the two events' own times, so a till replaying a day of
    offline sales is judged by when each sale happened, not by when it arrived."""
    earlier: set[tuple[int, int | None]] = set()
    for subject in subjects:
        found = latest_item(
            rec.session,
            unit_id=subject.unit.id if subject.unit is not None else None,
            sscc=subject.container.sscc if subject.container is not None else None,
        )
        if found is None:
            return
        _, event = found
        recent = abs(occurred_at - event.occurred_at) <= rec.policy.duplicate_window
        if event.org_id != rec.actor or event.action != action.value or not recent:
            return
        earlier.add((event.id, log_index_of(rec.session, event.id)))
    if len(earlier) == 1:
        raise _Duplicate(*earlier.pop())


def _alerts_for(rec: Recorder, refusal: Refused, action: Action, subject: Subject) -> list[AlertDraft]:
    kind = alert_kind(refusal.code, action)
    if kind is None:
        return []
    details: dict[str, Any] = {
        "reason": refusal.detail,
        "refusal": refusal.code,
        "action": action.value,
        "attempted_by": rec.actor,
        "code": subject.text,
    }
    unit = subject.unit
    if kind == "repeat_settlement":
        details["first_settlement"] = refusal.extra.get("first_settlement")
    if kind == "repeat_sale" and unit is not None:
        first = last_sale(rec.session, unit.id)
        if first is not None:
            details["first_sale"] = {
                "at": first.occurred_at.isoformat(),
                "channel": first.channel,
                "region": first.region,
                "event_id": first.id,
            }
    if unit is None:
        return [AlertDraft(kind, details)]
    return [AlertDraft(kind, details, unit_id=unit.id, gtin=unit.gtin, serial=unit.serial)]


def write_alerts(session: Session, principal: Principal, error: DomainError, now: datetime) -> None:
    """Raise the alerts a refusal carries (after its savepoint was rolled back); the first one's id goes into
    the problem as ``alert_id``."""
    if not error.alerts:
        return
    region = session.scalar(select(Organisation.region).where(Organisation.id == principal.org_id))
    for alert in error.alerts:
        alert_id = raise_alert(  # a repeat of an open alert of the same code and kind counts on that alert
            session,
            type_=alert.type,
            severity=SEVERITY[AlertType(alert.type)],
            at=now,
            details=dict(alert.details),
            unit_id=alert.unit_id,
            gtin=alert.gtin,
            serial=alert.serial,
            org_id=principal.org_id,
            region=alert.details.get("region") or region,
        )
        error.extra.setdefault("alert_id", alert_id)


def _record_one(session: Session, rec: Recorder, ev: EventIn) -> Result:
    savepoint = session.begin_nested()
    try:
        result = _record(rec, ev)
    except _Duplicate as duplicate:
        savepoint.rollback()
        rec.forget_written()
        return Result(ResultStatus.DUPLICATE, duplicate.event_id, log_index=duplicate.log_index)
    except BaseException:
        savepoint.rollback()
        rec.forget_written()
        raise
    savepoint.commit()
    return result


def _record_alone(session: Session, rec: Recorder, ev: EventIn, *, savepoint: bool) -> Outcome:
    """One event, all or nothing (a till's, a scanner's request): ``_record_one`` inside an atomic list's savepoint,
    with one savepoint serving as both (a duplicate or a refusal rolls back the same writes either way). Without
    ``savepoint`` (the transaction holds nothing of the caller's, ``record_events``' ``alone``) no savepoint at all:
    a duplicate or a refusal rolls back the transaction, the next one taking SQLite's write lock again at its
    start, as the request's did (deps.request_session), and the refusal's alerts are written there."""
    nested = session.begin_nested() if savepoint else None
    rec.last_writes = not savepoint  # the request's transaction commits right after this event (POST /v1/events)

    def undo() -> None:
        if nested is not None:
            nested.rollback()
            rec.forget_written()
        else:
            session.rollback()
            rec.forget_events()
            session.info.pop(PENDING, None)
            session.info.pop(SEQUENCER_TRIED, None)
            session.connection(execution_options=WRITE_OPTIONS)

    try:
        result = _record(rec, ev)
    except _Duplicate as duplicate:
        undo()
        return Outcome([Result(ResultStatus.DUPLICATE, duplicate.event_id, log_index=duplicate.log_index)])
    except DomainError as error:
        undo()
        write_alerts(session, rec.principal, error, rec.policy.now)
        return Outcome(results=[], error=error)
    except BaseException:
        if nested is not None:  # the transaction itself is the caller's to end
            undo()
        raise
    if nested is not None:
        nested.commit()
    return Outcome([result])


def _lock_rows(session: Session, events: list[EventIn], rec: Recorder) -> dict[tuple[str, str], Unit | UnitRow]:
    """Lock the rows the events may change; ``rec.codes`` is given every code read (so it is not read again)."""
    known = rec.codes
    unit_keys: list[tuple[str, str]] = []
    ssccs: list[str] = []
    reader = CodeReader()
    for ev in events:
        for text in [*ev.codes, *([ev.container] if ev.container else [])]:
            try:
                code = read_code(session, text, reader)
            except DomainError:
                continue  # reported when the event is recorded
            known[text] = code
            if isinstance(code, UnitCode):
                unit_keys.append(code.key)
            else:
                ssccs.append(code.sscc)
    if len(unit_keys) == 1 and not ssccs:  # one unit (a till, a scanner): its product read with its row
        units, product = lock_unit_with_product(session, unit_keys[0])
        if product is not None:
            rec.know_product(product)
        return dict(units)
    return dict(lock_unit_rows(session, unit_keys, ssccs))


def record_events(
    session: Session,
    principal: Principal,
    events: list[EventIn],
    *,
    atomic: bool,
    policy: Policy,
    locked: dict[tuple[str, str], Unit | UnitRow] | None = None,
    alone: bool = False,
    savepoints: bool = True,
) -> Outcome:
    """``locked``: the units a caller already locked for these events, ORM objects (``lock_everything``) or plain
    rows (``lock_unit_rows``: EPCIS capture locks a whole document's rows at once); otherwise they are locked here,
    and the recorder puts the ORM objects it takes for a unit in their place. ``alone``: the caller's transaction
    has only read so far (``POST /v1/events``), so an atomic request needs no savepoint: refused, the whole
    transaction is rolled back and its alerts are written in the next one (``_record_alone``). ``savepoints``
    false (an atomic list of several events): no savepoint per event, only the list's (a SAVEPOINT and a RELEASE
    per event were a fifth of a list's CPU); a refusal rolls the list back as before, a duplicate raises
    :class:`RepeatInList` (EPCIS capture's batch lane, which then records its events one at a time)."""
    with collector_paused(sum(len(ev.codes) for ev in events) >= _PAUSE_GC_FROM):
        return _record_events(
            session, principal, events, atomic=atomic, policy=policy, locked=locked, alone=alone, savepoints=savepoints
        )


# A list of thousands of codes makes tens of thousands of short-lived objects (rows, codes, records), none of them
# cyclic garbage worth collecting before the request ends, and Python's collector ran 8-20 % of a 10,000-unit
# request walking them. It pauses for such a request (app/services/gc_pause.py: process-wide, counted).
_PAUSE_GC_FROM = 1_000


def _record_events(
    session: Session,
    principal: Principal,
    events: list[EventIn],
    *,
    atomic: bool,
    policy: Policy,
    locked: dict[tuple[str, str], Unit | UnitRow] | None,
    alone: bool = False,
    savepoints: bool = True,
) -> Outcome:
    rec = Recorder(session, principal, policy)
    rec.locked_units = locked if locked is not None else _lock_rows(session, events, rec)
    # the organisations the events name and their licences, in one statement (not two lookups each, per event)
    rec.know_orgs([principal.org_id, *(o for ev in events for o in (ev.to, ev.platform) if o)])
    if atomic and len(events) == 1:
        return _record_alone(session, rec, events[0], savepoint=not alone)
    if atomic:
        results: list[Result] = []
        savepoint = session.begin_nested()
        try:
            for ev in events:
                results.append(_record_one(session, rec, ev) if savepoints else _record(rec, ev))
        except DomainError as error:
            savepoint.rollback()
            rec.forget_written()
            if len(events) > 1:
                error.extra.setdefault("index", len(results))
            write_alerts(session, principal, error, policy.now)
            return Outcome(results=[], error=error)
        except BaseException as failure:
            if not savepoints:  # what _record_one does for its event, for the list
                savepoint.rollback()
                rec.forget_written()
                if isinstance(failure, _Duplicate):
                    raise RepeatInList from None
            raise
        savepoint.commit()
        return Outcome(results)

    by_index: dict[int, Result] = {}
    for index in sorted(range(len(events)), key=lambda i: (events[i].occurred_at or policy.now, i)):
        try:
            by_index[index] = _record_one(session, rec, events[index])
        except DomainError as error:
            write_alerts(session, principal, error, policy.now)
            by_index[index] = Result(ResultStatus.REJECTED, problem=error)
    return Outcome([by_index[i] for i in range(len(events))])
