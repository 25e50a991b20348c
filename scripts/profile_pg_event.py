"""Where PostgreSQL's backend time of one single event goes: per statement, from pg_stat_statements.

Needs a PostgreSQL cluster with ``shared_preload_libraries = 'pg_stat_statements'`` and
``pg_stat_statements.track = all`` (statements run inside triggers and functions counted too), and for the
trigger functions' own time ``track_functions = all``; given by --admin-url (a database there, with the extension
created in it, to connect to; the run makes and drops its own ``bench_profile_event``). A throwaway one, as root:

    mkdir /tmp/pgprof && chown postgres /tmp/pgprof
    runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D /tmp/pgprof/data -U postgres --auth=trust
    # append port = 55432, shared_preload_libraries, pg_stat_statements.track = all, track_functions = all
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgprof/data -l /tmp/pgprof/log -w start

A manufacturer ships --events single units to a distributor, one ``POST /v1/events`` each, from --clients
threads each with one kept connection; the counters are reset after a warm-up. Printed: the database's backends'
CPU per event (as bench_single_events.py measures it), then each statement's calls, execution time, rows and shared
buffers per event (top-level and nested: a trigger's statements appear beside the statement that fired them, so
the times overlap; the ``nested`` column says which), and the trigger functions' time per event.

    .venv/bin/python scripts/profile_pg_event.py --admin-url postgresql://postgres@127.0.0.1:55432/test
        [--events 3000] [--clients 1] [--units N] [--source DIR] [--env KEY=VALUE] [--top 25] [--keep]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import bench_common as bc
from bench_single_events import KeptClient, Shipments

PG_NAME = "bench_profile_event"

_STATEMENTS = """
SELECT s.toplevel, s.calls, s.total_exec_time, s.rows, s.shared_blks_hit, s.shared_blks_read,
       s.shared_blks_dirtied, s.shared_blks_written, s.wal_bytes, s.plans, s.total_plan_time, s.query
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = %s ORDER BY s.total_exec_time DESC
"""


def user_sys(pids: list[int]) -> dict[int, tuple[float, float]]:
    """User and system CPU seconds of each of these processes so far (from /proc/<pid>/stat)."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) / bc._TICK, int(fields[12]) / bc._TICK)
    return found


def _backends() -> list[int]:
    return [p for p in bc.postgres_pids(PG_NAME) if f" {PG_NAME} " in bc.cmdline(p)]


def reset(admin_url: str, url: str) -> None:
    """The statements' counters (the extension is in the admin database), the database's function counters."""
    with bc.pg_connect(admin_url) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
    with bc.pg_connect(url) as conn:
        conn.execute("SELECT pg_stat_reset()")


