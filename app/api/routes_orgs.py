"""The trading-partner directory: find the organisation behind a GLN, to address a shipment to it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import PrincipalDep, SessionDep
from app.api.problems import KEYED_PROBLEMS
from app.services import orgs

router = APIRouter(prefix="/v1", tags=["organisations"], responses=KEYED_PROBLEMS)


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
