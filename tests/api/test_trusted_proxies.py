"""Forwarded headers through a real `passport serve`: believed only from PASSPORT_TRUSTED_PROXIES, so a local
process cannot pick the client address the verification rate limit counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from tests.helpers import BASE_URL, GTIN, MASTER_KEY, free_port

PASSPORT = str(Path(sys.executable).with_name("passport"))
ROOT = Path(__file__).resolve().parents[2]  # the checkout under test, whatever the installed one is
LIMIT = 3  # scans per minute and client


@contextmanager
def passport_serve(database_url: str, log: Path, **environment: str) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_") and k != "FORWARDED_ALLOW_IPS"}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        PASSPORT_DATABASE_URL=database_url,
        PASSPORT_MASTER_KEY=MASTER_KEY,
        PASSPORT_BASE_URL=BASE_URL,
        PASSPORT_VERIFY_RATE_LIMIT=f"{LIMIT}/minute",
        PASSPORT_SIGNING_WORKERS="1",
        PASSPORT_SCAN_WRITER="inline",
        PASSPORT_CHECKPOINT_INTERVAL_SECONDS="0",
        PASSPORT_WEBHOOK_INTERVAL_SECONDS="0",
        **environment,
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PASSPORT, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"passport serve exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"passport serve did not answer: {log.read_text()[-3000:]}"
            with suppress(OSError), urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    break
            time.sleep(0.1)
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def scan(url: str, forwarded_for: str | None) -> int:
    headers = {"Accept": "application/json"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    request = urllib.request.Request(f"{url}/01/{GTIN}/21/NOSUCHSERIAL", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


@pytest.mark.parametrize(
    "environment",
    [
        {},  # the default: no proxy is trusted
        {"FORWARDED_ALLOW_IPS": "*"},  # uvicorn's own variable does not open it either
        {"PASSPORT_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7"},  # proxies elsewhere: not this peer
    ],
    ids=["default", "uvicorn-env", "other-proxies"],
)
def test_a_client_that_varies_x_forwarded_for_is_still_one_client(database_url, tmp_path, environment):
    with passport_serve(database_url, tmp_path / "serve.log", **environment) as url:
        answers = [scan(url, f"203.0.113.{n}") for n in range(LIMIT + 1)]
        assert answers == [200] * LIMIT + [429], answers
        assert scan(url, None) == 429
        assert scan(url, "198.51.100.1, 203.0.113.99") == 429


def test_the_header_is_believed_from_a_trusted_proxy(database_url, tmp_path):
    with passport_serve(database_url, tmp_path / "serve.log", PASSPORT_TRUSTED_PROXIES="127.0.0.1") as url:
        assert [scan(url, f"203.0.113.{n}") for n in range(LIMIT + 1)] == [200] * (LIMIT + 1)  # four clients
        assert [scan(url, "203.0.113.0") for _ in range(LIMIT)] == [200] * (LIMIT - 1) + [429]  # one client
        assert [scan(url, None) for _ in range(LIMIT + 1)] == [200] * LIMIT + [429]  # the proxy itself
        assert scan(url, "203.0.113.200") == 200
        # the right-most address the trusted proxy did not add is the client: a prepended one changes nothing
        assert scan(url, "198.51.100.9, 203.0.113.0") == 429
        assert scan(url, "203.0.113.0, 198.51.100.9") == 200


def test_trusted_proxies_are_addresses_or_networks():
    assert Settings(trusted_proxies=" 127.0.0.1, 10.0.0.0/8 ,::1,").trusted_proxies == "127.0.0.1/32,10.0.0.0/8,::1/128"
    assert Settings().trusted_proxies == ""
    for wrong in ("*", "localhost", "10.0.0.0/33", "127.0.0.1 10.0.0.1"):
        with pytest.raises(ValidationError, match="PASSPORT_TRUSTED_PROXIES"):
            Settings(trusted_proxies=wrong)
