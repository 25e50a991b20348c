"""A PostgreSQL primary and a streaming standby of its own, for the read-replica tests and scripts/bench_replica.py.

Built from the machine's PostgreSQL binaries (``/usr/lib/postgresql/<newest>/bin``): ``initdb`` a primary, start it,
``pg_basebackup -R`` a standby from it and start that, both on free loopback ports, run as the ``postgres`` user
when we are root (PostgreSQL refuses to run as root), in a temporary directory owned by it. ``stop()`` ends both
(immediate shutdown) and deletes the directory; it is safe to call twice and after a failed start.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PG_ROOT = Path("/usr/lib/postgresql")


def find_bin() -> Path | None:
    """The newest installed server's bin directory, or None."""
    if not PG_ROOT.is_dir():
        return None
    versions = sorted(
        (p for p in PG_ROOT.iterdir() if p.name.isdigit() and (p / "bin" / "pg_basebackup").exists()),
        key=lambda p: int(p.name),
    )
    return versions[-1] / "bin" if versions else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StandbyPair:
    """A primary and its streaming standby. ``primary_url``/``standby_url`` name database ``passport`` on each."""

    def __init__(self, bin_dir: Path, *, database: str = "passport") -> None:
        self.bin = bin_dir
        self.database = database
        self.root = Path(tempfile.mkdtemp(prefix="passport-standby-"))
        self.primary_port = _free_port()
        self.standby_port = _free_port()
        self._started: list[Path] = []
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        os.chmod(self.root, 0o700)

    @property
    def primary_dir(self) -> Path:
        return self.root / "primary"

    @property
    def standby_dir(self) -> Path:
        return self.root / "standby"

    def url(self, port: int, database: str | None = None) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{database or self.database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def standby_url(self) -> str:
        return self.url(self.standby_port)

    def libpq(self, port: int, database: str | None = None) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database or self.database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    def _start(self, data: Path, port: int) -> None:
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c shared_buffers=64MB"
        self._started.append(data)  # before starting: stop() also ends a server whose start timed out
        self._run("pg_ctl", "-D", str(data), "-l", str(self.root / f"{data.name}.log"), "-o", options, "-w", "start")

    def start(self) -> StandbyPair:
        try:
            self._run(
                "initdb", "-D", str(self.primary_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
            )
            with (self.primary_dir / "postgresql.conf").open("a") as conf:
                conf.write("\nwal_level = replica\nmax_wal_senders = 5\nhot_standby_feedback = on\n")
                conf.write("synchronous_commit = on\nwal_writer_delay = 10ms\nmax_connections = 200\n")
            self._start(self.primary_dir, self.primary_port)
            with psycopg.connect(self.libpq(self.primary_port, "postgres"), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
            self._run(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
                "-D", str(self.standby_dir), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast",
            )  # fmt: skip
            self._start(self.standby_dir, self.standby_port)
            self.wait_caught_up()
        except BaseException:
            self.stop()
            raise
        return self

    def primary(self, database: str | None = None) -> psycopg.Connection:
        return psycopg.connect(self.libpq(self.primary_port, database), autocommit=True)

    def standby(self, database: str | None = None) -> psycopg.Connection:
        return psycopg.connect(self.libpq(self.standby_port, database), autocommit=True)

    def wait_caught_up(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary has flushed now (replay resumed first)."""
        with self.primary("postgres") as primary, self.standby("postgres") as standby:
            target = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone()[0]  # type: ignore[index]
            standby.execute("SELECT pg_wal_replay_resume()")
            deadline = time.monotonic() + timeout
            while True:
                done = standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(target),)).fetchone()[0]  # type: ignore[index]
                if done:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the standby did not replay up to {target} within {timeout} s")
                time.sleep(0.02)

    def pause_replay(self) -> None:
        with self.standby("postgres") as standby:
            standby.execute("SELECT pg_wal_replay_pause()")
            while standby.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":  # type: ignore[index]
                time.sleep(0.01)

    def resume_replay(self) -> None:
        self.wait_caught_up()

    def stop(self) -> None:
        while self._started:
            data = self._started.pop()
            try:
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
            except Exception:  # not running (a failed start): nothing to end
                pass
        shutil.rmtree(self.root, ignore_errors=True)
