"""Code issuance (streamed), re-download of an issuance, and signing-key administration."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from app.api.code_formats import CSV, JSON, NDJSON, format_runs, negotiate, stream_in_thread
from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.ids import BatchId, IssuanceId
from app.api.problems import KEYED_PROBLEMS, PUBLIC_PROBLEMS
from app.api.schemas import CodesIn, IssuanceList, JsonOnly
from app.domain.signing import kid
from app.services import catalog, issuance
from app.services.keys import create_signing_key, jwks

router = APIRouter(responses=PUBLIC_PROBLEMS, dependencies=[JsonOnly])

# The codes as JSON, or streamed as NDJSON or CSV (by the Accept header).
_CODES_CONTENT = {"content": {JSON: {}, NDJSON: {}, CSV: {}}, "description": "The issued codes"}


@router.post(
    "/v1/batches/{batch_id}/codes",
    status_code=201,
    tags=["codes"],
    response_class=StreamingResponse,
    responses={**KEYED_PROBLEMS, 201: _CODES_CONTENT},
)
def issue_codes(
    batch_id: BatchId,
    body: CodesIn,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> StreamingResponse:
    facts = issuance.check_issuance(session, principal, batch_id, body.count, runtime.settings.max_codes_per_request)
    media = negotiate(request.headers.get("accept"))
    runs = issuance.issue_codes(runtime.engine, runtime.keyring, runtime.pool, facts, body.count)
    try:
        issuance_id = next(runs)  # opens the transaction and records the issuance
    except BaseException:
        runs.close()
        raise
    head = {"issuance_id": issuance_id, "batch_id": batch_id, "count": body.count}
    body_stream = format_runs(media, runtime.settings.base_url, facts, runs, head)  # type: ignore[arg-type]
    return StreamingResponse(
        stream_in_thread(body_stream),
        status_code=201,
        media_type=media,
        headers={"Location": f"/v1/issuances/{issuance_id}", "X-Issuance-Id": str(issuance_id)},
    )


@router.get(
    "/v1/issuances/{issuance_id}/codes",
    tags=["codes"],
    response_class=StreamingResponse,
    responses={**KEYED_PROBLEMS, 200: _CODES_CONTENT},
)
def reissue_codes(
    issuance_id: IssuanceId, request: Request, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep
) -> StreamingResponse:
    facts, key_tag = issuance.check_reissue(session, principal, issuance_id)
    media = negotiate(request.headers.get("accept"))
    runs = issuance.reissue_codes(runtime.engine, runtime.keyring, runtime.pool, facts, issuance_id, key_tag)
    head = {"issuance_id": issuance_id, "batch_id": facts.batch_id}
    return StreamingResponse(
        stream_in_thread(format_runs(media, runtime.settings.base_url, facts, runs, head)), media_type=media
    )


@router.get("/v1/batches/{batch_id}/issuances", response_model=IssuanceList, tags=["codes"], responses=KEYED_PROBLEMS)
def list_issuances(batch_id: BatchId, principal: PrincipalDep, session: SessionDep) -> dict[str, object]:
    batch = catalog.get_batch(session, principal, batch_id)
    return {
        "issuances": [
            {
                "id": i.id,
                "batch_id": i.batch_id,
                "key_id": kid(i.key_tag),
                "count": i.count,
                "created_at": i.created_at,
                "codes_url": f"/v1/issuances/{i.id}/codes",
            }
            for i in issuance.batch_issuances(session, batch)
        ]
    }


@router.post("/v1/admin/signing-keys", status_code=201, tags=["keys"], responses=KEYED_PROBLEMS)
def rotate_signing_key(principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep) -> dict[str, object]:
    """Rotate: a new key signs from now on; every earlier key stays in the JWKS so old codes still verify."""
    principal.require_role("admin")
    key = create_signing_key(session, runtime.keyring.master_key)
    runtime.keyring.forget()
    return {"kid": kid(key.key_tag), "created_at": key.created_at}


@router.get("/.well-known/jwks.json", tags=["keys"])
def get_jwks(session: SessionDep) -> dict[str, object]:
    return jwks(session)
