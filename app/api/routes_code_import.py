"""Import of codes issued elsewhere, with their package levels: the request body is read as a stream, line by
line, and never held whole (a million codes in flat memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.from_thread
from fastapi import APIRouter, Request

from app.api.deps import PrincipalDep, SessionDep
from app.api.ids import BatchId
from app.api.problems import KEYED_PROBLEMS, problem_responses
from app.domain.errors import InvalidInput, UnsupportedMediaType
from app.services import code_import
from app.services.clock import utcnow

router = APIRouter(responses=KEYED_PROBLEMS)

_KINDS = {
    "application/x-ndjson": code_import.NDJSON,
    "application/jsonl": code_import.NDJSON,
    "text/csv": code_import.CSV,
}


def _kind(content_type: str | None) -> str:
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in _KINDS:
        raise UnsupportedMediaType(
            "send the codes as JSON lines (Content-Type: application/x-ndjson) or CSV (Content-Type: text/csv)",
            code="unsupported_media_type",
        )
    return _KINDS[media]


def _lines(chunks: AsyncIterator[bytes]) -> Iterator[str]:
    """The body's lines, pulled from the event loop one chunk at a time (runs in a worker thread)."""

    async def next_chunk() -> bytes | None:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None

    pending = b""
    number = 0
    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            number += 1
            yield _decode(raw, number)
    if pending:
        yield _decode(pending, number + 1)


def _decode(raw: bytes, number: int) -> str:
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        raise InvalidInput(f"line {number}: not UTF-8 text", code="invalid_import_line", line=number) from None


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {
                "schema": {
                    "type": "string",
                    "description": 'One JSON object a line: `{"code": "...", "parent": "..." or null}` (also sent as '
                    "application/jsonl).",
                }
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "A `code,parent` header line, then one `code,parent` record a line (empty parent: "
                    "top level).",
                }
            },
        },
    }
}


@router.post(
    "/v1/batches/{batch_id}/codes/import",
    status_code=201,
    tags=["codes"],
    responses={**KEYED_PROBLEMS, **problem_responses(415)},
    openapi_extra=_IMPORT_BODY,
)
async def import_codes(
    batch_id: BatchId, request: Request, principal: PrincipalDep, session: SessionDep
) -> dict[str, object]:
    """Register codes issued elsewhere (20-digit or GS1), one `{"code", "parent"}` per JSON line or `code,parent`
    CSV records; all or nothing, refusals name the line."""
    kind = _kind(request.headers.get("content-type"))
    lines = _lines(request.stream())

    def run() -> code_import.ImportResult:
        return code_import.import_codes(session, principal, batch_id, kind, lines, now=utcnow())

    result = await anyio.to_thread.run_sync(run)
    return result.to_json()


@router.get("/v1/batches/{batch_id}/codes/import", tags=["codes"])
def import_progress(batch_id: BatchId, principal: PrincipalDep, session: SessionDep) -> dict[str, object]:
    """How far your latest import into the batch has got: `phase` (`reading`, `checking`, `done`, `refused`) and
    `lines` read; poll it beside a long upload (the answer of the POST says the same at the end)."""
    return code_import.import_progress(session, principal, batch_id)
