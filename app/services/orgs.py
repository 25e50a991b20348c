"""Organisations, their licences and API keys, and who is calling."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ApiKey, Licence, Organisation
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from app.domain.identifiers import check_digit
from app.domain.licences import LicenceTerm, valid_kinds
from app.domain.orgs import LICENCE_KINDS, ROLES, Role
from app.services.clock import utcnow

API_KEY_PREFIX = "pp_"


@dataclass(frozen=True, slots=True)
class Principal:
    """The organisation behind an API key."""

    org_id: str
    name: str
    role: Role
    licences: frozenset[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))  # a row's string becomes the word it names

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(
                f"this needs the role {' or '.join(roles)}; your organisation is a {self.role}",
                code="wrong_role",
            )


def hash_api_key(api_key: str) -> str:
    # Keys carry 256 bits of entropy, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(api_key.encode()).hexdigest()


def _validate_gln(gln: str) -> str:
    if len(gln) != 13 or not gln.isdigit() or gln[-1] != check_digit(gln[:-1]):
        raise InvalidInput(f"GLN {gln!r} is not 13 digits with a valid check digit", code="invalid_gln")
    return gln


def create_org(
    session: Session,
    *,
    name: str,
    role: str,
    gln: str | None = None,
    licences: Iterable[str] = (),
    region: str | None = None,
    licensed_from: date | None = None,
) -> tuple[Organisation, str]:
    """Create an organisation and its first API key; the key is returned once and only its hash is kept. Its
    licences stand from ``licensed_from`` (today unless given: an organisation joining with its history names the
    day its licences began) with no end."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
    kinds = sorted(set(licences))
    unknown = [k for k in kinds if k not in LICENCE_KINDS]
    if unknown:
        raise InvalidInput(
            f"unknown licence kind {unknown[0]!r}; known: {', '.join(LICENCE_KINDS)}", code="invalid_licence"
        )
    if not name.strip():
        raise InvalidInput("name must not be empty", code="invalid_name")
    if gln is not None:
        _validate_gln(gln)
        if session.scalar(select(Organisation.id).where(Organisation.gln == gln)):
            raise Conflict(f"GLN {gln} already belongs to an organisation", code="gln_taken")
    now = utcnow()
    org = Organisation(id=uuid.uuid4().hex, name=name.strip(), role=role, gln=gln, region=region, created_at=now)
    session.add(org)
    session.flush()
    start = licensed_from or now.date()
    session.add_all(Licence(org_id=org.id, kind=kind, granted_at=now, valid_from=start) for kind in kinds)
    return org, issue_api_key(session, org.id)


def issue_api_key(session: Session, org_id: str) -> str:
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(org_id=org_id, key_hash=hash_api_key(api_key), prefix=api_key[:10], created_at=utcnow()))
    session.flush()
    return api_key


@dataclass(frozen=True, slots=True)
class Caller:
    """What an API key stands for: its organisation and every licence grant it ever had (which of them stand is
    decided at each request's time, ``principal``)."""

    org_id: str
    name: str
    role: str
    terms: tuple[LicenceTerm, ...]

    def principal(self) -> Principal:
        return Principal(org_id=self.org_id, name=self.name, role=self.role, licences=valid_kinds(self.terms, utcnow()))


