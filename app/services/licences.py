"""Granting, renewing, revoking and listing licences (admins and regulators), and the ones about to lapse."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Licence, Organisation
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.domain.licences import LicenceTerm, check_renewal, check_term
from app.domain.orgs import LICENCE_KINDS, READS_EVERYTHING, Role
from app.services.clock import utcnow
from app.services.orgs import Principal, get_org

GRANTERS = (Role.ADMIN, Role.REGULATOR)


def term_of(row: Licence) -> LicenceTerm:
    return LicenceTerm(row.kind, row.valid_from, row.valid_until, row.revoked_at)


def view(row: Licence) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": row.id,
        "org_id": row.org_id,
        "kind": row.kind,
        "number": row.number,
        "valid_from": row.valid_from.isoformat(),
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "granted_at": row.granted_at.isoformat(),
        "standing": term_of(row).standing(now).value,
    }


def _get(session: Session, licence_id: int) -> Licence:
    row = session.get(Licence, licence_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no licence {licence_id}", code="licence_not_found")
    return row


def grant(
    session: Session,
    principal: Principal,
    org_id: str,
    *,
    kind: str,
    valid_from: date | None = None,
    valid_until: date | None = None,
    number: str | None = None,
) -> Licence:
    """A new grant; refused while a grant of the same kind stands (or will stand) over part of the same days:
    renew that one instead."""
    principal.require_role(*GRANTERS)
    get_org(session, org_id)
    if kind not in LICENCE_KINDS:
        raise InvalidInput(f"unknown licence kind {kind!r}; known: {', '.join(LICENCE_KINDS)}", code="invalid_licence")
    now = utcnow()
    start = valid_from or now.date()
    check_term(start, valid_until)
    rows = session.scalars(
        select(Licence).where(Licence.org_id == org_id, Licence.kind == kind, Licence.revoked_at.is_(None))
    ).all()
    for row in rows:
        overlaps = (row.valid_until is None or row.valid_until >= start) and (
            valid_until is None or valid_until >= row.valid_from
        )
        if overlaps:
            raise Conflict(
                f"licence {row.id} ({kind}) already covers part of these days; renew it instead",
                code="licence_exists",
                licence_id=row.id,
            )
    row = Licence(org_id=org_id, kind=kind, number=number, granted_at=now, valid_from=start, valid_until=valid_until)
    session.add(row)
    session.flush()
    return row


def renew(session: Session, principal: Principal, licence_id: int, *, valid_until: date | None) -> Licence:
    """Move the end of a licence (None: no end). A revoked licence is refused (``licence_revoked``)."""
    principal.require_role(*GRANTERS)
    row = _get(session, licence_id)
    check_renewal(term_of(row), valid_until)
    row.valid_until = valid_until
    session.flush()
    return row


def revoke(session: Session, principal: Principal, licence_id: int) -> Licence:
    """Revoke from now on; revoking a revoked licence changes nothing."""
    principal.require_role(*GRANTERS)
    row = _get(session, licence_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by = principal.org_id
        session.flush()
    return row


def of_org(session: Session, principal: Principal, org_id: str) -> list[Licence]:
    """Every grant of an organisation: for itself, admins and regulators."""
    if principal.org_id != org_id and principal.role not in READS_EVERYTHING:
        raise Forbidden("only the organisation itself, admins and regulators see its licences", code="foreign_org")
    get_org(session, org_id)
    return list(session.scalars(select(Licence).where(Licence.org_id == org_id).order_by(Licence.id)))


def lapsing(
    session: Session, principal: Principal, *, within_days: int, today: date | None = None
) -> list[dict[str, Any]]:
    """Licences not revoked whose last day falls within the next ``within_days`` days (today included), soonest
    first, with their organisation (regulators and admins)."""
    if principal.role not in READS_EVERYTHING:
        raise Forbidden("only regulators and admins list lapsing licences", code="wrong_role")
    start = today or utcnow().date()
    rows = session.execute(
        select(Licence, Organisation.name, Organisation.role)
        .join(Organisation, Organisation.id == Licence.org_id)
        .where(
            Licence.revoked_at.is_(None),
            Licence.valid_until.is_not(None),
            Licence.valid_until >= start,
            Licence.valid_until <= start + timedelta(days=within_days),
        )
        .order_by(Licence.valid_until, Organisation.name, Licence.id)
    )
    return [
        {**view(lic), "org_name": name, "org_role": role, "days_left": (lic.valid_until - start).days}
        for lic, name, role in rows
        if lic.valid_until is not None
    ]
