"""Import of codes issued elsewhere (20-digit drug traceability codes, GS1 codes) with their package levels.

The lines are read one at a time and copied in chunks into a staging table (``app/db/code_staging.py``); the
checks that need the whole file (duplicates, unknown parents, cycles, which codes are units) are set-based
statements over it; then units, containers and container counters are written by INSERT ... SELECT. Nothing
is proportional to the file in memory. All of it happens in the caller's transaction: a refusal anywhere, at
line 5,000 or at the end, leaves nothing behind.

Units are registered like EPCIS commissioning registers external units: one issuance with no signing key.
Packages become containers, issued at the manufacturer with everything inside them, so a package code stands
for its contents in every event exactly as an SSCC does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import code_staging
from app.db.models import Batch, Event, Issuance, Organisation, Product
from app.domain.code_import import (
    MAX_LEVELS,
    CodeKind,
    check_csv_header,
    container_key,
    fast_csv_codes,
    fast_ndjson_codes,
    parse_csv_line,
    parse_ndjson_line,
)
from app.domain.custody import Action
from app.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from app.domain.leaf import LeafEvent
from app.services import log
from app.services.catalog import get_batch
from app.services.orgs import Principal

CHUNK = 10_000
PROGRESS_EVERY = 100_000
NDJSON = "ndjson"
CSV = "csv"


class ImportProgress:
    """How far each running import has got, by (organisation, batch), for ``GET .../codes/import``: lines read,
    then the phase (``reading``, ``checking``, ``writing``, ``done``, ``refused``). Kept in the serving process
    (the import runs in one request, in one process); the last state stays until the next import of the batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[tuple[str, int], dict[str, object]] = {}

    def update(self, org_id: str, batch_id: int, phase: str, lines: int, **extra: object) -> None:
        with self._lock:
            self._state[(org_id, batch_id)] = {"batch_id": batch_id, "phase": phase, "lines": lines, **extra}

    def get(self, org_id: str, batch_id: int) -> dict[str, object] | None:
        with self._lock:
            found = self._state.get((org_id, batch_id))
            return dict(found) if found is not None else None


PROGRESS = ImportProgress()


@dataclass(frozen=True, slots=True)
class ImportResult:
    imported: int
    units: int
    packages: int
    levels: int
    issuance_id: int | None

    def to_json(self) -> dict[str, object]:
        return {
            "imported": self.imported,
            "units": self.units,
            "packages": self.packages,
            "levels": self.levels,
            "issuance_id": self.issuance_id,
        }


Row = tuple[int, str, str, str | None, str | None, str | None, str | None]  # code_staging.COLUMNS
_CN = CodeKind.CN.value


def _rows(kind: str, lines: Iterable[str]) -> Iterator[Row]:
    """The staging rows of the lines: a line in the common form of a 20-digit code and its parent is read by the
    fast path (string slices, no per-line objects), any other by the full parser, with the same result."""
    numbered = enumerate(lines, start=1)
    if kind == CSV:
        first = next(numbered, None)
        if first is None:
            return
        check_csv_header(first[1])
    fast = fast_csv_codes if kind == CSV else fast_ndjson_codes
    parse = parse_csv_line if kind == CSV else parse_ndjson_line
    cn = CodeKind.CN
    for number, text in numbered:
        codes = fast(text)
        if codes is not None:
            code, parent = codes
            if parent is None:
                yield (number, code, _CN, None, code, None, None)
            else:
                yield (number, code, _CN, None, code, parent, container_key(parent, cn))
            continue
        item = parse(number, text)
        if item is None:
            continue
        found, above = item.code, item.parent
        yield (
            item.line,
            found.key,
            found.kind.value,
            found.gtin,
            found.serial,
            above.key if above else None,
            above.container_key if above else None,
        )


def import_codes(
    session: Session,
    principal: Principal,
    batch_id: int,
    kind: str,
    lines: Iterable[str],
    *,
    now: datetime,
    progress: ImportProgress = PROGRESS,
) -> ImportResult:
    """Register the codes of ``lines`` (NDJSON or CSV, without line ends) for the batch, all or nothing; how far
    it has got is told to ``progress``."""
    principal.require_role("manufacturer")
    batch = get_batch(session, principal, batch_id)
    product = session.get(Product, batch.gtin)
    assert product is not None
    if product.manufacturer_id != principal.org_id:
        raise Conflict(f"batch {batch_id} is not a batch of your products", code="foreign_batch")
    progress.update(principal.org_id, batch_id, "reading", 0)
    try:
        return _import(session, principal, batch, product, kind, lines, now, progress)
    except DomainError as error:
        progress.update(principal.org_id, batch_id, "refused", 0, code=error.code, detail=error.detail)
        raise