def caller_of(session: Session, key_hash: str) -> Caller | None:
    """The organisation of a key that is not revoked, with its licence grants: one statement. None: unknown key."""
    rows = session.execute(
        select(
            Organisation.id,
            Organisation.name,
            Organisation.role,
            Licence.kind,
            Licence.valid_from,
            Licence.valid_until,
            Licence.revoked_at,
        )
        .join(ApiKey, ApiKey.org_id == Organisation.id)
        .outerjoin(Licence, Licence.org_id == Organisation.id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).all()
    if not rows:
        return None
    first = rows[0]
    terms = tuple(LicenceTerm(r.kind, r.valid_from, r.valid_until, r.revoked_at) for r in rows if r.kind is not None)
    return Caller(org_id=first.id, name=first.name, role=first.role, terms=terms)


def authenticate(session: Session, api_key: str) -> Principal:
    caller = caller_of(session, hash_api_key(api_key))
    if caller is None:
        raise NotAuthenticated("the API key is unknown or revoked", code="invalid_api_key")
    return caller.principal()


KEY_SECONDS = 2.0  # how long a serving process keeps what a key stands for (PASSPORT_API_KEY_SECONDS)
MAX_KEYS = 10_000  # keys kept at most


class Principals:
    """API keys -> the organisations they stand for, kept ``seconds`` in a serving process (``authenticate`` read
    two statements in every authenticated request: 15-30 % of the server's CPU for a request refused after
    authentication, docs/benchmarks.md). So a key revoked applies to this process's requests at most ``seconds``
    after it is committed. The licences a kept principal carries are the grants read with the key, standing at each
    request's time (one that lapses at midnight lapses on time); the rules that licences decide read them afresh
    (registering a drug, the custody rules), so a grant or revocation applies to them from its moment. A key unknown
    to the database is never kept (a new key works at once), and only a key's own hash finds its entry."""

    def __init__(self, seconds: float = KEY_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock  # monotonic seconds; tests move it
        self._known: dict[str, tuple[Caller, float]] = {}  # key hash -> (caller, until)

    def authenticate(self, session: Session, api_key: str) -> Principal:
        key_hash = hash_api_key(api_key)
        now = self.clock()
        known = self._known.get(key_hash)
        if known is not None and now < known[1]:
            return known[0].principal()
        caller = caller_of(session, key_hash)
        if caller is None:
            self._known.pop(key_hash, None)
            raise NotAuthenticated("the API key is unknown or revoked", code="invalid_api_key")
        if self.seconds > 0:
            if len(self._known) >= MAX_KEYS:  # many keys: start again rather than grow
                self._known.clear()
            self._known[key_hash] = (caller, now + self.seconds)
        return caller.principal()


def licence_terms(session: Session, org_id: str) -> list[LicenceTerm]:
    """Every grant of a licence the organisation ever had, as the domain reads them."""
    rows = session.execute(
        select(Licence.kind, Licence.valid_from, Licence.valid_until, Licence.revoked_at).where(
            Licence.org_id == org_id
        )
    )
    return [LicenceTerm(r.kind, r.valid_from, r.valid_until, r.revoked_at) for r in rows]


def standing_kinds(session: Session, org_id: str) -> frozenset[str]:
    """The kinds of licence the organisation holds valid now."""
    return valid_kinds(licence_terms(session, org_id), utcnow())


def org_view(session: Session, org: Organisation) -> dict[str, object]:
    kinds = sorted(standing_kinds(session, org.id))
    return {
        "id": org.id,
        "name": org.name,
        "role": org.role,
        "gln": org.gln,
        "region": org.region,
        "licences": list(kinds),
        "created_at": org.created_at,
    }


def get_org(session: Session, org_id: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound(f"no organisation {org_id}", code="org_not_found")
    return org


def is_gln(text: str) -> bool:
    """Thirteen digits: what ``to`` holds when it names a trading partner by GLN (organisation ids are 32 hex)."""
    return len(text) == 13 and text.isascii() and text.isdigit()


def ids_by_gln(session: Session, glns: Iterable[str]) -> dict[str, str]:
    """The organisation id behind each GLN that belongs to one (an unknown GLN is simply absent)."""
    wanted = sorted(set(glns))
    if not wanted:
        return {}
    rows = session.execute(select(Organisation.gln, Organisation.id).where(Organisation.gln.in_(wanted)))
    return {gln: org_id for gln, org_id in rows if gln is not None}


def partners_by_gln(session: Session, gln: str) -> list[dict[str, object]]:
    """The directory entry of a trading partner: only what a handler needs to address a shipment."""
    _validate_gln(gln)
    rows = session.execute(
        select(Organisation.id, Organisation.name, Organisation.role, Organisation.gln).where(Organisation.gln == gln)
    )
    return [{"id": row.id, "name": row.name, "role": row.role, "gln": row.gln} for row in rows]
