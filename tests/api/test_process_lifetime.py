"""Children die with their parent: after ``kill -9`` of the serving process, none of the processes it started
(signing workers, the scan writer, the multiprocessing resource tracker; with ``--workers 2`` the uvicorn
workers and theirs) lives on."""

from __future__ import annotations

import sys
import time

import httpx2 as httpx
import pytest

from tests.helpers import BASE_URL
from tests.subprocess_server import alive, command_line, descendants, passport_serve

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _start_children(url: str, maker_headers: dict[str, str], batch_id: int) -> None:
    """Make the server start what it starts lazily: the signing pool (an issuance of 2,000 codes or more) and
    the scan writer (a scan, written at the next flush)."""
    for _ in range(2):  # with --workers 2, likely both workers
        issued = httpx.post(
            f"{url}/v1/batches/{batch_id}/codes", json={"count": 2500}, headers=maker_headers, timeout=120
        )
        assert issued.status_code == 201, issued.text
        uri = issued.json()["codes"][0]["uri"]
        scanned = httpx.get(url + uri.replace(BASE_URL, ""), headers={"Accept": "application/json"}, timeout=30)
        assert scanned.status_code == 200, scanned.text


def _wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_of_the_server_takes_its_children_along(database_url, maker, batch, tmp_path, workers):
    args = ("--workers", str(workers)) if workers > 1 else ()
    with passport_serve(
        database_url, tmp_path / "serve.log", *args, signing_workers="2", scan_flush_seconds="0.2"
    ) as served:
        _start_children(served.url, maker.headers, batch["id"])
        # A signing worker, the scan writer and the resource tracker (with --workers 2: under the uvicorn workers).
        least = 3 if workers == 1 else 5
        assert _wait_for(lambda: len(descendants(served.pid)) >= least, 20), descendants(served.pid)
        time.sleep(0.5)  # let the writer's initializer run
        family = descendants(served.pid)
        described = {pid: command_line(pid) for pid in family}
        assert any("resource_tracker" in line for line in described.values()), described

        served.process.kill()  # SIGKILL to the serving process only, not its group
        served.process.wait(10)

        # Each child notices within a quarter second of running again; a loaded machine may keep a child that is
        # still starting (importing, before its watch begins) off the CPU for seconds.
        assert _wait_for(lambda: not any(alive(pid) for pid in family), 30), {
            pid: described[pid] for pid in family if alive(pid)
        }