def _import(
    session: Session,
    principal: Principal,
    batch: Batch,
    product: Product,
    kind: str,
    lines: Iterable[str],
    now: datetime,
    progress: ImportProgress,
) -> ImportResult:
    batch_id = batch.id
    conn = session.connection()
    code_staging.create(conn)
    rows: list[Row] = []
    total = 0
    for row in _rows(kind, lines):
        rows.append(row)
        if len(rows) >= CHUNK:
            code_staging.write(conn, rows)
            total += len(rows)
            rows = []
            if total % PROGRESS_EVERY == 0:
                progress.update(principal.org_id, batch_id, "reading", total)
    code_staging.write(conn, rows)
    total += len(rows)
    if total == 0:
        raise InvalidInput("the import holds no codes", code="empty_import")
    progress.update(principal.org_id, batch_id, "checking", total)
    result = _register(session, batch.id, batch.gtin, product, total, now)
    code_staging.drop(conn)
    progress.update(principal.org_id, batch_id, "done", total, **result.to_json())
    return result


def _register(session: Session, batch_id: int, gtin: str, product: Product, total: int, now: datetime) -> ImportResult:
    conn = session.connection()
    code_staging.index(conn)
    duplicate = code_staging.first_duplicate(conn)
    if duplicate is not None:
        line, key, earlier = duplicate
        raise _refused(line, f"code {key} is listed twice (first on line {earlier})", "duplicate_code")
    unknown = code_staging.first_unknown_parent(conn)
    if unknown is not None:
        raise _refused(unknown[0], f"parent {unknown[1]} is not a code of this import", "unknown_parent")
    code_staging.mark_packages(conn)
    levels = code_staging.assign_levels(conn, MAX_LEVELS)
    unplaced = code_staging.first_unplaced(conn)
    if unplaced is not None:
        line, key, parent = unplaced
        raise _refused(
            line,
            f"code {key} never reaches a top-level code through its parents ({parent}, ...): "
            f"the package links form a cycle (or run deeper than {MAX_LEVELS} levels)",
            "import_cycle",
        )
    code_staging.key_packages(conn)
    cn_drug_id = product.cn_drug_id
    bad = code_staging.first_bad_unit(conn, gtin, cn_drug_id)
    if bad is not None:
        line, key, kind = bad
        detail = {
            "sscc": f"SSCC {key} holds no codes: an SSCC names a package, never a unit",
            "gs1": f"code {key} holds no codes, so it is a unit, but its GTIN is not the batch's ({gtin})",
            "cn": f"code {key} holds no codes, so it is a unit, but its first 7 digits are not the product's "
            + (f"cn_drug_id {cn_drug_id}" if cn_drug_id else "cn_drug_id (the product has none registered)"),
        }[kind]
        raise _refused(line, detail, "not_a_unit_of_batch")
    taken = code_staging.first_taken(conn, gtin)
    if taken is not None:
        raise Conflict(f"line {taken[0]}: code {taken[1]} is already registered", code="code_taken", line=taken[0])
    units, packages = code_staging.counts(conn)
    issuance = Issuance(batch_id=batch_id, key_tag=None, count=units, created_at=now)
    session.add(issuance)
    session.flush()
    try:
        code_staging.insert_containers(conn, levels, product.manufacturer_id, now)
        code_staging.insert_units(conn, gtin, batch_id, issuance.id)
    except IntegrityError:  # an import of the same codes committed meanwhile (PostgreSQL waits for it, then fails)
        raise Conflict("codes of this import were registered meanwhile by another request", code="code_taken") from None
    code_staging.insert_container_lots(conn, levels, batch_id)
    result = ImportResult(total, units, packages, levels, issuance.id)
    if packages:
        event = _packed(session, product.manufacturer_id, now, batch_id, result)
        issuance.event_id = event.id  # the start of its units' intervals in their packages
        code_staging.insert_containment(conn, event.id)
    return result


def _packed(session: Session, org_id: str, now: datetime, batch_id: int, result: ImportResult) -> Event:
    """The packing the issuer did, recorded once for the whole import (a ``pack`` event naming no item, in the
    log like every event): the moment from which each code is inside its package."""
    org = session.get(Organisation, org_id)
    event = Event(
        org_id=org_id,
        action=Action.PACK.value,
        occurred_at=now,
        recorded_at=now,
        region=org.region if org is not None else None,
        payload={"action": Action.PACK.value, "import": {"batch_id": batch_id, **result.to_json()}},
    )
    session.add(event)
    session.flush()
    leaf = LeafEvent(
        event_id=event.id,
        org=org_id,
        action=event.action,
        occurred_at=now,
        recorded_at=now,
        region=event.region,
        to=None,
        container=None,
        channel=None,
        platform=None,
        order_ref=None,
        prescription=None,
        undoes=None,
        items=[],
    )
    log.append(session, leaf, event)
    return event


def _refused(line: int, detail: str, code: str) -> InvalidInput:
    return InvalidInput(f"line {line}: {detail}", code=code, line=line)


def import_progress(session: Session, principal: Principal, batch_id: int) -> dict[str, object]:
    """How far the organisation's latest import of codes into the batch has got (in this process)."""
    get_batch(session, principal, batch_id)
    found = PROGRESS.get(principal.org_id, batch_id)
    if found is None:
        raise NotFound(f"no import of codes into batch {batch_id} by your organisation here", code="no_import")
    return found
