"""One transaction per request: a failed commit is never a 2xx, and a code stream is all-or-nothing."""

from __future__ import annotations

import json
import socket
import time

import httpx2
import pytest
from sqlalchemy import event, func, select

from app.db.models import Issuance, Product, Unit
from tests.helpers import GTIN


def _counts(runtime) -> tuple[int, int]:
    with runtime.sessions() as session:
        units = session.scalar(select(func.count()).select_from(Unit))
        issuances = session.scalar(select(func.count()).select_from(Issuance))
        return units, issuances


class CommitFails(Exception):
    pass


def test_failed_commit_is_a_500_and_leaves_nothing(client, runtime, maker):
    def refuse(_session):
        raise CommitFails("disk full")

    event.listen(runtime.sessions, "before_commit", refuse)
    try:
        response = client.post(
            "/v1/products", json={"gtin": GTIN, "name": "x", "category": "food"}, headers=maker.headers
        )
    finally:
        event.remove(runtime.sessions, "before_commit", refuse)
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    with runtime.sessions() as session:
        assert session.get(Product, GTIN) is None


def _wait_idle(runtime, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while runtime.engine.pool.checkedout() > 0:
        assert time.monotonic() < deadline, "the issuance stream never released its connection"
        time.sleep(0.05)


def test_client_disconnect_mid_stream_records_nothing(server, runtime, maker, batch):
    body = json.dumps({"count": 200_000}).encode()
    request = (
        f"POST /v1/batches/{batch['id']}/codes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {maker.api_key}\r\n"
        f"Accept: application/x-ndjson\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request)
        received = b""
        while received.count(b"\n") < 5_000:
            chunk = sock.recv(65536)
            assert chunk, "server closed early"
            received += chunk
    assert b"201 Created" in received.split(b"\r\n", 1)[0]
    time.sleep(0.5)
    _wait_idle(runtime)
    assert _counts(runtime) == (0, 0)

    # The database is free again and a complete request records everything it sent.
    with httpx2.Client(base_url=server, timeout=60) as http:
        response = http.post(
            f"/v1/batches/{batch['id']}/codes",
            json={"count": 12_000},
            headers={**maker.headers, "Accept": "application/x-ndjson"},
        )
    assert response.status_code == 201
    assert len(response.text.splitlines()) == 12_000
    _wait_idle(runtime)
    assert _counts(runtime) == (12_000, 1)


def test_a_failing_final_commit_breaks_the_stream_and_records_nothing(server, runtime, maker, batch):
    """Only the stream's own transaction (the one that inserted the issuance) fails to commit."""

    def mark(conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO ISSUANCE"):
            conn.info["issuing"] = True

    def refuse(conn):
        if conn.info.pop("issuing", False):
            raise CommitFails("commit refused")

    event.listen(runtime.engine, "before_cursor_execute", mark)
    event.listen(runtime.engine, "commit", refuse)
    try:
        with httpx2.Client(base_url=server, timeout=60) as http, pytest.raises(httpx2.HTTPError):
            with http.stream(
                "POST",
                f"/v1/batches/{batch['id']}/codes",
                json={"count": 6_000},
                headers={**maker.headers, "Accept": "application/x-ndjson"},
            ) as response:
                assert response.status_code == 201
                for _ in response.iter_lines():
                    pass
        _wait_idle(runtime)
    finally:
        event.remove(runtime.engine, "commit", refuse)
        event.remove(runtime.engine, "before_cursor_execute", mark)
    assert _counts(runtime) == (0, 0)
