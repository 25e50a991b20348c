"""The trading-partner directory (find the organisation behind a GLN, to address a shipment to it) and licences:
granted, renewed and revoked by admins and regulators, each valid over a term of days."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from app.api.deps import PrincipalDep, SessionDep
from app.api.ids import LicenceId
from app.api.problems import KEYED_PROBLEMS
from app.api.schemas import JsonOnly, LicenceIn, LicenceRenewal
from app.services import licences, orgs

router = APIRouter(prefix="/v1", tags=["organisations"], responses=KEYED_PROBLEMS)

OrgId = Annotated[str, Path(min_length=1, max_length=32)]


@router.get("/orgs")
def find_orgs(
    principal: PrincipalDep,
    session: SessionDep,
    gln: Annotated[str, Query(min_length=1, max_length=32, description="The partner's 13-digit GLN")],
) -> dict[str, list[dict[str, object]]]:
    """The organisation holding a GLN (``orgs`` is empty when none does): its id, name, role and GLN.

    Any organisation's key may ask: a shipment's ``to`` takes the id, or the GLN itself.
    """
    return {"orgs": orgs.partners_by_gln(session, gln.strip())}


@router.post("/orgs/{org_id}/licences", status_code=201, dependencies=[JsonOnly])
def grant_licence(org_id: OrgId, body: LicenceIn, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    """Grant a licence (admin or regulator) from ``valid_from`` (default today) through ``valid_until`` (default no
    end). Refused (``licence_exists``) while another grant of that kind covers any of those days: renew it."""
    row = licences.grant(
        session,
        principal,
        org_id,
        kind=body.kind,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        number=body.number,
    )
    return licences.view(row)


@router.get("/orgs/{org_id}/licences")
def list_licences(org_id: OrgId, principal: PrincipalDep, session: SessionDep) -> dict[str, list[dict[str, Any]]]:
    """Every grant of the organisation's licences, with its ``standing`` today (the organisation itself, admins
    and regulators)."""
    return {"licences": [licences.view(row) for row in licences.of_org(session, principal, org_id)]}


@router.post("/licences/{licence_id}/renew", dependencies=[JsonOnly])
def renew_licence(
    licence_id: LicenceId, body: LicenceRenewal, principal: PrincipalDep, session: SessionDep
) -> dict[str, Any]:
    """Move a licence's last day (admin or regulator); a revoked licence is refused (``licence_revoked``)."""
    return licences.view(licences.renew(session, principal, licence_id, valid_until=body.valid_until))


@router.post("/licences/{licence_id}/revoke")
def revoke_licence(licence_id: LicenceId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    """Revoke a licence from now on (admin or regulator); revoking it again changes nothing."""
    return licences.view(licences.revoke(session, principal, licence_id))


@router.get("/licences/lapsing")
def lapsing_licences(
    principal: PrincipalDep,
    session: SessionDep,
    days: Annotated[int, Query(ge=0, le=366, description="within how many days from today")] = 30,
) -> dict[str, list[dict[str, Any]]]:
    """Licences whose last day falls within ``days`` days, soonest first (regulators and admins)."""
    return {"licences": licences.lapsing(session, principal, within_days=days)}
