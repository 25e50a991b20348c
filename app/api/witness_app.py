"""The witness's HTTP face (`passport witness serve`): C2SP tlog-witness ``POST /add-checkpoint``, nothing else of
the service. The one table below gives each refusal its status, as the spec names them."""

from __future__ import annotations

import time

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from app.domain.witness import Refusal
from app.services.witness import Witness

MAX_REQUEST_BYTES = 65_536  # 63 proof lines and a checkpoint with a hundred signature lines fit many times over
SIZE_TYPE = "text/x.tlog.size"

STATUS = {
    Refusal.MALFORMED: 400,
    Refusal.OLD_SIZE_TOO_LARGE: 400,
    Refusal.UNKNOWN_LOG: 404,
    Refusal.BAD_SIGNATURE: 403,
    Refusal.STALE_OLD_SIZE: 409,
    Refusal.ROOT_MISMATCH: 409,
    Refusal.BAD_PROOF: 422,
}


async def _read(request: Request) -> bytes | None:
    """The body, or None once it passes the limit (by Content-Length or while it streams in)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES):
        return None
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > MAX_REQUEST_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_witness_app(witness: Witness) -> FastAPI:
    app = FastAPI(title=f"Witness {witness.key.name}", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        body = await _read(request)
        if body is None:
            return PlainTextResponse(f"request bodies are limited to {MAX_REQUEST_BYTES} bytes\n", status_code=413)
        answer = await anyio.to_thread.run_sync(witness.add_checkpoint, body, int(time.time()))
        if answer.refusal is None:
            return PlainTextResponse(answer.body)
        status = STATUS[answer.refusal]
        if status == 409:  # exactly this type, no charset parameter: clients read the size by it
            return Response(answer.body.encode(), status_code=409, headers={"Content-Type": SIZE_TYPE})
        return PlainTextResponse(answer.body, status_code=status)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok", "witness": witness.key.text}

    return app
