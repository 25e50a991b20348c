"""Passports (docs/passports.md): versions of product, lot and unit passports, documents, lapsing certificates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.api.deps import MaybePrincipalDep, PrincipalDep, RuntimeDep, SessionDep
from app.api.ids import INT32_MAX, BatchId
from app.api.problems import KEYED_PROBLEMS
from app.domain.documents import EXTENSIONS
from app.services import documents, passport_versions
from app.services.clock import today, utcnow
from app.services.passport_versions import MAX_PAGE, Subject

router = APIRouter(prefix="/v1", responses=KEYED_PROBLEMS, tags=["passports"])

PassportBody = Annotated[Any, Body(description="A passport document (passport_schema/product-passport.schema.json)")]
VersionQuery = Annotated[int | None, Query(ge=1, le=INT32_MAX, description="A version number; newest if omitted")]
AfterQuery = Annotated[int, Query(ge=0, le=INT32_MAX, description="Versions after this number")]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.put("/products/{gtin}/passport", status_code=201)
def put_product_passport(gtin: str, principal: PrincipalDep, session: SessionDep, body: PassportBody) -> Any:
    subject = passport_versions.product_subject(session, gtin)
    return passport_versions.put_passport(session, principal, subject, body, now=utcnow())


@router.put("/batches/{batch_id}/passport", status_code=201)
def put_batch_passport(batch_id: BatchId, principal: PrincipalDep, session: SessionDep, body: PassportBody) -> Any:
    subject = passport_versions.batch_subject(session, batch_id)
    return passport_versions.put_passport(session, principal, subject, body, now=utcnow())


@router.put("/units/{gtin}/{serial}/passport", status_code=201)
def put_unit_passport(gtin: str, serial: str, principal: PrincipalDep, session: SessionDep, body: PassportBody) -> Any:
    subject = passport_versions.unit_subject(session, gtin, serial)
    return passport_versions.put_passport(session, principal, subject, body, now=utcnow())


@router.get("/products/{gtin}/passport")
def get_product_passport(gtin: str, principal: PrincipalDep, session: SessionDep, version: VersionQuery = None) -> Any:
    subject = passport_versions.product_subject(session, gtin)
    return passport_versions.get_version(session, principal, subject, version, today=today())


@router.get("/batches/{batch_id}/passport")
def get_batch_passport(
    batch_id: BatchId, principal: PrincipalDep, session: SessionDep, version: VersionQuery = None
) -> Any:
    subject = passport_versions.batch_subject(session, batch_id)
    return passport_versions.get_version(session, principal, subject, version, today=today())


@router.get("/units/{gtin}/{serial}/passport")
def get_unit_passport(
    gtin: str, serial: str, principal: PrincipalDep, session: SessionDep, version: VersionQuery = None
) -> Any:
    subject = passport_versions.unit_subject(session, gtin, serial)
    return passport_versions.get_version(session, principal, subject, version, today=today())


def _page(session: Session, principal: Any, subject: Subject, after: int, limit: int, history: bool) -> Any:
    return passport_versions.list_versions(session, principal, subject, after=after, limit=limit, history=history)


@router.get("/products/{gtin}/passport/versions")
def product_passport_versions(
    gtin: str, principal: PrincipalDep, session: SessionDep, after: AfterQuery = 0, limit: LimitQuery = 50
) -> Any:
    return _page(session, principal, passport_versions.product_subject(session, gtin), after, limit, False)


@router.get("/batches/{batch_id}/passport/versions")
def batch_passport_versions(
    batch_id: BatchId, principal: PrincipalDep, session: SessionDep, after: AfterQuery = 0, limit: LimitQuery = 50
) -> Any:
    return _page(session, principal, passport_versions.batch_subject(session, batch_id), after, limit, False)


@router.get("/units/{gtin}/{serial}/passport/versions")
def unit_passport_versions(
    gtin: str, serial: str, principal: PrincipalDep, session: SessionDep, after: AfterQuery = 0, limit: LimitQuery = 50
) -> Any:
    return _page(session, principal, passport_versions.unit_subject(session, gtin, serial), after, limit, False)


@router.get("/products/{gtin}/passport/history")
def product_passport_history(
    gtin: str, principal: PrincipalDep, session: SessionDep, after: AfterQuery = 0, limit: LimitQuery = 50
) -> Any:
    return _page(session, principal, passport_versions.product_subject(session, gtin), after, limit, True)


@router.get("/batches/{batch_id}/passport/history")
def batch_passport_history(
    batch_id: BatchId, principal: PrincipalDep, session: SessionDep, after: AfterQuery = 0, limit: LimitQuery = 50
) -> Any:
    return _page(session, principal, passport_versions.batch_subject(session, batch_id), after, limit, True)


@router.get("/units/{gtin}/{serial}/passport/history")
def unit_passport_history(
    gtin: str, serial: str, principal: PrincipalDep, session: SessionDep, after: AfterQuery = 0, limit: LimitQuery = 50
) -> Any:
    return _page(session, principal, passport_versions.unit_subject(session, gtin, serial), after, limit, True)


async def raw_body(request: Request) -> bytes:
    return await request.body()


@router.post(
    "/documents",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
            "required": True,
        }
    },
)
def post_document(
    request: Request,
    data: Annotated[bytes, Depends(raw_body)],
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Any:
    settings = runtime.settings
    return documents.upload(
        session,
        principal,
        data,
        claimed=request.headers.get("content-type"),
        max_bytes=settings.max_document_bytes,
        base_url=settings.base_url,
        now=utcnow(),
    )


@router.get("/documents/{sha256}", response_class=Response, responses={200: {"content": {t: {} for t in EXTENSIONS}}})
def get_document(sha256: str, principal: MaybePrincipalDep, session: SessionDep) -> Response:
    found = documents.download(session, principal, sha256, today=today())
    return Response(
        found.content,
        media_type=found.media_type,
        headers={
            "ETag": f'"{found.sha256}"',
            "Cache-Control": "private, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{found.sha256}.{EXTENSIONS[found.media_type]}"',
        },
    )


@router.get("/passports/lapsing")
def lapsing(
    principal: PrincipalDep, session: SessionDep, days: Annotated[int, Query(ge=0, le=3660)] = 30
) -> dict[str, Any]:
    return passport_versions.lapsing_certificates(session, principal, today=today(), days=days)
