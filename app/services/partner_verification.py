"""Verification between trading partners: answer a partner's request in the GS1 LMS shape, sign it, keep it.

The requester is the organisation of the Bearer key. For a drug it must hold a licence valid today (the kinds
``Principal.licences`` carries are those standing today). Every request and its answer is kept in
``partner_verification``; the product's manufacturer and regulators list them. A requester asking about units it
never held (neither it nor the lot ever passed through its hands) more than ``unheld_per_hour`` times within an hour
is refused (429) and raises a ``verification_oracle`` alert: a verification service must not become an oracle that
tells a counterfeiter which serials exist.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import PartnerVerification
from app.db.partner_facts import ProductRow
from app.domain.errors import Forbidden, InvalidInput
from app.domain.identifiers import UnitCode
from app.domain.jws import CompactSigner
from app.domain.orgs import DRUG_CATEGORIES, READS_EVERYTHING, Role
from app.domain.partner_verification import (
    MALFORMED,
    SIGNATURE_FAILED,
    Answer,
    Context,
    UnitFacts,
    answer,
    positive_for_return,
)
from app.domain.verdict import VerdictKind
from app.services.orgs import Principal
from app.services.partner_keeper import KeptAnswer
from app.services.verification import Verification

JWS_TYPE = "lms-verification+jws"
MAX_LISTED = 500


@dataclass(frozen=True, slots=True)
class PartnerRequest:
    """What the partner asked: the code as parsed (``None``: malformed or of another scheme), context, correlation."""

    path: str
    query: str
    scan: UnitCode | None
    context: Context
    correlation_uuid: str
    parse_error: str | None = None


def parse_context(text: str | None) -> Context:
    try:
        return Context(text or "")
    except ValueError:
        allowed = ", ".join(c.value for c in Context)
        raise InvalidInput(f"context must be one of {allowed}", code="invalid_context") from None


def new_correlation_uuid() -> str:
    """A random (version 4) UUID in its canonical text: ``str(uuid.uuid4())`` without the ``UUID`` object, whose
    construction and formatting were most of the 8 % of the partner request's event-loop samples it took (py-spy)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def correlation_of(text: str | None) -> str:
    """The requester's correlation UUID, echoed as sent (canonical form); a new one when none was sent."""
    if not text:
        return new_correlation_uuid()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InvalidInput("correlationUUID must be a UUID", code="invalid_correlation_uuid") from None


_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]  # json.dumps' own (C), ensure_ascii=False


def _json_text(value: str | None) -> str:
    """A string (or null) as canonical JSON writes it (``json.dumps(value, ensure_ascii=False)``)."""
    return "null" if value is None else _encode_string(value)


def parties_json(org_id: str, org_name: str, product: ProductRow | None, responder_url: str) -> str:
    """The answer's ``requester`` and ``responder`` members, as canonical JSON writes them (without the braces
    around the answer): the same for every answer to one key about one GTIN, so the desk keeps them with its facts."""
    requester = f'{{"id":{_json_text(org_id)},"name":{_json_text(org_name)}}}'
    if product is None:
        responder = f'{{"gln":null,"id":null,"name":null,"service":{_json_text(responder_url)}}}'
    else:
        responder = (
            f'{{"gln":{_json_text(product.manufacturer_gln)},"id":{_json_text(product.manufacturer_id)},'
            f'"name":{_json_text(product.manufacturer_name)},"service":{_json_text(responder_url)}}}'
        )
    return f'"requester":{requester},"responder":{responder}'


def _facts_answer(verification: Verification | None, context: Context) -> Answer:
    if verification is None:
        return MALFORMED
    if verification.verdict.kind == VerdictKind.INVALID_SIGNATURE:
        return SIGNATURE_FAILED
    if verification.row is None:
        return answer(None, context)
    return answer(UnitFacts(verification.verdict.reasons, verification.state or ""), context)


