"""Webhook POSTs that do not reach the service's own network, unless the deployment allows it.

A webhook URL is whatever an organisation registers: unguarded, it could make the service POST to itself, to its
database or cache, or to a cloud metadata endpoint (server-side request forgery). A URL naming a private,
loopback or link-local address (in any of the numeric forms the system accepts), or ``localhost``, is refused at
registration. At delivery the host is resolved here, every address it resolves to is judged before any
connection is made, and the connection goes to those checked addresses only (no second lookup that a name could
answer differently); the address the socket reached is checked once more before anything is sent. What counts as
public is ``app.domain.addresses``. Deployments whose receivers live on an internal network turn this off
(``PASSPORT_WEBHOOK_PRIVATE_ADDRESSES=true``). Connections are direct: no proxy from the environment.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from app.domain.addresses import is_public

TIMEOUT_SECONDS = 10


class PrivateAddress(OSError):
    """The endpoint's address is private, loopback, link-local or otherwise not on the public internet."""


def _public_only(create_connection: Callable[..., socket.socket]) -> Callable[..., socket.socket]:
    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address
        resolved = [info[4][0] for info in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)]
        for candidate in resolved:
            if not is_public(candidate):
                raise PrivateAddress(f"{host} is the address {candidate}, which is not public: nothing was sent")
        last_error: OSError = OSError(f"{host} resolves to no address")
        for candidate in dict.fromkeys(resolved):
            try:
                sock = create_connection((candidate, port), *args, **kwargs)
            except OSError as error:
                last_error = error
                continue
            peer = sock.getpeername()[0]
            if not is_public(peer):  # cannot happen after the checks above; kept so no change elsewhere opens it
                sock.close()
                raise PrivateAddress(f"the endpoint's address {peer} is not public: nothing was sent")
            return sock
        raise last_error

    return connect


class _PublicOnly:
    """Mixed into http.client's connections: the peer is checked as the socket connects, before TLS and before
    any byte is sent."""

    _create_connection: Callable[..., socket.socket]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _public_only(self._create_connection)


class _GuardedHTTP(_PublicOnly, http.client.HTTPConnection):
    pass


class _GuardedHTTPS(_PublicOnly, http.client.HTTPSConnection):
    pass


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTP, req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_GuardedHTTPS, req, context=self._context)  # type: ignore[attr-defined]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body; a redirect is a failed attempt instead.
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def http_post(url: str, body: bytes, headers: Mapping[str, str], *, allow_private: bool = False) -> int:
    """POST with the standard library; the HTTP status, whatever it is. Network failures (and a private address,
    unless allowed) raise."""
    # Only http(s) URLs are ever registered (validate_url), so urllib's file: and ftp: handlers are out of reach.
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({}), _NoRedirect()]
    if not allow_private:
        handlers += [_GuardedHTTPHandler(), _GuardedHTTPSHandler()]
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return error.code
    except urllib.error.URLError as error:
        if isinstance(error.reason, PrivateAddress):
            raise error.reason from None
        raise
