"""Issued codes as JSON, NDJSON or CSV, streamed run by run so a million codes never sit in memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio

from app.domain.identifiers import digital_link_prefix
from app.services.issuance import BatchFacts

NDJSON = "application/x-ndjson"
CSV = "text/csv"
JSON = "application/json"


def negotiate(accept: str | None) -> str:
    accept = (accept or "").lower()
    for media in (NDJSON, CSV):
        if media in accept:
            return media
    return JSON


def _csv_field(value: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([value])
    return out.getvalue()


def format_runs(
    media: str, base_url: str, facts: BatchFacts, runs: Iterator[Any], head: dict[str, Any] | None = None
) -> Iterator[bytes]:
    """Turn runs of signed serials into the body; closes ``runs`` whatever happens (that is the rollback)."""
    prefix = digital_link_prefix(base_url, facts.gtin, facts.lot)
    query = f"?17={facts.expiry}&8030="
    expires = facts.expires_on.isoformat()
    try:
        if media == CSV:
            yield b"gtin,serial,lot,expires_on,uri\r\n"
            quoted = any(c in prefix for c in ',"\r\n')
            mark = '"' if quoted else ""
            lead = f"{facts.gtin},"
            middle = f",{_csv_field(facts.lot)},{expires},{mark}{prefix.replace(chr(34), chr(34) * 2)}"
            for run in runs:
                yield "".join(
                    f"{lead}{s}{middle}{s}{query}{sig}{mark}\r\n"
                    for s, sig in zip(run.serials, run.signatures, strict=True)
                ).encode()
            return
        start = '{"gtin":"' + facts.gtin + '","serial":"'
        middle = (
            '","lot":' + json.dumps(facts.lot) + ',"expires_on":"' + expires + '","uri":"' + json.dumps(prefix)[1:-1]
        )
        if media == NDJSON:
            for run in runs:
                yield "".join(
                    f'{start}{s}{middle}{s}{query}{sig}"}}\n'
                    for s, sig in zip(run.serials, run.signatures, strict=True)
                ).encode()
            return
        opening = json.dumps(head or {})[:-1]
        yield (opening + (", " if head else "") + '"codes": [').encode()
        separator = ""
        for run in runs:
            body = ",".join(
                f'{start}{s}{middle}{s}{query}{sig}"}}' for s, sig in zip(run.serials, run.signatures, strict=True)
            )
            yield (separator + body).encode()
            separator = ","
        yield b"]}"
    finally:
        close = getattr(runs, "close", None)
        if close is not None:
            close()


_END = object()


async def stream_in_thread(body: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Drive a blocking generator from worker threads; if the client goes away, close it (shielded)."""
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, body, _END)
            if chunk is _END:
                return
            yield chunk  # type: ignore[misc]
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(body.close)