def answer_partner(
    *,
    principal: Principal,
    product: ProductRow | None,
    request: PartnerRequest,
    verification: Verification | None,
    signer: CompactSigner,
    now: datetime,
    responder_url: str,
    parties: str | None = None,
) -> KeptAnswer:
    """The signed answer and the row that keeps it. Raises ``Forbidden`` when a drug is asked about without a licence
    valid today (nothing is kept then). The oracle guard is the keeper's (app/services/partner_keeper.py), decided
    where the row is written, and so is whether the requester ever had the unit, when its role and the product do
    not settle it (``held`` None)."""
    scan = request.scan
    if product is not None and product.category in DRUG_CATEGORIES:
        if principal.role not in READS_EVERYTHING and not principal.licences:
            raise Forbidden(
                "verifying a drug needs a licence valid today; your organisation holds none", code="licence_required"
            )
    unit_id = verification.unit_id if verification is not None else None
    held: bool | None
    if product is None:
        held = False
    elif principal.org_id == product.manufacturer_id or principal.role in READS_EVERYTHING:
        held = True
    else:
        held = None if unit_id is not None else False
    result = _facts_answer(verification, request.context)
    if parties is None:
        parties = parties_json(principal.org_id, principal.name, product, responder_url)
    # The signed payload is the answer without ``signature`` as canonical JSON (app/domain/jws.py canonical_json:
    # keys sorted, no spaces, UTF-8), written here from a template with the members in that order: the same bytes
    # as canonical_json of the answer's dict (tests/unit/test_partner_answer_text.py), without building the dict and
    # sorting its keys for every answer; the parties' members are made once per key and GTIN (``parties_json``).
    # The answer's text is that payload with the signature added as its last member.
    info, reason = result.additional_info, result.verification_failure_reason
    if scan is None:
        item = '{"expiry":null,"gtin":null,"lot":null,"serial":null}'
    else:
        item = (
            f'{{"expiry":{_json_text(scan.expiry)},"gtin":{_json_text(scan.gtin)},"lot":{_json_text(scan.lot)},'
            f'"serial":{_json_text(scan.serial)}}}'
        )
    payload = (
        f'{{"additionalInfo":{_json_text(info)},"context":{_json_text(request.context)},'
        f'"correlationUUID":{_json_text(request.correlation_uuid)},"product":{item},{parties},'
        f'"verificationFailureReason":{_json_text(reason)},'
        f'"verificationTimestamp":"{now.strftime("%Y-%m-%dT%H:%M:%SZ")}",'
        f'"verified":{"true" if result.verified else "false"}}}'
    )
    signature = signer.sign_text(payload.encode())
    text = f'{payload[:-1]},"signature":"{signature}"}}'
    return KeptAnswer(
        requester_id=principal.org_id,
        manufacturer_id=product.manufacturer_id if product else None,
        gtin=scan.gtin if scan else None,
        serial=scan.serial[:20] if scan else None,
        unit_id=unit_id,
        context=request.context.value,
        correlation_uuid=request.correlation_uuid,
        verified=result.verified,
        held=held,
        request={"path": request.path, "query": request.query, "error": request.parse_error},
        answer=text,
        requested_at=now,
    )


def verified_for_return(session: Session, org_id: str, unit_id: int, since: datetime) -> bool:
    """Whether the organisation holds a positive saleable-return verification of the unit made after ``since``."""
    rows = session.execute(
        select(PartnerVerification.verified, PartnerVerification.context).where(
            PartnerVerification.unit_id == unit_id,
            PartnerVerification.requester_id == org_id,
            PartnerVerification.requested_at >= since,
        )
    ).all()
    return any(positive_for_return(verified, context) for verified, context in rows)


def list_verifications(
    session: Session, principal: Principal, *, gtin: str | None, before: int | None, limit: int
) -> dict[str, Any]:
    """Kept requests and answers, newest first: a manufacturer sees those about its products, regulators all."""
    query = select(PartnerVerification).order_by(PartnerVerification.id.desc()).limit(min(limit, MAX_LISTED))
    if principal.role not in READS_EVERYTHING:
        principal.require_role(Role.MANUFACTURER, Role.REGULATOR)
        query = query.where(PartnerVerification.manufacturer_id == principal.org_id)
    if gtin is not None:
        query = query.where(PartnerVerification.gtin == gtin)
    if before is not None:
        query = query.where(PartnerVerification.id < before)
    rows = session.scalars(query).all()
    items = [
        {
            "id": row.id,
            "requested_at": row.requested_at,
            "requester": row.requester_id,
            "gtin": row.gtin,
            "serial": row.serial,
            "context": row.context,
            "correlationUUID": row.correlation_uuid,
            "verified": row.verified,
            "held": row.held,
            "request": row.request,
            "answer": row.answer,
        }
        for row in rows
    ]
    full = len(rows) == min(limit, MAX_LISTED)
    return {"verifications": items, "next_before": rows[-1].id if rows and full else None}