def report(admin_url: str, url: str, events: int, top: int) -> None:
    with bc.pg_connect(admin_url) as conn:
        rows = conn.execute(_STATEMENTS, (PG_NAME,)).fetchall()
    with bc.pg_connect(url) as conn:
        functions = conn.execute(
            "SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions ORDER BY total_time DESC"
        ).fetchall()
    total_top = sum(r[2] for r in rows if r[0])
    print(f"top-level statements: {total_top / events:.3f} ms of execution per event (planning apart)")
    print(
        f"planning: {sum(r[10] for r in rows) / events:.3f} ms per event, {sum(r[9] for r in rows) / events:.2f} plans"
    )
    table = []
    for toplevel, calls, ms, nrows, hit, read, dirtied, written, wal, _plans, plan_ms, query in rows[:top]:
        text = " ".join(query.split())
        table.append(
            [
                "top" if toplevel else "nested",
                f"{calls / events:.2f}",
                f"{ms / events:.3f}",
                f"{plan_ms / events:.3f}",
                f"{nrows / max(calls, 1):.1f}",
                f"{hit / events:.1f}",
                f"{(read + written) / events:.2f}",
                f"{dirtied / events:.2f}",
                f"{int(wal) / events:.0f}",
                text[:150],
            ]
        )
    headers = [
        "level",
        "calls/ev",
        "exec ms/ev",
        "plan ms/ev",
        "rows/call",
        "hit/ev",
        "rd+wr/ev",
        "dirt/ev",
        "WAL B/ev",
    ]
    print(bc.table([*headers, "statement"], table))
    if functions:
        print("\nfunctions (track_functions = all): calls, total and self ms per event")
        for name, calls, total, self_time in functions:
            print(f"  {name}: {calls / events:.2f} calls, {total / events:.3f} ms, self {self_time / events:.3f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", required=True, help="a database on a cluster with pg_stat_statements loaded")
    parser.add_argument("--events", type=int, default=3000, help="single ship events measured (default 3000)")
    parser.add_argument("--units", type=int, help="units issued (default: events + 200)")
    parser.add_argument("--source", help="run another source tree (e.g. a git archive of HEAD) as the service")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server (a PASSPORT_ setting)")
    parser.add_argument("--clients", type=int, default=1, help="client threads posting at once (default 1)")
    parser.add_argument("--keep", action="store_true", help="leave the database for EXPLAIN (dropped next run)")
    parser.add_argument("--top", type=int, default=25, help="statements printed (default 25)")
    args = parser.parse_args(argv)
    if args.source:
        bc.use_source(args.source)
    bc.PG_ADMIN_URL = args.admin_url  # pg_url's base; the admin connections below are given it explicitly
    units = args.units or args.events + 200
    api = KeptClient()
    with bc.scratch_dir("passport-profile-event-") as workdir:
        with bc.pg_connect(args.admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_NAME}"')
        url = bc.pg_url(PG_NAME)
        extra = dict(item.split("=", 1) for item in args.env)
        env = bc.passport_env(url, workdir, **{"PASSPORT_VERIFY_RATE_LIMIT": "0", **extra})
        server = bc.db_server("postgresql", env, workdir)
        try:
            bc.run_passport(["init"], env, workdir)
            server.start()
            base = server.base
            shipments = Shipments.prepare(base, env, workdir, units, "PROFILE")

            def ship_one() -> None:
                shipments.ship(api, base)

            for _ in range(150):  # warm-up: connections, plans, caches
                ship_one()
            with bc.pg_connect(url) as conn:
                conn.execute("VACUUM ANALYZE")
            load = bc.wait_for_quiet(5)
            reset(args.admin_url, url)
            backends = bc.CpuMeter(_backends)
            server_cpu = bc.CpuMeter(lambda: [server.pid, *bc.children(server.pid)])
            split = user_sys(_backends())  # a backend opened during the run counts from 0
            backends.start()
            server_cpu.start()
            start = time.perf_counter()
            shares = [args.events // args.clients + (i < args.events % args.clients) for i in range(args.clients)]
            errors: list[BaseException] = []

            def client(n: int) -> None:
                try:
                    for _ in range(n):
                        ship_one()
                except Exception as error:  # the run is void; said below
                    errors.append(error)

            threads = [threading.Thread(target=client, args=(n,)) for n in shares]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - start
            if errors:
                raise RuntimeError(f"{len(errors)} clients failed, first: {errors[0]!r}")
            pg_ms, server_ms = 1000 * backends.stop() / args.events, 1000 * server_cpu.stop() / args.events
            print(
                f"{args.events} single ship events, {args.clients} client(s),"
                f" {elapsed:.1f} s: {args.events / elapsed:.0f}/s"
            )
            after = user_sys(_backends())  # a backend closed during the run is missing here (CpuMeter's too)
            user, system = (
                1000 * sum(cpu[i] - split.get(pid, (0.0, 0.0))[i] for pid, cpu in after.items()) / args.events
                for i in (0, 1)
            )
            print(
                f"backend CPU {pg_ms:.3f} ms per event (its user {user:.3f}, system {system:.3f}),"
                f" server CPU {server_ms:.3f} ms per event, load before {load:.2f} cores busy"
            )
            report(args.admin_url, url, args.events, args.top)
        except BaseException:
            bc.print_server_log(server)
            raise
        finally:
            server.stop()
            if args.keep:
                print(f"kept database {PG_NAME}")
            else:
                with bc.pg_connect(args.admin_url) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    bc.run_main(main)
