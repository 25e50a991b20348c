"""EPCIS 2.0 capture: validate a document, keep every event as sent, and apply those that move custody.

A capture is a job. :func:`open_capture` checks what can be checked at once (JSON, document type, contexts, the
limits, the document's header against the schema) and records the job; :func:`run_capture` then works through
the events in transactions (one for the whole document under ``rollback``, one per :data:`PROCEED_CHUNK` events
under ``proceed``), runs of plain moves :data:`BATCH` at a time in one savepoint and every other event (and every
event of a batch that fails) alone in its own (see :class:`_Chunk`):

- validated against GS1's JSON schema (an invalid event is an error naming the event and the JSON path);
- identified by its CBV 2.0 hash, so the same event sent twice is kept once (``duplicates``);
- stored and applied by :class:`.apply.EventCapture` (see there what an event's custody meaning does).

With ``GS1-Capture-Error-Behaviour: rollback`` (the default) one error rejects the whole document; with
``proceed`` the other events are captured and each error is listed.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.custody import UnitRow, lock_unit_rows
from app.db.engine import WRITE_OPTIONS
from app.db.models import EpcisCapture, Unit
from app.domain import epcis_fields as fields
from app.domain import json_input
from app.domain.epcis_fields import ErrorBehaviour
from app.domain.errors import Conflict, DomainError, InvalidInput, PayloadTooLarge
from app.services.custody import Policy, write_alerts
from app.services.custody.record import RepeatInList
from app.services.epcis import cn, jobs
from app.services.epcis.apply import EventCapture, Planned, UnitKey
from app.services.epcis.capture_schema import schema_problem
from app.services.epcis.hash import event_hashes
from app.services.gc_pause import collector_paused
from app.services.orgs import Principal

log = logging.getLogger("passport")

PROCEED_CHUNK = 1000  # events per transaction when the sender asked to proceed past errors (a /v1/events list's limit)
BATCH = 1000  # events of the batch lane per record_events list (and savepoint): a /v1/events list's limit


@dataclass(frozen=True, slots=True)
class Opened:
    job: EpcisCapture
    document: dict[str, Any]
    events: list[dict[str, Any]]


def open_capture(
    session: Session, principal: Principal, raw: bytes, behaviour: str | None, *, limit: int, now: datetime
) -> Opened:
    """Check the document as a whole and record the job (running). Nothing of its events is stored yet."""
    fields.error_behaviour(behaviour)
    document = json_input.loads(raw)  # invalid_json saying what and where; nesting bounded
    return open_document(session, principal, document, behaviour, limit=limit, now=now)


def open_document(
    session: Session, principal: Principal, document: Any, behaviour: str | None, *, limit: int, now: datetime
) -> Opened:
    """:func:`open_capture` of a document already read (from JSON, or from XML by :mod:`.xml_in`)."""
    error_behaviour = fields.error_behaviour(behaviour)
    if not isinstance(document, dict) or document.get("type") not in fields.DOCUMENT_TYPES:
        raise InvalidInput(
            "the body must be an EPCIS 2.0 document: an object with type EPCISDocument or EPCISQueryDocument",
            code="invalid_epcis_document",
        )
    fields.check_context(document)
    events = fields.event_list(document)
    if len(events) > limit:
        raise PayloadTooLarge(
            f"the document carries {len(events)} events; at most {limit} per capture (GS1-EPCIS-Capture-Limit)",
            code="capture_limit_exceeded",
        )
    header_problem = schema_problem(fields.without_events(document))
    if header_problem is not None:
        raise InvalidInput(header_problem, code="schema_validation_failed")
    job = EpcisCapture(
        id=f"cap-{secrets.token_hex(12)}",
        org_id=principal.org_id,
        created_at=now,
        running=True,
        success=True,
        error_behaviour=error_behaviour,
        event_count=len(events),
        errors=[],
        warnings=[],
        worker=jobs.current_worker(),
        heartbeat_at=now,
    )
    session.add(job)
    return Opened(job, document, events)


# ------------------------------------------------------------------------------------------ running a job


def _lock_rows(session: Session, events: list[Any]) -> dict[UnitKey, Unit | UnitRow]:
    """Lock, before the first event of a transaction appends to the log, every unit and container its events
    name, in the global order of ``lock_everything``: a later event must not wait for a row while holding the
    log, or it could deadlock against an ordinary /v1/events request (PostgreSQL). The units are read as plain
    rows, as a /v1/events list reads its own."""
    unit_keys, ssccs = fields.lock_keys(events)
    cn_units, cn_packages = cn.lock_keys(session, events)
    return dict(lock_unit_rows(session, unit_keys + cn_units, ssccs + cn_packages))


_RUNNING = threading.BoundedSemaphore(2)  # capture jobs at once in one process; the others wait their turn


@dataclass
class _Outcome:
    rollback: bool = True
    captured: int = 0  # in committed transactions
    duplicates: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    warnings: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # the refusals and their problems in ``errors``: their alerts outlive a rolled-back document
    refused: list[tuple[DomainError, dict[str, Any]]] = dataclasses.field(default_factory=list)


def run_capture(
    sessions: Callable[[], AbstractContextManager[Session]],
    principal: Principal,
    job_id: str,
    document: dict[str, Any],
    events: list[dict[str, Any]],
    policy_for: Callable[[], Policy],
    *,
    schema_checked: bool = False,
) -> None:
    """Capture the events of an opened job, then record the outcome on the job.

    ``rollback``: one transaction for the whole document. ``proceed``: a transaction every
    :data:`PROCEED_CHUNK` events, so a long document does not hold SQLite's write lock from start to end and
    the job shows its progress. Runs after the 202 has gone out; whatever happens, the job ends."""
    outcome = _Outcome()
    with _RUNNING, sessions() as session:
        try:
            _capture_events(session, principal, job_id, document, events, policy_for, outcome, schema_checked)
        except _RolledBack:
            pass
        except Exception:
            log.exception("capture job %s failed", job_id)
            if outcome.rollback:
                outcome.refused = []
            kept = "nothing of this document was captured"
            if not outcome.rollback:
                kept = f"{outcome.captured} events were captured"
            outcome.errors.append(
                {
                    "type": "/problems/internal_error",
                    "title": "Internal error",
                    "detail": f"the capture failed inside Passport; {kept}",
                    "code": "internal_error",
                }
            )
        with session.begin():
            # a writer from the start: a deferred transaction that reads the job and then writes fails at once on
            # SQLite ("database is locked") when another writer committed meanwhile, and the job would never end
            session.connection(execution_options=WRITE_OPTIONS)
            now = policy_for().now
            if outcome.rollback:  # rolled back with the document; in proceed mode written with the events
                for error, problem in outcome.refused:
                    write_alerts(session, principal, error, now)
                    if "alert_id" in error.extra:
                        problem["alert_id"] = error.extra["alert_id"]
            job = session.get(EpcisCapture, job_id)
            assert job is not None
            job.running = False
            job.success = not outcome.errors
            job.errors = _in_order(outcome.errors, len(events))
            job.warnings = outcome.warnings
            job.captured = outcome.captured
            job.duplicates = outcome.duplicates
            job.finished_at = now


def _capture_events(
    session: Session,
    principal: Principal,
    job_id: str,
    document: dict[str, Any],
    events: list[dict[str, Any]],
    policy_for: Callable[[], Policy],
    out: _Outcome,
    schema_checked: bool = False,
) -> None:
    with session.begin():
        behaviour = session.scalar(select(EpcisCapture.error_behaviour).where(EpcisCapture.id == job_id))
    out.rollback = behaviour != ErrorBehaviour.PROCEED
    with collector_paused():  # CPU only: before any write lock is taken
        hashes = _prepare(document, events, out.errors, schema_checked)
    if out.errors and out.rollback:
        return
    context = fields.inline_context(document)
    step = max(len(events), 1) if out.rollback else PROCEED_CHUNK
    for start in range(0, len(events), step):
        chunk = range(start, min(start + step, len(events)))
        # A transaction makes tens of thousands of short-lived objects per thousand events (rows, codes, records,
        # ORM states), none of them cyclic garbage worth collecting before it ends; the collector, walking them
        # (and the document) again and again, made every step slower. Paused per transaction, not for the whole
        # job, so the cyclic garbage of other requests does not pile up for minutes while a proceed job runs.
        with collector_paused(), session.begin():
            session.connection(execution_options=WRITE_OPTIONS)
            job = session.get(EpcisCapture, job_id)
            assert job is not None
            policy = policy_for()
            locked = _lock_rows(session, [events[i] for i in chunk if hashes[i]])
            run = _Chunk(session, principal, job, policy, out, EventCapture(session, principal, policy, job, locked))
            run.capture([(i, events[i], h) for i in chunk if (h := hashes[i]) is not None], context)
            if not out.rollback:  # what the job says if it is interrupted later: what this chunk committed
                job.captured = out.captured + run.counts["captured"]
                job.duplicates = out.duplicates + run.counts["duplicates"]
                job.errors = _in_order(out.errors, len(events))
                job.warnings = (out.warnings + run.warnings)[: jobs.MAX_WARNINGS]
        out.captured += run.counts["captured"]
        out.duplicates += run.counts["duplicates"]
        out.warnings += run.warnings[: jobs.MAX_WARNINGS - len(out.warnings)]


class _Chunk:
    """The events of one transaction: consecutive events of the batch lane (:meth:`.EventCapture.plan`) are
    recorded together, up to :data:`BATCH` at a time, in one savepoint; any other event alone in its own, as is
    every event of a batch that fails (so an error names its event, ``proceed`` keeps the good ones and
    ``rollback`` rejects the document at its first error, exactly as one event at a time would)."""

    def __init__(
        self,
        session: Session,
        principal: Principal,
        job: EpcisCapture,
        policy: Policy,
        out: _Outcome,
        worker: EventCapture,
    ) -> None:
        self.session, self.principal, self.job, self.policy = session, principal, job, policy
        self.out, self.worker = out, worker
        self.counts = {"captured": 0, "duplicates": 0}
        self.warnings: list[dict[str, Any]] = []

    def capture(self, items: list[tuple[int, dict[str, Any], str]], context: list[Any] | None) -> None:
        self.worker.prefetch([(event, event_hash) for _, event, event_hash in items])
        pending: list[Planned] = []
        for index, event, event_hash in items:
            try:
                planned = self.worker.plan(index, event, event_hash)
            except DomainError:
                planned = None  # captured alone below, which reports it
            if planned is not None:
                pending.append(planned)
                if len(pending) >= BATCH:
                    self._batch(pending, context)
                    pending = []
                continue
            self._batch(pending, context)
            pending = []
            self._one(index, event, event_hash, context)
        self._batch(pending, context)

    def _batch(self, planned: list[Planned], context: list[Any] | None) -> None:
        if not planned:
            return
        savepoint = self.session.begin_nested()
        try:
            stored = self.worker.record_planned(planned, context)
        except (DomainError, SQLAlchemyError, RepeatInList):
            savepoint.rollback()
            # read again even after a refused list, although record_events read what it wrote itself: its failing
            # event's savepoint reads the rows of the events before it while their writes still stand, and the
            # list's rollback then finds nothing left to read (test_rollback_rejects_everything_and_proceed_...)
            self.worker.forget([key for p in planned for _, ident in p.ids if (key := ident.unit_key) is not None])
            for p in planned:  # one by one: the failing event's error, the others captured (proceed)
                self._one(p.index, p.event, p.event_hash, context)
            return
        savepoint.commit()
        self.counts["captured"] += len(stored)  # a custody change recorded before is a note, not a duplicate
        for s in stored:
            self._warn(s.index, s.event_id, s.custody, s.notes)

    def _one(self, index: int, event: dict[str, Any], event_hash: str, context: list[Any] | None) -> None:
        session, worker, out, counts = self.session, self.worker, self.out, self.counts
        savepoint = session.begin_nested()
        try:
            captured = worker.capture(event, event_hash, context)
        except (DomainError, SQLAlchemyError) as failure:
            savepoint.rollback()
            worker.forget(_event_unit_keys(session, event))  # as _lock_rows read them: GS1 and 20-digit codes
            if isinstance(failure, IntegrityError) and worker.is_duplicate(event, event_hash):
                counts["duplicates"] += 1  # the same event, captured meanwhile by another job
                return
            error = failure if isinstance(failure, DomainError) else _storage_error(failure, self.job.id)
            # an alert written for the refusal inside the savepoint (record_events writes them after its own
            # rollback) was rolled back with it: its id names nothing; the alerts are written again below
            error.extra.pop("alert_id", None)
            if out.rollback:  # the alerts are written when the job ends, the problem given their id then
                problem = fields.event_problem(error, index, event)
                out.errors.append(problem)
                out.refused.append((error, problem))
                raise _RolledBack from None
            write_alerts(session, self.principal, error, self.policy.now)
            out.errors.append(fields.event_problem(error, index, event))
            self.job.success = False
            return
        savepoint.commit()
        counts["captured" if captured else "duplicates"] += 1
        if captured:
            self._warn(index, worker.event_id, worker.custody, worker.notes)

    def _warn(self, index: int, event_id: Any, custody: Any, notes: list[str]) -> None:
        """A captured event's notes, if it has any, as the job's warning."""
        if notes:
            self.warnings.append({"index": index, "eventID": event_id, "custody": custody, "notes": notes})


def _event_unit_keys(session: Session, event: dict[str, Any]) -> list[UnitKey]:
    """The units an event names, as :func:`_lock_rows` locked them: by GS1 code and by 20-digit code."""
    return fields.lock_keys([event])[0] + cn.lock_keys(session, [event])[0]


def _in_order(errors: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The errors in the order of their events; a job's own errors (no index) last."""
    return sorted(errors, key=lambda e: int(e.get("index", count)))


