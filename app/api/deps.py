"""Dependency aliases. A request is one transaction, committed before the response is sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.domain.errors import NotAuthenticated
from app.services.orgs import Principal, authenticate
from app.services.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    # scope="function" below: the commit runs before the response goes out, so a failed commit is never a 2xx.
    with runtime.sessions() as session, session.begin():
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise NotAuthenticated("send Authorization: Bearer <api key>", code="missing_api_key")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header must be 'Bearer <api key>'", code="invalid_api_key")
    return authenticate(session, token.strip())


PrincipalDep = Annotated[Principal, Depends(get_principal)]
