"""The partner answer's path in a serving process: one lookup, the answer signed, the row kept, nothing else.

Profiled under load (docs/partner-verification.md), a partner answer through an ORM session cost ten times the
public scan: a pooled connection, ``BEGIN IMMEDIATE`` (SQLite's writer lock, held by each request while it read,
signed and inserted), seven statements and a commit, in one of forty worker threads. Here the reads are one
statement beside the public scan's lookup (``app.db.partner_facts``), the signing key is opened once per key tag
(the statement names the current tag, so a rotation applies at the next request), and the row is written by the
keeper, which commits the answers that arrive together in one transaction and answers each once it is kept.
"""

from __future__ import annotations

import threading

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.db.partner_facts import PartnerFactsLookups
from app.domain.errors import NotAuthenticated
from app.domain.jws import CompactSigner
from app.domain.licences import LicenceTerm, valid_kinds
from app.services.clock import utcnow
from app.services.keys import KeyRing, MasterKeyError
from app.services.orgs import Principal, hash_api_key
from app.services.partner_keeper import AnswerKeeper
from app.services.partner_verification import JWS_TYPE, PartnerRequest, answer_partner
from app.services.verification import Verification


class PartnerDesk:
    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        keyring: KeyRing,
        *,
        responder_url: str,
        unheld_per_hour: int,
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._responder_url = responder_url
        self._facts = PartnerFactsLookups(engine)
        self.keeper = AnswerKeeper(engine, unheld_per_hour=unheld_per_hour)
        self._signers: dict[int, CompactSigner] = {}
        self._opening = threading.Lock()

    async def answer(self, token: str, request: PartnerRequest, verification: Verification | None) -> str:
        """The signed answer's JSON text, once kept (the row holds these very bytes). Raises ``NotAuthenticated``,
        ``Forbidden`` (no licence) and ``RateLimited`` (the oracle guard)."""
        scan = request.scan
        unit_id = verification.unit_id if verification is not None else None
        facts = await self._facts.fetch(hash_api_key(token), scan.gtin if scan else None, unit_id)
        if facts is None:
            raise NotAuthenticated("the API key is unknown or revoked", code="invalid_api_key")
        if facts.key_tag is None:
            raise MasterKeyError("no active signing key: run `passport init`")
        now = utcnow()
        terms = [LicenceTerm(t.kind, t.valid_from, t.valid_until, t.revoked_at) for t in facts.licences]
        principal = Principal(facts.org_id, facts.org_name, facts.role, valid_kinds(terms, now))
        signer = self._signers.get(facts.key_tag)
        if signer is None:
            signer = await anyio.to_thread.run_sync(self._open, facts.key_tag)
        kept = answer_partner(
            principal=principal,
            product=facts.product,
            held_unit=facts.held_unit,
            request=request,
            verification=verification,
            signer=signer,
            now=now,
            responder_url=self._responder_url,
        )
        await self.keeper.keep(kept)
        return kept.answer

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
