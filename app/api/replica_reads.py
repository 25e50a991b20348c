"""Which requests read on a standby (``PASSPORT_READ_DATABASE_URL``), and the primary's second look at refusals.

A GET (or HEAD) of a unit, a recall (its trace, orders, holders), an EPCIS query or a regulator page takes its
session from a standby within the lag limit (``app.db.replicas``); everything else, and every request while no
standby is within the limit, reads the primary. A standby's answer that is not a success (3xx, 4xx, 5xx, or an
exception) is never sent: the request runs again on the primary, whose answer goes out. So an API key, a unit or a
recall made a moment ago and not yet replayed is found, a refusal (404, 403, a redirect to the console's login)
is always the primary's, and a standby that fails mid-request costs a retry, not an error. These requests only
read, so running one twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db.replicas import Replica

# Route templates (FastAPI's ``route.path``) whose GETs may read on a standby.
READ_PREFIXES = ("/v1/units/", "/v1/recalls", "/epcis/events", "/epcis/queries/{name}/events", "/regulator")
# The request paths that may reach them: every other GET (the public scans: their verifier asks the primary
# itself) passes the second look's wrapping by.
PATH_PREFIXES = ("/v1/units/", "/v1/recalls", "/epcis/", "/regulator")
STATE = "passport.reads"  # the scope key: {"replica": name of the standby used or None, "primary": forced}


def replica_for(request: Request) -> Replica | None:
    """The standby this request's session reads, or None for the primary."""
    state = request.scope.get(STATE)
    if state is None or state["primary"] or request.method not in ("GET", "HEAD"):
        return None
    route = request.scope.get("route")
    path = getattr(route, "path", "")
    if not path.startswith(READ_PREFIXES):
        return None
    replicas = request.app.state.runtime.replicas
    replica: Replica | None = replicas.pick() if replicas is not None else None
    if replica is not None:
        state["replica"] = replica.name
    return replica


class PrimarySecondLook:
    """Run a GET again on the primary when its answer from a standby was not a success (see the module)."""

    def __init__(self, app: ASGIApp, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled
        self.second_looks = 0  # requests answered by the primary after a standby's refusal, for tests and metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.enabled
            or scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(PATH_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = {"replica": None, "primary": False}
        held = sent = False

        async def holding_send(message: Message) -> None:
            nonlocal held, sent
            if message["type"] == "http.response.start" and state["replica"] and message["status"] >= 300:
                held = True
            if not held:
                sent = True
                await send(message)

        try:
            await self.app({**scope, STATE: state}, receive, holding_send)
        except Exception:
            if not state["replica"] or sent:
                raise
            held = True
        if not held:
            return
        self.second_looks += 1
        again: dict[str, Any] = {"replica": None, "primary": True}
        await self.app({**scope, STATE: again}, _empty_body, send)


async def _empty_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
