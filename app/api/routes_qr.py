"""Printable QR codes of units and A4 label sheets of a batch."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.ids import BatchId, PageNumber
from app.api.problems import KEYED_PROBLEMS
from app.services import printing

router = APIRouter(tags=["printing"], responses=KEYED_PROBLEMS)

PNG = "image/png"
SVG = "image/svg+xml"
# An SVG opened straight from the API must not run or fetch anything, whatever text ended up inside it.
_SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")  # serials may hold quotes and the like (CSET 82)


def _headers(filename: str, cache: str, *, svg: bool) -> dict[str, str]:
    headers = {
        "Cache-Control": cache,
        "Vary": "Authorization",
        "Content-Disposition": f'inline; filename="{_UNSAFE_FILENAME.sub("_", filename)}"',
        "X-Content-Type-Options": "nosniff",
    }
    if svg:
        headers["Content-Security-Policy"] = _SVG_POLICY
    return headers


# A unit's code never changes (its issuance fixes the key), but it is the caller's data: private caches only.
_CODE_CACHE = "private, max-age=3600"
# The last page fills up and the page count grows as codes are issued: revalidate.
_SHEET_CACHE = "private, no-cache"

_CODE_DESCRIPTION = "The QR Code of the unit's signed Digital Link URI."

ModulePx = Annotated[
    int,
    Query(
        ge=printing.MIN_MODULE_PX,
        le=printing.MAX_MODULE_PX,
        description="Module (QR 'pixel') size in image pixels.",
    ),
]


@router.get(
    "/v1/codes/{gtin}/{serial}/qr.png",
    response_class=Response,
    responses={200: {"content": {PNG: {}}, "description": _CODE_DESCRIPTION}},
)
def unit_qr_png(
    gtin: str,
    serial: str,
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
    size: ModulePx = printing.DEFAULT_MODULE_PX,
) -> Response:
    code = printing.unit_code(session, principal, runtime.keyring, runtime.settings.base_url, gtin, serial)
    return Response(
        printing.render_png(code.uri, module_px=size),
        media_type=PNG,
        headers=_headers(f"{gtin}-{serial}.png", _CODE_CACHE, svg=False),
    )


@router.get(
    "/v1/codes/{gtin}/{serial}/qr.svg",
    response_class=Response,
    responses={200: {"content": {SVG: {}}, "description": _CODE_DESCRIPTION}},
)
def unit_qr_svg(gtin: str, serial: str, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep) -> Response:
    code = printing.unit_code(session, principal, runtime.keyring, runtime.settings.base_url, gtin, serial)
    return Response(
        printing.render_svg(code),
        media_type=SVG,
        headers=_headers(f"{gtin}-{serial}.svg", _CODE_CACHE, svg=True),
    )


@router.get(
    "/v1/batches/{batch_id}/labels.svg",
    response_class=Response,
    responses={200: {"content": {SVG: {}}, "description": "One A4 page of labels, in issue order."}},
)
def batch_labels_svg(
    batch_id: BatchId,
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageNumber = 1,
    per_page: Annotated[int, Query(ge=1, le=printing.MAX_PER_PAGE)] = printing.DEFAULT_PER_PAGE,
) -> Response:
    sheet = printing.label_page(
        session, principal, runtime.keyring, runtime.settings.base_url, batch_id, page=page, per_page=per_page
    )
    return Response(
        printing.render_label_sheet(sheet, per_page),
        media_type=SVG,
        headers=_headers(f"batch-{batch_id}-labels-{page}.svg", _SHEET_CACHE, svg=True),
    )
