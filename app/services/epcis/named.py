"""EPCIS 2.0 named queries (the REST binding's ``/queries``): a query's parameters kept under a name.

A named query belongs to the organisation that created it: another organisation neither lists, reads, runs nor
deletes it (for it the name does not exist), and running it reads with the caller's visibility, exactly as
``GET /epcis/events`` with the same parameters would. The query travels in the standard's JSON form (arrays for
several values, numbers, booleans, ``null`` for ``EXISTS_``); it is checked by the very parser the query string
goes through (:func:`app.domain.epcis_query.parse_request`), so a name is only given to a query that can run.
Subscriptions to named queries live in :mod:`app.services.epcis.subscriptions`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import EpcisNamedQuery, EpcisSubscription
from app.domain.epcis_query import parse_request
from app.domain.errors import Conflict, InvalidInput, NotFound, QueryParameterError
from app.services.epcis.query import Page, query_events
from app.services.orgs import Principal

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,99}$")
PAGING = ("perPage", "nextPageToken")


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise QueryParameterError(f"{name}: {value!r} is not a string, a number or a boolean")


def query_parameters(query: dict[str, Any]) -> list[tuple[str, str]]:
    """The standard's JSON query as the (name, value) pairs of the query string (``|`` between values)."""
    params = []
    for name, value in query.items():
        if name == "@context":
            continue  # prefixes of the client; names are matched as written
        if name in PAGING:
            raise QueryParameterError(f"{name} is not part of a query; give it when running the query")
        if value is None:
            params.append((name, ""))
        elif isinstance(value, list):
            if not value:
                raise QueryParameterError(f"{name}: an empty list matches nothing; leave the parameter out")
            params.append((name, "|".join(_text(name, v) for v in value)))
        else:
            params.append((name, _text(name, value)))
    return params


def _row(session: Session, principal: Principal, name: str) -> EpcisNamedQuery:
    row = session.scalar(
        select(EpcisNamedQuery).where(EpcisNamedQuery.org_id == principal.org_id, EpcisNamedQuery.name == name)
    )
    if row is None:
        raise NotFound(f"no query named {name!r}", code="query_not_found")
    return row


def _definition(row: EpcisNamedQuery) -> dict[str, Any]:
    return {"name": row.name, "query": row.query}


def create_query(session: Session, principal: Principal, name: str, query: Any, *, now: datetime) -> dict[str, Any]:
    if not NAME.match(name):
        raise InvalidInput(
            "name: 1 to 100 letters, digits, '.', '_', '~' or '-', beginning with a letter or digit",
            code="invalid_query_name",
        )
    if not isinstance(query, dict):
        raise QueryParameterError("query must be an object of query parameters")
    parse_request(query_parameters(query))  # the same checks as GET /epcis/events
    row = EpcisNamedQuery(org_id=principal.org_id, name=name, query=query, created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(f"a query named {name!r} exists already", code="query_exists") from None
    return _definition(row)


def list_queries(session: Session, principal: Principal) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(EpcisNamedQuery).where(EpcisNamedQuery.org_id == principal.org_id).order_by(EpcisNamedQuery.name)
    )
    return [_definition(row) for row in rows]


def get_query(session: Session, principal: Principal, name: str) -> dict[str, Any]:
    return _definition(_row(session, principal, name))


def delete_query(session: Session, principal: Principal, name: str, *, now: datetime) -> None:
    """Delete the query and end its subscriptions (the standard's "forcibly unsubscribes")."""
    row = _row(session, principal, name)
    session.execute(
        update(EpcisSubscription)
        .where(
            EpcisSubscription.org_id == principal.org_id,
            EpcisSubscription.query_name == name,
            EpcisSubscription.ended_at.is_(None),
        )
        .values(ended_at=now)
    )
    session.execute(delete(EpcisNamedQuery).where(EpcisNamedQuery.id == row.id))


def run_query(
    session: Session,
    principal: Principal,
    name: str,
    paging: Sequence[tuple[str, str]],
    *,
    base_url: str,
    now: datetime,
) -> Page:
    """One page of the named query's events; ``paging`` holds only ``perPage`` and ``nextPageToken``."""
    for key, _ in paging:
        if key not in PAGING:
            raise QueryParameterError(
                f"{key}: a named query runs as it was defined; only perPage and nextPageToken may be given"
            )
    row = _row(session, principal, name)
    return query_events(session, principal, [*query_parameters(row.query), *paging], base_url=base_url, now=now)
