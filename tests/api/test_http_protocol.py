"""``passport serve``'s HTTP protocol turns Nagle's algorithm off on every connection, on asyncio's loop too.

The listening socket is made as uvicorn makes it for ``--workers N`` (``proto`` 0), where asyncio's own transport
leaves TCP_NODELAY off: the case that cost two workers ~40 ms a request (docs/benchmarks.md, sold packs)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.api.http_protocol import NoDelayHttpToolsProtocol


async def _nodelay_of_accepted(protocol_class: type[HttpToolsProtocol]) -> int:
    async def app(scope, receive, send):  # pragma: no cover - no request is sent
        raise AssertionError("not called")

    config = Config(app=app, lifespan="off")
    config.load()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's Config.bind_socket
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    loop = asyncio.get_running_loop()
    made: list[HttpToolsProtocol] = []

    def factory() -> HttpToolsProtocol:
        made.append(protocol_class(config=config, server_state=ServerState(), app_state={}))
        return made[-1]

    server = await loop.create_server(factory, sock=listener)
    _reader, writer = await asyncio.open_connection(*listener.getsockname()[:2])
    try:
        for _ in range(200):
            if made and getattr(made[0], "transport", None) is not None:
                break
            await asyncio.sleep(0.005)
        accepted = made[0].transport.get_extra_info("socket")
        return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_a_connection_accepted_on_a_proto_0_socket_gets_tcp_nodelay():
    assert asyncio.run(_nodelay_of_accepted(NoDelayHttpToolsProtocol)) != 0


def test_without_it_asyncio_leaves_nagle_on_there():
    """The case the protocol exists for: if asyncio ever sets it itself, the protocol may go."""
    if asyncio.run(_nodelay_of_accepted(HttpToolsProtocol)) != 0:
        pytest.skip("this Python's asyncio sets TCP_NODELAY on such sockets itself")
    assert asyncio.run(_nodelay_of_accepted(HttpToolsProtocol)) == 0


def test_serve_runs_that_protocol(monkeypatch):
    import uvicorn

    import app.cli

    ran = {}
    monkeypatch.setattr(app.cli, "load_master_key", lambda settings: None)
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: ran.update(options))
    assert app.cli.main(["serve", "--port", "1"]) == 0
    served = Config(app=lambda *args: None, http=ran["http"])
    served.load()
    assert served.http_protocol_class is NoDelayHttpToolsProtocol
