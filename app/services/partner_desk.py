"""The partner answer's path in a serving process: the public scan's lookup, the answer signed, the row kept.

Profiled under load (docs/partner-verification.md), a partner answer through an ORM session cost ten times the
public scan: a pooled connection, ``BEGIN IMMEDIATE`` (SQLite's writer lock, held by each request while it read,
signed and inserted), seven statements and a commit, in one of forty worker threads. Here the requester's facts (its
organisation and licences, the product's manufacturer, the current signing key's tag: ``app.db.partner_facts``) are
read once per key and GTIN and kept ``facts_seconds`` (``PASSPORT_PARTNER_FACTS_SECONDS``, 2 s by default), so an
answer usually needs no statement besides the public scan's lookup: a key revoked, a licence granted, revoked or
lapsed, or a signing key rotated applies to this process's answers at most that long after it is committed (the
licences' validity dates are checked against the time of each answer). A key unknown to the database is never kept,
so a new key works at once. The signing key is opened once per key tag; the row is written by the keeper, which
decides whether the requester ever had the unit, commits the answers that arrive together in one transaction and
answers each once it is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db.partner_facts import PartnerFacts, PartnerFactsLookups
from app.domain.errors import NotAuthenticated
from app.domain.jws import CompactSigner
from app.domain.licences import LicenceTerm, valid_kinds
from app.services.keys import KeyRing, MasterKeyError
from app.services.orgs import Principal, hash_api_key
from app.services.partner_keeper import AnswerKeeper, answer_time
from app.services.partner_verification import JWS_TYPE, PartnerRequest, answer_partner, parties_json
from app.services.verification import Verification

FACTS_SECONDS = 2.0  # how long a key's and a GTIN's facts are kept (PASSPORT_PARTNER_FACTS_SECONDS)
MAX_KNOWN = 10_000  # (key, GTIN) pairs kept at most


@dataclass(slots=True)
class _Known:
    facts: PartnerFacts
    terms: tuple[LicenceTerm, ...]  # the organisation's licence grants; which stand is decided at each answer
    parties: str  # the answer's requester and responder members (partner_verification.parties_json)
    until: float  # monotonic seconds
    principal: Principal | None = None  # with the licences standing at each answer's time until principal_until
    principal_until: datetime | None = None


def _principal(known: _Known, now: datetime) -> Principal:
    """The requester with the licences that stand at ``now``. Which stand changes only at a UTC midnight (the terms'
    days) or at a revocation's moment, so the set is made again only when one of those has passed."""
    principal, until = known.principal, known.principal_until
    if principal is not None and until is not None and now < until:
        return principal
    facts = known.facts
    principal = Principal(facts.org_id, facts.org_name, facts.role, valid_kinds(known.terms, now))
    day = now.astimezone(UTC).date()
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    revoked = [t.revoked_at for t in known.terms if t.revoked_at is not None and t.revoked_at > now]
    known.principal, known.principal_until = principal, min([midnight, *revoked])
    return principal


class PartnerDesk:
    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        keyring: KeyRing,
        *,
        responder_url: str,
        unheld_per_hour: int,
        facts_seconds: float = FACTS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._responder_url = responder_url
        self._facts = PartnerFactsLookups(engine)
        self.keeper = AnswerKeeper(engine, unheld_per_hour=unheld_per_hour)
        self._signers: dict[int, CompactSigner] = {}
        self._opening = threading.Lock()
        self._facts_seconds = facts_seconds
        self.clock = clock  # monotonic seconds; tests move it
        self._known: dict[tuple[str, str | None], _Known] = {}  # (key hash, GTIN): facts read, until when

    async def answer(self, token: str, request: PartnerRequest, verification: Verification | None) -> str:
        """The signed answer's JSON text, once kept (the row holds these very bytes). Raises ``NotAuthenticated``,
        ``Forbidden`` (no licence) and ``RateLimited`` (the oracle guard)."""
        scan = request.scan
        known = await self._known_facts(hash_api_key(token), scan.gtin if scan else None)
        facts = known.facts
        if facts.key_tag is None:
            raise MasterKeyError("no active signing key: run `passport init`")
        now = answer_time()  # strictly later than this process's last answer's (see ANSWER_KEY)
        principal = _principal(known, now)
        signer = self._signers.get(facts.key_tag)
        if signer is None:
            signer = await anyio.to_thread.run_sync(self._open, facts.key_tag)
        kept = answer_partner(
            principal=principal,
            product=facts.product,
            request=request,
            verification=verification,
            signer=signer,
            now=now,
            responder_url=self._responder_url,
            parties=known.parties,
        )
        await self.keeper.keep(kept)
        return kept.answer

    async def _known_facts(self, key_hash: str, gtin: str | None) -> _Known:
        """The facts of a key and a GTIN, read at most ``facts_seconds`` ago. Raises ``NotAuthenticated``."""
        now = self.clock()
        known = self._known.get((key_hash, gtin))
        if known is not None and now < known.until:
            return known
        facts = await self._facts.fetch(key_hash, gtin)
        if facts is None:
            self._known.pop((key_hash, gtin), None)
            raise NotAuthenticated("the API key is unknown or revoked", code="invalid_api_key")
        terms = tuple(LicenceTerm(t.kind, t.valid_from, t.valid_until, t.revoked_at) for t in facts.licences)
        parties = parties_json(facts.org_id, facts.org_name, facts.product, self._responder_url)
        known = _Known(facts, terms, parties, now + self._facts_seconds)
        if self._facts_seconds > 0:
            if len(self._known) >= MAX_KNOWN:  # many keys and GTINs: start again rather than grow
                self._known.clear()
            self._known[(key_hash, gtin)] = known
        return known

    def _open(self, key_tag: int) -> CompactSigner:
        with self._opening:
            signer = self._signers.get(key_tag)
            if signer is None:
                with self._sessions() as session:
                    signer = CompactSigner(self._keyring.signer_for(session, key_tag), typ=JWS_TYPE)
                self._signers[key_tag] = signer
            return signer

    def close(self) -> None:
        self.keeper.close()
        self._facts.close()
