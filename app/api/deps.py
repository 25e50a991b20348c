"""Dependency aliases. A request is one transaction, committed before the response is sent (except that POST
/v1/events on PostgreSQL commits its events first and reads their log indices after: app/services/log.py publish)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.api.replica_reads import replica_for
from app.config import Settings
from app.db.engine import WRITE_OPTIONS
from app.domain.errors import NotAuthenticated
from app.services.clock import utcnow
from app.services.custody import Policy
from app.services.orgs import Principal, Principals
from app.services.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:  # async: no worker thread for an attribute read
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# Routes whose writes happen in a transaction of their own (a streamed issuance): the request's session only
# reads, and must not hold SQLite's write lock while the stream waits for it.
OWN_TRANSACTION_ROUTES = frozenset({"issue_codes"})


@contextmanager
def request_session(request: Request, runtime: Runtime) -> Iterator[Session]:
    """The request's session (``get_session``; ``POST /v1/events`` opens it itself, app/api/routes_events.py)."""
    replica = replica_for(request)  # a standby for the GETs that may read there (app/api/replica_reads.py)
    sessions = replica.sessions if replica is not None else runtime.sessions
    # A route may commit its writes early and read on in a new transaction (app.services.log.publish: an event's
    # log index is known once its leaf is integrated, after its commit); the last transaction commits here. An
    # exception rolls back whatever is not committed (closing the session does).
    with sessions() as session:
        route = request.scope.get("route")
        if request.method not in ("GET", "HEAD") and getattr(route, "name", None) not in OWN_TRANSACTION_ROUTES:
            # SQLite: a writing request takes the write lock at BEGIN and waits for it, instead of failing
            # with "database is locked" when it first writes after another writer got in.
            session.connection(execution_options=WRITE_OPTIONS)
        yield session


def get_session(request: Request, runtime: RuntimeDep) -> Iterator[Session]:
    # scope="function" below: the commit runs before the response goes out, so a failed commit is never a 2xx.
    with request_session(request, runtime) as session:
        yield session
        session.commit()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Declares the Bearer scheme in the OpenAPI document (every route needing a key shows it); it never refuses a
# request itself: get_principal reads the header and answers with the service's own problems.
bearer_scheme = HTTPBearer(
    scheme_name="bearerAuth", description="An organisation's API key: `Authorization: Bearer <key>`", auto_error=False
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]


def get_principal(request: Request, session: SessionDep, _declared: BearerDep) -> Principal:
    return principal_of(request, session)


def principal_of(request: Request, session: Session) -> Principal:
    """The organisation whose API key the request carries (``get_principal``)."""
    header = request.headers.get("authorization")
    if not header:
        raise NotAuthenticated("send Authorization: Bearer <api key>", code="missing_api_key")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header must be 'Bearer <api key>'", code="invalid_api_key")
    principals: Principals = request.app.state.principals  # keys kept a moment (app/services/orgs.py)
    return principals.authenticate(session, token.strip())


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_optional_principal(request: Request, session: SessionDep, _declared: BearerDep) -> Principal | None:
    """The caller's organisation when it sends a key (a wrong key is still 401), None for an anonymous call."""
    if not request.headers.get("authorization"):
        return None
    return get_principal(request, session, _declared)


MaybePrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


def custody_policy(settings: Settings) -> Policy:
    """The custody rules' clock and windows, as configured (custody events and EPCIS capture)."""
    return Policy(
        now=utcnow(),
        undo_window=timedelta(days=settings.undo_days),
        duplicate_window=timedelta(seconds=settings.duplicate_window_seconds),
    )
