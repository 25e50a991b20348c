"""The tamper-evident log: checkpoints, entries and proofs (RFC 9162, C2SP checkpoints)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.ids import CheckpointCursor, LogIndex, LogSize
from app.api.problems import KEYED_PROBLEMS, PUBLIC_PROBLEMS
from app.services import log, witnessing

router = APIRouter(tags=["log"], responses=PUBLIC_PROBLEMS)


def _b64(values: Sequence[bytes | None]) -> list[str | None]:
    return [None if v is None else base64.b64encode(v).decode() for v in values]


@router.get("/v1/log/checkpoint")
def get_checkpoint(runtime: RuntimeDep) -> dict[str, object]:
    """The newest signed checkpoint; a new one is signed on demand if the log has grown since."""
    runtime.sign_checkpoint()  # its own writing transaction: signs and keeps one if the log grew
    with runtime.sessions.begin() as session:  # ended by COMMIT: see "Periodic reads" in app/db/engine.py
        return log.checkpoint_views(session, [log.latest_checkpoint(session)])[0]


@router.get("/v1/log/witnesses")
def list_witnesses(runtime: RuntimeDep, session: SessionDep) -> dict[str, object]:
    """The witnesses of PASSPORT_WITNESSES and how each stands: the last size it cosigned, its status (pending,
    cosigned, unreachable, refused) and, when the last submission failed, why (docs/witnesses.md)."""
    return {"witnesses": witnessing.witness_views(session, runtime.witnessing.endpoints)}


@router.get("/v1/log/checkpoints")
def list_checkpoints(
    session: SessionDep,
    after: CheckpointCursor = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, object]:
    """Every checkpoint the service signed, oldest first (page with ``after`` = the last id seen)."""
    return {"checkpoints": log.checkpoint_views(session, log.checkpoints(session, after, limit))}


@router.get("/v1/log/entries", responses=KEYED_PROBLEMS)
def get_entries(
    principal: PrincipalDep,
    session: SessionDep,
    start: LogIndex,
    end: LogSize,
) -> dict[str, Any]:
    """The leaf bytes of [start, end), rebuilt from the events as they are now, beside the hashes the log
    committed to: a difference means an event was changed after it was logged. An entry the key's organisation
    may not read (not a party, not the goods' manufacturer, not a regulator) is ``null``; its hash is there."""
    reader = log.Reader(principal.org_id, principal.role)
    found = log.entries(session.connection(), start, end, reader)
    return {
        "start": found.start,
        "end": found.end,
        "entries": _b64(found.leaves),
        "leaf_hashes": _b64(found.hashes),
        "withheld": sum(leaf is None for leaf in found.leaves),
    }


@router.get("/v1/log/proof/inclusion")
def get_inclusion(
    session: SessionDep,
    leaf_index: LogIndex,
    tree_size: LogSize,
) -> dict[str, object]:
    path = log.inclusion_proof(session.connection(), leaf_index, tree_size)
    return {"leaf_index": leaf_index, "tree_size": tree_size, "audit_path": _b64(path)}


@router.get("/v1/log/proof/consistency")
def get_consistency(
    session: SessionDep,
    first: LogSize,
    second: LogSize,
) -> dict[str, object]:
    proof = log.consistency_proof(session.connection(), first, second)
    return {"first": first, "second": second, "proof": _b64(proof)}


@router.get("/.well-known/passport-log-key")
def get_log_key(session: SessionDep) -> dict[str, object]:
    """The checkpoint-signing key: C2SP verifier key string and an RFC 8037 JWK."""
    return log.log_key_view(log.current_log_key(session))
