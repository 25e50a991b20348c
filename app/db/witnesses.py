"""The witnesses' cosignatures as the checkpoint views serve them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from app.db.models import LogCosignature, LogWitness


def cosignature_lines(conn: Connection, checkpoint_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """(witness name, signature line) of every cosignature on the given checkpoints, by checkpoint id."""
    ids = sorted(set(checkpoint_ids))
    found: dict[int, list[tuple[str, str]]] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(LogCosignature.checkpoint_id, LogWitness.name, LogCosignature.line)
            .join(LogWitness, LogWitness.id == LogCosignature.witness_id)
            .where(LogCosignature.checkpoint_id.in_(ids[start : start + 500]))
            .order_by(LogCosignature.checkpoint_id, LogCosignature.witness_id)
        )
        for checkpoint_id, name, line in rows:
            found.setdefault(checkpoint_id, []).append((name, line))
    return found
