"""The HTTP protocol ``passport serve`` runs: uvicorn's httptools protocol with TCP_NODELAY on every connection.

asyncio's transports turn Nagle's algorithm off only for a socket whose ``proto`` says TCP; the connections a
``--workers N`` server accepts on the socket uvicorn binds itself say 0, so they kept it, and an answer written in
two pieces (the head, then the body) waited for the client's delayed ACK: ~40 ms a request (two workers on asyncio's
loop served 1,370 scans/s at p50 44 ms, docs/benchmarks.md). uvloop sets TCP_NODELAY on every TCP connection; this
does the same whichever loop serves.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # the peer has gone already: the protocol's own handling follows
                pass
        super().connection_made(transport)
