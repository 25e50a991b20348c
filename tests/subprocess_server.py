"""`passport serve` as a real subprocess, in a session (process group) of its own, and the processes under it:
for the tests that kill a server with SIGKILL (durable jobs, children that die with their parent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from tests.helpers import BASE_URL, MASTER_KEY, free_port

PASSPORT = str(Path(sys.executable).with_name("passport"))


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill_group(self) -> None:
        """SIGKILL the whole process group: the server and every process it started (the crash tests)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def environment(database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")}
    env.update(
        PASSPORT_DATABASE_URL=database_url,
        PASSPORT_MASTER_KEY=MASTER_KEY,
        PASSPORT_BASE_URL=BASE_URL,
        PASSPORT_VERIFY_RATE_LIMIT="0",
        PASSPORT_CHECKPOINT_INTERVAL_SECONDS="0",
        PASSPORT_WEBHOOK_INTERVAL_SECONDS="0",
    )
    env.update({f"PASSPORT_{k.upper()}": v for k, v in settings.items()})
    return env


@contextmanager
def passport_serve(database_url: str, log: Path, *args: str, **settings: str) -> Iterator[Served]:
    """Start ``passport serve`` on a free port, wait until it answers, and SIGKILL its process group at the end
    (whatever a test left running, orphans included: they keep the group)."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [PASSPORT, "serve", "--port", str(port), "--log-level", "warning", "--no-access-log", *args],
            env=environment(database_url, **settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"passport serve exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"passport serve did not answer: {log.read_text()[-3000:]}"
            with suppress(httpx.HTTPError):
                if httpx.get(f"{served.url}/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        yield served
    finally:
        served.kill_group()


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Running (a zombie has finished: it only waits for whoever adopted it to reap it)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid and stat[0] not in ("Z", "X"):
                found.add(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def command_line(pid: int) -> str:
    with suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    return ""
