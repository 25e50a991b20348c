"""Shared helpers for the benchmark scripts (scripts/bench_*.py).

Only the standard library plus what the project's venv has (psycopg for PostgreSQL housekeeping). Nothing here is
imported by the service; it drives ``passport`` as an outside client would: the console script and the HTTP API.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench-results"
_TICK = os.sysconf("SC_CLK_TCK")
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def interruptible() -> None:
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, so every ``finally`` stops its servers and drops its databases.

    (A shell that starts a job in the background ignores SIGINT for it; Python keeps that unless told otherwise.)
    """

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _venv_bin(name: str) -> str:
    """The venv's copy of a console script (the one next to the running interpreter), else PATH's."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"cannot find {name!r}: run from the project's venv")
    return found


PASSPORT = _venv_bin("passport")
PYTHON = sys.executable
PASSPORT_ARGV = [PASSPORT]  # how to run the `passport` command; see use_source()
SOURCE: Path | None = None


def use_source(path: str | Path) -> None:
    """Run the service from another source tree (e.g. ``git archive HEAD | tar -x -C DIR``), not the installed one."""
    global SOURCE
    SOURCE = Path(path).resolve()
    if not (SOURCE / "app" / "cli.py").exists():
        raise SystemExit(f"{SOURCE} has no app/cli.py")
    PASSPORT_ARGV[:] = [PYTHON, "-m", "app.cli"]
    sys.path.insert(0, str(SOURCE))


# ---------------------------------------------------------------------------------------------------------------
# The machine


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        cores = os.cpu_count() or 1
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": cores,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether app/ had uncommitted changes (read-only git commands)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    if SOURCE is not None:
        return {"source": str(SOURCE), "repo_head": git("rev-parse", "--short", "HEAD")}
    dirty = [line for line in git("status", "--porcelain", "--", "app", "migrations").splitlines() if line]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_app_files": len(dirty)}


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"machine: {info['cpu_model']}, {info['cores']} cores (nproc), {info['memory_gib']} GiB RAM, "
        f"Python {info['python']}, Linux {info['kernel']}"
    )


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot, from /proc/stat (iowait counts as idle)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def busy_cores(before: tuple[int, int], after: tuple[int, int], seconds: float) -> float:
    """Cores kept busy by everything on the machine between two cpu_jiffies() snapshots."""
    return (after[0] - before[0]) / _TICK / seconds if seconds > 0 else 0.0


def background_load(seconds: float = 1.0) -> float:
    """Cores busy while this benchmark does nothing: other people's work on a shared machine."""
    start, t0 = cpu_jiffies(), time.perf_counter()
    time.sleep(seconds)
    return busy_cores(start, cpu_jiffies(), time.perf_counter() - t0)


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (up to ``max_wait`` s) until the machine's background load is under ``threshold`` cores; return it."""
    deadline = time.monotonic() + max_wait
    load = background_load()
    announced = False
    while load > threshold and time.monotonic() < deadline:
        if not announced:
            print(
                f"  machine busy with other work ({load:.2f} cores); waiting up to {max_wait:.0f} s for quiet",
                flush=True,
            )
            announced = True
        load = background_load(2.0)
    if load > threshold:
        print(f"  warning: measuring with {load:.2f} cores of background load", flush=True)
    return load


# ---------------------------------------------------------------------------------------------------------------
# Tables and results


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


# ---------------------------------------------------------------------------------------------------------------
# Load with wrk (scripts/bench_verify.py, bench_partner_verify.py, bench_passport_scan.py)

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing it with: apt-get install -y wrk", flush=True)
    install = subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, text=True)
    if install.returncode != 0:
        print("apt-get install failed; running: apt-get update, then apt-get install -y wrk", flush=True)
        subprocess.run(["apt-get", "update"], capture_output=True, text=True)
        install = subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, text=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit(f"could not install wrk:\n{install.stdout[-2000:]}{install.stderr[-2000:]}")
    print(f"installed {found}", flush=True)
    return found


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"cannot read a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Read req/s, the latency distribution (--latency) and the error counts from wrk's report."""
    result: dict[str, Any] = {}
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.M)
    if not rps:
        raise ValueError(f"no Requests/sec in wrk output:\n{output}")
    result["requests_per_s"] = float(rps.group(1))
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M)
        if match:
            result[f"p{pct}_ms"] = _ms(match.group(1))
    total = re.search(r"^\s+(\d+) requests in ([0-9.]+\w+),", output, re.M)
    if total:
        result["requests"] = int(total.group(1))
        result["duration_s"] = _ms(total.group(2)) / 1000
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True)) if sock else {}
    )
    done = re.search(r"^BENCH_DONE (.*)$", output, re.M)
    if done:
        result["lua_done"] = {k: int(v) for k, v in (kv.split("=") for kv in done.group(1).split())}
    return result