def _storage_error(failure: SQLAlchemyError, job_id: str) -> DomainError:
    log.warning("capture job %s: an event could not be stored: %s", job_id, failure)
    return Conflict(
        "the event could not be stored (a concurrent change to the same rows); send it again",
        code="capture_conflict",
    )


class _RolledBack(Exception):
    pass


def _schema_error(document: dict[str, Any], event: Any) -> DomainError | None:
    if not (isinstance(event, dict) and isinstance(event.get("type"), str)):
        return InvalidInput("an event must be an object with a type", code="schema_validation_failed")
    # a bare event must carry @context: it has the document's
    problem = schema_problem({**event, "@context": document.get("@context", [])})
    return InvalidInput(problem, code="schema_validation_failed") if problem is not None else None


def _hash_one(document: dict[str, Any], event: dict[str, Any]) -> str:
    try:
        return event_hashes({"@context": document.get("@context"), "epcisBody": {"eventList": [event]}})[0]
    except DomainError:
        raise
    except Exception:  # the reference library's own failure on an odd but schema-valid event
        log.warning("CBV 2.0 hash of a schema-valid event failed", exc_info=True)
        raise InvalidInput(
            "the CBV 2.0 hash of this event cannot be computed: GS1's reference algorithm cannot read one of its "
            "fields (an extension's name or value, or a term of the document's @context); the event is valid "
            "against the schema but is not captured",
            code="invalid_event",
        ) from None


