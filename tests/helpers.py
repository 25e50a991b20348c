"""What the test modules share: the test settings, a served app, an organisation's handle, and the shorthands of the
API tests (post an event, read its results, verify a code, check a problem document).

Test modules import from here and from tests/strategies.py, never from one another (tests/unit/test_architecture.py
checks it); fixtures shared by several modules live in the conftest.py files.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from app.config import Settings

MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
BASE_URL = "https://passport.test"
GTIN = "09506000134352"  # GS1's own example GTIN (GS1 Digital Link standard)
JSON = {"Accept": "application/json"}
SSCC_CASE_1 = "106141411234567897"
SSCC_CASE_2 = "106141412345678908"
SSCC_PALLET = "376104250021234569"


# ------------------------------------------------------------------------------------------------- settings, servers


def settings_for(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "master_key": MASTER_KEY,
        "base_url": BASE_URL,
        "verify_rate_limit": "0",
        "signing_workers": 1,
        "scan_writer": "inline",
        "webhook_private_addresses": True,  # the tests' webhook receivers listen on loopback
    }
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """An app behind a real uvicorn on loopback, in a thread: real sockets, real disconnects, real browsers."""
    port = port or free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(10)


@dataclass(frozen=True)
class Org:
    id: str
    api_key: str
    role: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


# ------------------------------------------------------------------------------------------------- API shorthands


def post(client: Any, org: Any, body: Any) -> Any:
    """POST /v1/events as ``org``."""
    return client.post("/v1/events", json=body, headers=org.headers)


def ok(response: Any) -> list[dict[str, Any]]:
    """The per-code results of a 201 from POST /v1/events."""
    assert response.status_code == 201, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def verify(client: Any, uri: str) -> dict[str, Any]:
    """The JSON verification of a code, by its Digital Link URI."""
    response = client.get(uri.replace(BASE_URL, ""), headers=JSON)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem document with this status and code, and a title, a detail and a type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


def serial(uri: str) -> str:
    """The serial (AI 21) of a Digital Link URI."""
    return uri.split("/21/")[1].split("?")[0]


# ------------------------------------------------------------------------------------------------- races


def race(pool: ThreadPoolExecutor, calls: list[Callable[[], Any]], stagger: list[float] | None = None) -> list[Any]:
    """Run the calls on their own threads, released together by a barrier (optionally each delayed by stagger[i])."""
    barrier = threading.Barrier(len(calls))

    def run(index: int, call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        if stagger and stagger[index]:
            time.sleep(stagger[index])
        return call()

    futures = [pool.submit(run, i, call) for i, call in enumerate(calls)]
    return [f.result(timeout=120) for f in futures]


def poster(client: Any, key: Any, body: dict[str, Any]) -> Callable[[], Any]:
    """A call that POSTs this event as ``key`` (for ``race``)."""
    return lambda: client.post("/v1/events", json=body, headers=key.headers)
