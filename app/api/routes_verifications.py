"""Kept verifications between trading partners, for the product's manufacturer and regulators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import PrincipalDep, SessionDep
from app.api.ids import VerificationCursor
from app.api.problems import KEYED_PROBLEMS
from app.services.partner_verification import MAX_LISTED, list_verifications

router = APIRouter(prefix="/v1", tags=["verification"], responses=KEYED_PROBLEMS)


@router.get("/verifications")
def verifications(
    principal: PrincipalDep,
    session: SessionDep,
    gtin: Annotated[str | None, Query(pattern=r"^\d{14}$", description="Only requests about this GTIN")] = None,
    before: VerificationCursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 100,
) -> dict[str, Any]:
    """Every partner request and the signed answer it got, newest first (a manufacturer: about its products)."""
    return list_verifications(session, principal, gtin=gtin, before=before, limit=limit)