def _prepare(
    document: dict[str, Any], events: list[Any], errors: list[dict[str, Any]], schema_checked: bool = False
) -> list[str | None]:
    """Validate every event against the schema, then hash the valid ones (one library call for the document;
    event by event if that fails). An event that fails either gets None here and an error in ``errors``."""
    result: list[str | None] = []
    valid: list[int] = []
    for index, event in enumerate(events):
        # An XML document was validated against its own (XML) schema; the JSON schema would add a second
        # opinion that differs on details (persistentDisposition on an AggregationEvent).
        problem = None if schema_checked else _schema_error(document, event)
        if problem is not None:
            errors.append(fields.event_problem(problem, index, event))
        else:
            valid.append(index)
        result.append(None)
    try:
        shell = {"@context": document.get("@context"), "epcisBody": {"eventList": [events[i] for i in valid]}}
        for index, event_hash in zip(valid, event_hashes(shell), strict=True):
            result[index] = event_hash
    except Exception:  # find which event, one at a time
        for index in valid:
            try:
                result[index] = _hash_one(document, events[index])
            except DomainError as error:
                errors.append(fields.event_problem(error, index, events[index]))
    _refuse_reused_event_ids(events, result, errors)
    return result


def _refuse_reused_event_ids(events: list[Any], hashes: list[str | None], errors: list[dict[str, Any]]) -> None:
    """An eventID names one event: a later event of the document under the eventID of an earlier, different
    one (another CBV hash) is that event's error. The same event twice is a duplicate, not an error."""
    first: dict[tuple[str, str], tuple[int, str]] = {}
    for index, event_hash in enumerate(hashes):
        event = events[index]
        if event_hash is None or not isinstance(event.get("eventID"), str):
            continue
        key = (str(fields.record_kind(event)), event["eventID"])
        earlier = first.setdefault(key, (index, event_hash))
        if earlier[1] != event_hash:
            hashes[index] = None
            error = InvalidInput(
                f"eventID {event['eventID']} also names event {earlier[0]} of this document, a different event "
                f"(CBV hash {earlier[1]}, this one {event_hash}); an eventID names one event",
                code="event_id_taken",
            )
            errors.append(fields.event_problem(error, index, event))
