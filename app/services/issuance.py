"""Issuing signed codes in bulk, streamed, in one transaction: the codes are all recorded or none are.

``issue_codes`` is a generator. Its first item is the new issuance id (so the caller can announce it before
the body starts); then come runs of signed codes as each chunk is inserted; the commit happens only after the
last run has been handed out. Closing the generator early (a client that disconnects) rolls everything back.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.orm import Session

from app.db.engine import WRITE_OPTIONS
from app.db.ids import reserve_id
from app.db.models import Batch, Issuance
from app.db.units import SerialTaken, insert_units, issuance_serials
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.domain.identifiers import SERIAL_LENGTH, date_to_yymmdd, serials_from_random
from app.domain.signing import Signer, sign_serials
from app.services.catalog import get_batch
from app.services.clock import today, utcnow
from app.services.keys import KeyRing
from app.services.orgs import Principal
from app.services.signing_pool import SigningPool

CHUNK = 5_000
MAX_COLLISION_RETRIES = 5


@dataclass(frozen=True, slots=True)
class BatchFacts:
    batch_id: int
    gtin: str
    lot: str
    expires_on: date

    @property
    def expiry(self) -> str:
        return date_to_yymmdd(self.expires_on)


@dataclass(frozen=True, slots=True)
class CodeRun:
    """Consecutive codes of one batch: ``signatures[i]`` is the AI 8030 value of ``serials[i]``."""

    serials: list[str]
    signatures: list[str]


def check_issuance(session: Session, principal: Principal, batch_id: int, count: int, max_count: int) -> BatchFacts:
    """Everything that can refuse an issuance, checked before a single byte of the body is sent."""
    principal.require_role("manufacturer")
    if not 1 <= count <= max_count:
        raise InvalidInput(f"count must be between 1 and {max_count}", code="invalid_count")
    batch = get_batch(session, principal, batch_id)
    if batch.expires_on < today():
        raise Conflict(f"batch {batch_id} expired on {batch.expires_on.isoformat()}", code="expired")
    return BatchFacts(batch.id, batch.gtin, batch.lot, batch.expires_on)


def _new_serials(random_bytes: Callable[[int], bytes], count: int) -> list[str]:
    return serials_from_random(random_bytes(count * SERIAL_LENGTH), count)


def _insert_chunk(
    conn: Connection,
    facts: BatchFacts,
    issuance_id: int,
    signer: Signer,
    serials: list[str],
    signatures: list[str],
    random_bytes: Callable[[int], bytes],
) -> CodeRun:
    """Insert a chunk; on a serial collision (rare: 60 random bits) draw that chunk again."""
    for _ in range(MAX_COLLISION_RETRIES):
        try:
            with conn.begin_nested():
                insert_units(conn, facts.gtin, facts.batch_id, issuance_id, serials)
            return CodeRun(serials, signatures)
        except SerialTaken:
            serials = _new_serials(random_bytes, len(serials))
            signatures = sign_serials(
                signer.private_bytes, signer.key_tag, facts.gtin, facts.lot, facts.expiry, serials
            )
    raise Conflict("could not draw unique serials; the random source looks broken", code="serial_exhausted")


def issue_codes(
    engine: Engine,
    keyring: KeyRing,
    pool: SigningPool,
    facts: BatchFacts,
    count: int,
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
    chunk: int = CHUNK,
) -> Iterator[int | CodeRun]:
    # The id is announced before the stream's transaction commits: taken apart, it stays spent if the stream fails.
    issuance_id = reserve_id(engine, Issuance.__tablename__)
    # BEGIN IMMEDIATE on SQLite: this transaction reads and then writes, and must wait its turn, not fail.
    with engine.connect().execution_options(**WRITE_OPTIONS) as conn, conn.begin():
        with Session(bind=conn) as session:
            signer = keyring.current_signer(session)
        conn.execute(
            insert(Issuance).values(
                id=issuance_id, batch_id=facts.batch_id, key_tag=signer.key_tag, count=count, created_at=utcnow()
            )
        )
        yield issuance_id
        sizes = deque([chunk] * (count // chunk) + ([count % chunk] if count % chunk else []))
        in_flight: deque[tuple[list[str], Future[list[str]]]] = deque()

        def submit() -> None:
            serials = _new_serials(random_bytes, sizes.popleft())
            in_flight.append((serials, pool.submit(signer, facts.gtin, facts.lot, facts.expiry, serials)))

        try:
            while sizes and len(in_flight) < pool.workers * 2:
                submit()
            while in_flight:
                serials, future = in_flight.popleft()
                if sizes:
                    submit()
                yield _insert_chunk(conn, facts, issuance_id, signer, serials, future.result(), random_bytes)
        finally:
            for _, future in in_flight:
                future.cancel()


def check_reissue(session: Session, principal: Principal, issuance_id: int) -> tuple[BatchFacts, int]:
    issuance = session.get(Issuance, issuance_id)
    if issuance is None:
        raise NotFound(f"no issuance {issuance_id}", code="issuance_not_found")
    try:
        batch = get_batch(session, principal, issuance.batch_id)
    except Forbidden:
        raise Forbidden(f"issuance {issuance_id} belongs to another organisation", code="foreign_issuance") from None
    return BatchFacts(batch.id, batch.gtin, batch.lot, batch.expires_on), issuance.key_tag


def reissue_codes(
    engine: Engine, keyring: KeyRing, pool: SigningPool, facts: BatchFacts, issuance_id: int, key_tag: int
) -> Iterator[CodeRun]:
    """Stream an earlier issuance again (Ed25519 is deterministic: the same signatures come out)."""
    with engine.connect() as conn:
        with Session(bind=conn) as session:
            signer = keyring.signer_for(session, key_tag)
        pending: deque[tuple[list[str], Future[list[str]]]] = deque()
        for serials in issuance_serials(conn, issuance_id, CHUNK):
            pending.append((serials, pool.submit(signer, facts.gtin, facts.lot, facts.expiry, serials)))
            if len(pending) > pool.workers:
                serials, future = pending.popleft()
                yield CodeRun(serials, future.result())
        while pending:
            serials, future = pending.popleft()
            yield CodeRun(serials, future.result())


def batch_issuances(session: Session, batch: Batch) -> list[Issuance]:
    return list(session.scalars(select(Issuance).where(Issuance.batch_id == batch.id).order_by(Issuance.id)))
