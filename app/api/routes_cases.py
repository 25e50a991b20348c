"""Suspect-product cases: open, move, read, quarantine (see docs/cases.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep, custody_policy
from app.api.ids import CaseId
from app.api.problems import KEYED_PROBLEMS
from app.api.schemas import JsonOnly, Strict
from app.domain.cases import CaseStatus, CaseType
from app.services import cases
from app.services.clock import utcnow

router = APIRouter(prefix="/v1", responses=KEYED_PROBLEMS, dependencies=[JsonOnly])


class CaseBody(Strict):
    type: CaseType
    gtin: str = Field(min_length=1, max_length=14)
    lots: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(default_factory=list, max_length=1000)
    serials: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(default_factory=list, max_length=10_000)
    description: str | None = Field(default=None, max_length=2000)


class CasePatch(Strict):
    status: CaseStatus | None = None
    incident_number: str | None = Field(default=None, min_length=1, max_length=80)
    note: str | None = Field(default=None, min_length=1, max_length=2000)


@router.post("/cases", status_code=201, tags=["cases"])
def open_case(body: CaseBody, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    case = cases.open_case(
        session,
        principal,
        case_type=body.type,
        gtin=body.gtin,
        lots=body.lots,
        serials=body.serials,
        description=body.description,
        now=utcnow(),
    )
    return cases.case_summary(case)


@router.get("/cases", tags=["cases"])
def list_cases(
    principal: PrincipalDep,
    session: SessionDep,
    status: CaseStatus | None = None,
    after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=cases.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    return cases.list_cases(session, principal, status=status, after=after, limit=limit)


@router.get("/cases/{case_id}", tags=["cases"])
def get_case(case_id: CaseId, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return cases.case_view(session, cases.get_case(session, principal, case_id))


@router.patch("/cases/{case_id}", tags=["cases"])
def update_case(case_id: CaseId, body: CasePatch, principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    case = cases.update_case(
        session,
        principal,
        case_id,
        status=body.status,
        incident_number=body.incident_number,
        note=body.note,
        now=utcnow(),
    )
    return cases.case_summary(case)


@router.post("/cases/{case_id}/quarantine", tags=["cases"])
def quarantine(case_id: CaseId, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    return cases.quarantine(session, principal, case_id, policy=custody_policy(runtime.settings))
