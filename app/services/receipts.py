"""Sale receipts: signed per unit for the accepted sales and dispensings of a request, and checked for a buyer.

The token and its rules are app/domain/receipts.py. Receipts are rebuilt from the recorded sale (event, items, log
leaf), so a replayed request (``duplicate``) and the seller asking again (``GET /v1/events/{id}/receipts``, e.g. for a
sale captured through EPCIS) get the same tokens: Ed25519 is deterministic and the claims are the record's.
A check answers whether the token is valid, what the sale stands as now, and the sale's leaf's inclusion proof
against the newest signed checkpoint (app/services/log.py); the leaf's bytes are not shown (they name the seller).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.db.log import leaf_events, leaf_hashes
from app.db.models import Event, EventItem, LogCheckpoint, LogNode, Product, Unit
from app.domain import merkle
from app.domain.cn_code import looks_like_cn_code
from app.domain.custody import SALE_ACTIONS, Action, Status
from app.domain.errors import NotFound
from app.domain.leaf import leaf_bytes
from app.domain.receipts import (
    Receipt,
    ReceiptInvalid,
    ReceiptState,
    Standing,
    Step,
    StepKind,
    read_receipt,
    sign_receipts,
    standing,
)
from app.domain.signing import Signer, kid
from app.services import log
from app.services.orgs import Principal

logger = logging.getLogger("passport")
_SALES = [a.value for a in SALE_ACTIONS]
_CHUNK = 500


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    return (ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK))


def receipts_for(
    session: Session, event_ids: Iterable[int], signer: Callable[[], Signer], issuer: str
) -> dict[int, list[dict[str, str]]]:
    """``{event_id: [{"code", "token"}, ...]}`` for those of ``event_ids`` that are sales or dispensings, one per
    unit in the order the event named them; ``code`` is the code as the event named it. ``signer`` is called only
    when there is a sale to sign for (opening the key is a query and a decryption)."""
    ids = sorted(set(event_ids))
    codes: dict[int, list[str]] = {}
    for chunk in _chunks(ids):
        for event_id, payload in session.execute(
            select(Event.id, Event.payload).where(Event.id.in_(chunk), Event.action.in_(_SALES))
        ):
            named = payload.get("codes") if isinstance(payload, dict) else None
            codes[event_id] = [str(c) for c in named] if isinstance(named, list) else []
    sold: dict[int, list[Receipt]] = {event_id: [] for event_id in codes}
    for chunk in _chunks(sorted(codes)):
        rows = session.execute(
            select(
                Event.id,
                Event.action,
                Event.occurred_at,
                Event.region,
                Event.channel,
                LogNode.index,
                Unit.gtin,
                Unit.serial,
            )
            .join(EventItem, EventItem.event_id == Event.id)
            .join(Unit, Unit.id == EventItem.unit_id)
            .join(LogNode, (LogNode.event_id == Event.id) & (LogNode.level == 0))
            .where(Event.id.in_(chunk))
            .order_by(Event.id, EventItem.id)
        )
        for event_id, action, at, region, channel, index, gtin, serial in rows:
            sold[event_id].append(
                Receipt(gtin, serial, event_id, index, at, region, channel or "offline", action, issuer)
            )
    answer: dict[int, list[dict[str, str]]] = {}
    every = [r for event_id in sorted(sold) for r in sold[event_id]]
    tokens = iter(sign_receipts(every, signer()) if every else [])
    for event_id in sorted(sold):
        named = codes[event_id]
        same = len(named) == len(sold[event_id])  # items are written in the order the codes were named
        answer[event_id] = [
            {"code": named[i] if same else _code(r), "token": next(tokens)} for i, r in enumerate(sold[event_id])
        ]
    return answer


def _code(receipt: Receipt) -> str:
    return receipt.serial if looks_like_cn_code(receipt.serial) else f"(01){receipt.gtin}(21){receipt.serial}"


def event_receipts(
    session: Session,
    principal: Principal,
    event_id: int,
    signer: Signer,
    issuer: str,
    integrate: Callable[[], object],
) -> list[dict[str, str]]:
    """The receipts of one of the caller's own sales (whichever way it was recorded: API, EPCIS capture, demo).

    A receipt names the sale's log index, so a sale whose leaf is still pending (committed, not integrated: a
    failure between the two on PostgreSQL, docs/log.md) is integrated first with ``integrate`` (the log's
    ``integrate``, its own transaction), after this session has given its connection back: an integration never
    holds two connections."""
    event = session.get(Event, event_id)
    if event is None or event.org_id != principal.org_id:
        raise NotFound(f"no sale {event_id} of yours", code="event_not_found")
    if event.action not in _SALES:
        raise NotFound(f"event {event_id} is a {event.action}, not a sale or dispensing", code="not_a_sale")
    issued = receipts_for(session, [event_id], lambda: signer, issuer).get(event_id, [])
    if not issued:  # a sale has units: none found beside its leaf, so the leaf is still pending
        session.rollback()  # nothing written: the read transaction ends and its connection goes back to the pool
        integrate()
        issued = receipts_for(session, [event_id], lambda: signer, issuer).get(event_id, [])
    return issued


# ------------------------------------------------------------------------------------------------ checking


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    receipt: Receipt | None
    invalid: ReceiptInvalid | None = None
    state: ReceiptState | None = None
    unit_status: str | None = None
    product: str | None = None
    proof: dict[str, Any] | None = None

    @property
    def needs_checkpoint(self) -> bool:
        """A valid receipt of a known sale whose leaf no signed checkpoint covers yet."""
        return self.proof is None and self.state is not None and self.state.standing is not Standing.NOT_FOUND

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "valid": self.invalid is None,
            "receipt": self.receipt.claims() if self.receipt is not None else None,
            "state": None,
            "proof": self.proof,
        }
        if self.invalid is not None:
            body["reason"] = self.invalid.reason.value
            body["detail"] = self.invalid.detail
        if self.state is not None:
            body["state"] = {**self.state.as_json(), "unit_status": self.unit_status, "product": self.product}
        return body


def check_receipt(session: Session, token: str, public_keys: Mapping[int, bytes]) -> ReceiptCheck:
    """Never raises for a bad token: an invalid receipt is an answer (``valid: false`` with the reason)."""
    try:
        receipt = read_receipt(token, {kid(tag): public for tag, public in public_keys.items()})
    except ReceiptInvalid as invalid:
        return ReceiptCheck(None, invalid)
    unit = session.scalar(select(Unit).where(Unit.gtin == receipt.gtin, Unit.serial == receipt.serial))
    if unit is None:
        return ReceiptCheck(receipt, state=ReceiptState(Standing.NOT_FOUND, 0, None))
    state = standing(receipt.event_id, _steps(session, unit.id))
    product = session.scalar(select(Product.name).where(Product.gtin == unit.gtin))
    proof = None
    if state.standing is not Standing.NOT_FOUND:
        proof = _proof(session, receipt, unit)
    return ReceiptCheck(receipt, state=state, unit_status=unit.state, product=product, proof=proof)


def check_now(
    sessions: sessionmaker[Session], token: str, public_keys: Mapping[int, bytes], sign_checkpoint: Callable[[], None]
) -> ReceiptCheck:
    """``check_receipt``, signing a checkpoint first when the sale is newer than every signed one (as
    ``GET /v1/log/checkpoint`` does). A writer too busy to sign one now (SQLite has one, and a bulk import holds it)
    costs the answer its proof, not the answer: the next check has it."""
    with sessions() as session, session.begin():
        found = check_receipt(session, token, public_keys)
    if not found.needs_checkpoint:
        return found
    try:
        sign_checkpoint()
    except OperationalError as error:
        logger.warning("no checkpoint for a receipt check now: %s", error.orig)
        return found
    with sessions() as session, session.begin():
        return check_receipt(session, token, public_keys)


def _steps(session: Session, unit_id: int) -> list[Step]:
    rows = session.execute(
        select(Event.id, Event.action, Event.undone_by_event_id, EventItem.after)
        .join(EventItem, EventItem.event_id == Event.id)
        .where(EventItem.unit_id == unit_id, Event.action.in_([*_SALES, Action.RETURN.value]))
        .order_by(Event.id)
    )
    steps = []
    for event_id, action, undone_by, after in rows:
        if action == Action.RETURN.value:
            kind = StepKind.RETURN
        elif isinstance(after, dict) and after.get("status") == Status.OPEN.value:
            kind = StepKind.PARTIAL
        else:
            kind = StepKind.SALE
        steps.append(Step(event_id, kind, undone=undone_by is not None))
    return steps


def _proof(session: Session, receipt: Receipt, unit: Unit) -> dict[str, Any] | None:
    """The sale's leaf in the newest checkpoint, checked here too: the path leads to the signed root, and the leaf
    rebuilt from the event table hashes to the logged leaf and names this sale and this unit. None: no checkpoint
    covers the leaf yet."""
    checkpoint = session.scalar(select(LogCheckpoint).order_by(LogCheckpoint.id.desc()).limit(1))
    index = receipt.log_index
    if checkpoint is None or checkpoint.tree_size <= index:
        return None
    conn = session.connection()
    size = checkpoint.tree_size
    path = log.inclusion_proof(conn, index, size)
    logged = leaf_hashes(conn, index, index + 1)[0]
    root = bytes(checkpoint.root_hash)
    try:
        merkle.verify_inclusion(logged, index, size, path, root)
        included = True
    except merkle.ProofError:
        included = False
    events = leaf_events(conn, index, index + 1)
    leaf = events[0][1] if events else None
    matches = (
        leaf is not None
        and leaf.event_id == receipt.event_id
        and merkle.leaf_hash(leaf_bytes(leaf)) == logged
        and any(item.unit == f"{unit.gtin}/{unit.serial}" for item in leaf.items)
    )
    view = log.checkpoint_view(checkpoint)
    return {
        "leaf_index": index,
        "tree_size": size,
        "leaf_hash": base64.b64encode(logged).decode(),
        "audit_path": [base64.b64encode(p).decode() for p in path],
        "root_hash": view["root_hash"],
        "checkpoint": view["note"],
        "included": included,
        "leaf_matches": matches,
    }
