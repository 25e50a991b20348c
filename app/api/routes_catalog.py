"""Organisations, products and batches."""

from __future__ import annotations

from fastapi import APIRouter, Query

from app.api.deps import PrincipalDep, SessionDep
from app.api.ids import BatchId
from app.api.problems import KEYED_PROBLEMS
from app.api.schemas import (
    BatchIn,
    BatchList,
    BatchOut,
    JsonOnly,
    OrgCreated,
    OrgIn,
    OrgOut,
    ProductIn,
    ProductList,
    ProductOut,
)
from app.services import catalog, orgs

router = APIRouter(prefix="/v1", responses=KEYED_PROBLEMS, dependencies=[JsonOnly])


@router.post("/orgs", status_code=201, response_model=OrgCreated, tags=["organisations"])
def create_org(body: OrgIn, principal: PrincipalDep, session: SessionDep) -> dict[str, object]:
    principal.require_role("admin")
    org, api_key = orgs.create_org(
        session, name=body.name, role=body.role, gln=body.gln, licences=body.licences, region=body.region
    )
    return {**orgs.org_view(session, org), "api_key": api_key}


@router.get("/orgs/me", response_model=OrgOut, tags=["organisations"])
def who_am_i(principal: PrincipalDep, session: SessionDep) -> dict[str, object]:
    return orgs.org_view(session, orgs.get_org(session, principal.org_id))


@router.post("/products", status_code=201, response_model=ProductOut, tags=["products"])
def create_product(body: ProductIn, principal: PrincipalDep, session: SessionDep) -> dict[str, object]:
    product = catalog.create_product(
        session,
        principal,
        gtin=body.gtin,
        name=body.name,
        category=body.category,
        description=body.description,
        cn_drug_id=body.cn_drug_id,
    )
    return catalog.product_view(session, product)


@router.get("/products", response_model=ProductList, tags=["products"])
def list_products(principal: PrincipalDep, session: SessionDep) -> dict[str, object]:
    return {"products": [catalog.product_view(session, p) for p in catalog.list_products(session, principal)]}


@router.get("/products/{gtin}", response_model=ProductOut, tags=["products"])
def get_product(gtin: str, principal: PrincipalDep, session: SessionDep) -> dict[str, object]:
    return catalog.product_view(session, catalog.get_product(session, principal, gtin))


@router.post("/batches", status_code=201, response_model=BatchOut, tags=["batches"])
def create_batch(body: BatchIn, principal: PrincipalDep, session: SessionDep) -> dict[str, object]:
    batch = catalog.create_batch(
        session,
        principal,
        gtin=body.gtin,
        lot=body.lot,
        manufactured_on=body.manufactured_on,
        expires_on=body.expires_on,
    )
    return catalog.batch_view(batch)


@router.get("/batches", response_model=BatchList, tags=["batches"])
def list_batches(
    principal: PrincipalDep, session: SessionDep, gtin: str | None = Query(default=None, max_length=14)
) -> dict[str, object]:
    return {"batches": [catalog.batch_view(b) for b in catalog.list_batches(session, principal, gtin)]}


@router.get("/batches/{batch_id}", response_model=BatchOut, tags=["batches"])
def get_batch(batch_id: BatchId, principal: PrincipalDep, session: SessionDep) -> dict[str, object]:
    return catalog.batch_view(catalog.get_batch(session, principal, batch_id))