def run_wrk(
    wrk: str,
    base: str,
    script: Path,
    paths: Path,
    duration: int,
    connections: int,
    threads: int = 2,
    script_args: tuple[str, ...] = (),
) -> tuple[dict[str, Any], str]:
    """Load ``base`` with wrk and a Lua script given the sample file (and ``script_args``) after ``--``."""
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
        base + "/",
        "--",
        str(paths),
        *script_args,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return parse_wrk(proc.stdout), proc.stdout


# ---------------------------------------------------------------------------------------------------------------
# Databases


def pg_connect(url: str = PG_ADMIN_URL):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url, autocommit=True)


def pg_url(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def pg_recreate(name: str) -> str:
    if not name.startswith("bench_"):
        raise ValueError("benchmark databases are named bench_*")
    with pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url(name)


def pg_drop(name: str) -> None:
    if not name.startswith("bench_"):
        raise ValueError("benchmark databases are named bench_*")
    try:
        with pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as error:  # cleanup must not hide the real failure
        print(f"warning: could not drop database {name}: {error}", file=sys.stderr)


def count_units(database_url: str, batch_id: int | None = None) -> int:
    return count_rows(database_url, "unit", f"batch_id = {int(batch_id)}" if batch_id is not None else None)


def count_rows(database_url: str, table: str, where: str | None = None) -> int:
    return int(scalar(database_url, f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")))


def scalar(database_url: str, sql: str) -> Any:
    """The first column of the first row of ``sql``, on either database."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.split("///", 1)[1])
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    with pg_connect(database_url) as conn:
        return conn.execute(sql).fetchone()[0]


def empty_table(database_url: str, table: str) -> None:
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.split("///", 1)[1])
        try:
            conn.execute(f"DELETE FROM {table}")
            conn.commit()
            conn.execute("VACUUM")
        finally:
            conn.close()
        return
    with pg_connect(database_url) as conn:
        conn.execute(f"TRUNCATE {table}")


def database_size(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    name = database_url.rsplit("/", 1)[1]
    with pg_connect() as conn:
        return int(conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0])


# ---------------------------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def passport_env(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSPORT_")}
    env.update(
        PASSPORT_DATABASE_URL=database_url,
        PASSPORT_MASTER_KEY_FILE=str(workdir / "passport-master.key"),
        PASSPORT_SIGNING_WORKERS="0",
    )
    if SOURCE is not None:
        env["PYTHONPATH"] = str(SOURCE)
    env.update(extra)
    return env


def run_passport(args: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run([*PASSPORT_ARGV, *args], env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"passport {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def children(pid: int) -> list[int]:
    """All descendants of ``pid`` (from /proc/<pid>/task/*/children)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            stack.extend(kids)
    return found


def proc_status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            out[key] = value.strip()
    except OSError:
        pass
    return out


def peak_rss_kib(pid: int) -> int:
    value = proc_status(pid).get("VmHWM", "0 kB")
    return int(value.split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (from /proc/<pid>/stat)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


_PG_AUX = ("checkpointer", "background writer", "walwriter", "autovacuum", "logical replication")


def postgres_pids(database: str) -> list[int]:
    """PostgreSQL processes working for ``database``: its backends, plus the shared background processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        title = cmdline(int(entry.name))
        if title.startswith("postgres: ") and (f" {database} " in title or any(a in title for a in _PG_AUX)):
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds of a changing set of processes between start() and stop() (processes that exit are lost)."""

    def __init__(self, pids: Any) -> None:
        self._pids = pids  # a callable returning the pids to watch
        self._start: dict[int, float] = {}

    def start(self) -> None:
        self._start = {pid: cpu_seconds(pid) for pid in self._pids()}

    def stop(self) -> float:
        return sum(cpu_seconds(pid) - self._start.get(pid, 0.0) for pid in self._pids())


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@dataclass
class Server:
    """A server subprocess (``passport serve`` or uvicorn) on its own port, env, working directory and log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    log_path: Path
    health_path: str = "/healthz"
    proc: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Server:
        self._log = open(self.log_path, "ab")
        # Own process group: on stop, the signing workers and the resource tracker go with the server.
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} during start-up")
            try:
                with urllib.request.urlopen(self.base + self.health_path, timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {self.health_path} within {timeout:.0f} s")

    def stop(self, timeout: float = 20.0) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        try:
            if proc.poll() is None:
                pgid = proc.pid  # start_new_session: the group id is the server's own pid
                try:
                    os.kill(proc.pid, signal.SIGINT)  # uvicorn shuts down gracefully (lifespan closes the pool)
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
                try:
                    os.killpg(pgid, signal.SIGKILL)  # whatever is left of this group (workers, tracker)
                except ProcessLookupError:
                    pass
                proc.wait()
            else:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far: the server process itself, and all its live descendants together."""
        return {"server": cpu_seconds(self.pid), "children": sum(cpu_seconds(k) for k in children(self.pid))}

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def memory(self) -> dict[str, Any]:
        """Peak RSS (VmHWM) of the server and of each of its descendants (signing workers, resource tracker)."""
        kids = children(self.pid)
        per_child = [{"pid": k, "peak_rss_kib": peak_rss_kib(k), "cmd": cmdline(k)[:120]} for k in kids]
        workers = [c for c in per_child if "resource_tracker" not in c["cmd"]]
        return {
            "server_peak_rss_kib": peak_rss_kib(self.pid),
            "children": per_child,
            "max_child_peak_rss_kib": max((c["peak_rss_kib"] for c in workers), default=0),
            "children_peak_rss_sum_kib": sum(c["peak_rss_kib"] for c in per_child),
        }


QUIET_SERVER = ("--no-access-log", "--log-level", "warning")  # what a measured server logs: warnings only


def passport_server(
    name: str, env: dict[str, str], cwd: Path, log_path: Path, *extra: str, workers: int = 1, quiet: bool = False
) -> Server:
    """``passport serve`` on a free port; ``quiet``: no access log, warnings only (QUIET_SERVER, before ``extra``)."""
    port = free_port()
    argv = [*PASSPORT_ARGV, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    argv += [*(QUIET_SERVER if quiet else ()), *extra]
    return Server(name, argv, env, cwd, port, log_path)


def db_server(db: str, env: dict[str, str], workdir: Path, workers: int = 1) -> Server:
    """The quiet ``passport serve ({db})`` of a benchmark's run on one database, logging to workdir/server-{db}.log."""
    log = workdir / f"server-{db}.log"
    return passport_server(f"passport serve ({db})", env, workdir, log, workers=workers, quiet=True)


def print_server_log(server: Server, heading: str = "server log") -> None:
    """The tail of a server's log on stderr, for a run that failed."""
    print(f"\n--- {heading} ---\n{server.log_tail()}\n---", file=sys.stderr)


def print_server_logs(servers: list[Server]) -> None:
    """The tail of the log of each of ``servers`` that has one, each headed by its name and path."""
    for server in servers:
        if server.log_path.exists():
            print_server_log(server, f"{server.name} log ({server.log_path})")


def minimal_server(env: dict[str, str], database_url: str, workdir: Path, workers: int) -> Server:
    """scripts/minimal_app.py under uvicorn on ``database_url``: the floor a scan is compared with."""
    port = free_port()
    argv = [PYTHON, "-m", "uvicorn", "--app-dir", str(REPO / "scripts"), "minimal_app:app", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(workers), *QUIET_SERVER]
    return Server(
        "minimal_app", argv, {**env, "MINIMAL_DATABASE_URL": database_url}, workdir, port, workdir / "minimal.log"
    )


def db_url(db: str, workdir: Path, pg_name: str) -> str:
    """A run's database: a SQLite file in its working directory, or the PostgreSQL database ``pg_name`` made afresh."""
    return f"sqlite:///{workdir / 'passport.db'}" if db == "sqlite" else pg_recreate(pg_name)


@contextmanager
def serving(
    server: Server, db: str, pg_name: str, heading: str = "server log", also: tuple[Server, ...] = ()
) -> Iterator[Server]:
    """Around one run on one database: on failure, the tail of ``server``'s log; always, ``server`` and then the
    servers ``also`` stopped, and on PostgreSQL the database ``pg_name`` dropped (starting is the caller's)."""
    try:
        yield server
    except BaseException:
        print_server_log(server, heading)
        raise
    finally:
        server.stop()
        for other in also:
            other.stop()
        if db == "postgresql":
            pg_drop(pg_name)


@contextmanager
def scratch_dir(prefix: str, keep: bool = False, kept: str = "  kept {}") -> Iterator[Path]:
    """A temporary directory for one run (the SQLite file, the logs), removed afterwards unless ``keep``."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        if keep:
            print(kept.format(workdir))
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_main(main: Callable[[], int], *failures: type[BaseException]) -> NoReturn:
    """A script's ``if __name__ == "__main__"``: exit with main()'s code; 130 on Ctrl-C; 1 on one of ``failures``."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except failures as error:
        print(error, file=sys.stderr)
        sys.exit(1)


# ---------------------------------------------------------------------------------------------------------------
# The API, as a client


def api(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    key: str | None = None,
    accept: str = "application/json",
    timeout: float = 60.0,
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Accept": accept}
    if data is not None:
        headers["Content-Type"] = "application/json"
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw = error.read()
        status = error.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def api_ok(base: str, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    status, payload = api(base, method, path, body, key)
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} -> {status}: {payload}")
    return payload


def gtin_with_check(body13: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


def create_manufacturer(env: dict[str, str], cwd: Path, name: str = "Bench Pharma") -> dict[str, Any]:
    out = run_passport(
        [
            "orgs",
            "create",
            "--name",
            name,
            "--role",
            "manufacturer",
            "--licence",
            "drug_manufacturing",
            "--region",
            "CN-31",
        ],
        env,
        cwd,
    )
    return json.loads(out)


def create_product(base: str, key: str, gtin_body: str = "0950600013435") -> str:
    gtin = gtin_with_check(gtin_body[:13].rjust(13, "0"))
    api_ok(base, "POST", "/v1/products", {"gtin": gtin, "name": "Bench Amoxicillin 500 mg", "category": "drug_rx"}, key)
    return gtin


def create_batch(base: str, key: str, gtin: str, lot: str) -> int:
    today = datetime.now(UTC).date()
    payload = api_ok(
        base,
        "POST",
        "/v1/batches",
        {
            "gtin": gtin,
            "lot": lot,
            "manufactured_on": today.isoformat(),
            "expires_on": (today + timedelta(days=3 * 365)).isoformat(),
        },
        key,
    )
    return int(payload["id"])


# ---------------------------------------------------------------------------------------------------------------
# Streaming issuance through curl


@dataclass
class IssueResult:
    count: int
    lines: int
    bytes: int
    seconds: float
    http_status: int
    first_line: str
    sample: list[str]


def issue_ndjson(
    base: str, key: str, batch_id: int, count: int, sample_size: int = 0, seed: int | None = None
) -> IssueResult:
    """POST /v1/batches/{id}/codes with Accept: application/x-ndjson; curl receives, we count lines.

    With ``sample_size`` > 0, keep the ``uri`` of that many randomly chosen lines (decided before the stream).
    The clock runs from just before curl starts until curl has exited (the terminating chunk comes after commit).
    """
    import random
    import tempfile

    if shutil.which("curl") is None:
        raise SystemExit("curl is needed (apt-get install -y curl)")
    rng = random.Random(seed)
    wanted = set(rng.sample(range(count), min(sample_size, count))) if sample_size else set()
    with tempfile.NamedTemporaryFile(prefix="bench-headers-", suffix=".txt", delete=False) as handle:
        header_file = handle.name
    argv = [
        "curl",
        "-sS",
        "--no-buffer",
        "-o",
        "-",
        "-D",
        header_file,
        "-X",
        "POST",
        "-H",
        f"Authorization: Bearer {key}",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Accept: application/x-ndjson",
        "--data",
        json.dumps({"count": count}),
        f"{base}/v1/batches/{batch_id}/codes",
    ]
    lines = 0
    size = 0
    first = ""
    sample: list[str] = []
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        if wanted:
            for line in proc.stdout:
                if lines in wanted:
                    try:
                        sample.append(json.loads(line)["uri"])
                    except (ValueError, KeyError, TypeError):
                        pass  # not a code line (an error body): the status check below says why
                if not first:
                    first = line.decode()
                lines += 1
                size += len(line)
        else:
            head = b""
            while True:
                block = proc.stdout.read(1 << 20)
                if not block:
                    break
                if len(head) < 4096:
                    head += block[:4096]
                lines += block.count(b"\n")
                size += len(block)
            first = head.split(b"\n", 1)[0].decode(errors="replace")
        rc = proc.wait()
        seconds = time.perf_counter() - start
        err = proc.stderr.read().decode() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            headers = Path(header_file).read_text(errors="replace")
        finally:
            os.unlink(header_file)
    status = 0
    for line in headers.splitlines():
        if line.startswith("HTTP/"):
            status = int(line.split()[1])
    if rc != 0 or status != 201:
        raise RuntimeError(f"issuance failed: curl rc={rc} status={status} {err.strip()} first line: {first[:300]}")
    return IssueResult(count, lines, size, seconds, status, first.strip(), sample)
