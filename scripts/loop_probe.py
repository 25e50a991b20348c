#!/usr/bin/env python3
"""``passport`` with a probe of one serving process's event loop: where a scan's latency goes (issue 17, sold packs).

Run ``LOOP_PROBE_OUT=FILE python scripts/loop_probe.py serve --workers 1 ...`` (the ``passport`` command's
arguments; the environment of ``bench_verify.py``'s server, e.g. on its ``--keep`` directory), load it (wrk), stop
it with SIGINT; then ``python scripts/loop_probe.py --report FILE [SKIP_S]``. FILE holds, on the monotonic clock:

- ``lag``: a ``call_at`` chain 1 ms apart: each tick's due time, its drift, the loop thread's CPU time and its
  run delay (``/proc/thread-self/schedstat``) at the tick: between two ticks the loop ran, waited for a core, or
  neither (blocked on the GIL, or idle);
- ``requests``: (application start, answer sent, the parser saw the request begin) and the client's port of each
  HTTP request; ``connections``: when each was made (accepted and set up);
- ``gc``: every collection (start, seconds, generation); ``jobs``: the scheduled jobs' runs in their worker
  thread (scan flush, capture-job heartbeat); the switch interval and the loop's class.

Only these wrappers are added; PYTHONPATH may point at another source tree (``git archive``) to probe it.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import itertools
import json
import os
import sys
import time
from array import array
from typing import Any

OUT = os.environ.get("LOOP_PROBE_OUT", "loop-probe.json")
_lag_at = array("d")  # due time of each tick
_lag = array("d")  # its drift, seconds
_cpu = array("d")  # the loop thread's CPU time at the tick (time.thread_time)
_waited = array("d")  # its time waiting for a core so far (the kernel's run delay, /proc/thread-self/schedstat)
_req_arrived = array("d")  # the parser saw the request begin (uvicorn's httptools protocol, on_message_begin)
_req_start = array("d")
_req_port = array("l")  # the client's port: which connection
_req_end = array("d")
_gc: list[tuple[float, float, int]] = []
_connections: list[tuple[float, int]] = []  # (connection_made, the client's port)
_jobs: list[tuple[str, float, float]] = []
_meta: dict[str, Any] = {"switch_interval": sys.getswitchinterval()}
_gc_started = [0.0]


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.monotonic()
    else:
        _gc.append((_gc_started[0], time.monotonic() - _gc_started[0], info["generation"]))


def _sampler(loop: asyncio.AbstractEventLoop) -> None:
    schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)

    def tick(due: float) -> None:
        now = loop.time()
        _lag_at.append(due)
        _lag.append(now - due)
        _cpu.append(time.thread_time())
        _waited.append(int(os.pread(schedstat, 64, 0).split()[1]) / 1e9)
        loop.call_at(now + 0.001, tick, now + 0.001)

    start = loop.time() + 0.001
    loop.call_at(start, tick, start)


def _timed(name: str, job: Any) -> Any:
    def run() -> Any:
        t0 = time.monotonic()
        try:
            return job()
        finally:
            _jobs.append((name, t0, time.monotonic()))

    return run


def _wrap(app: Any) -> Any:
    started = [False]

    async def probed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not started[0]:
            started[0] = True
            loop = asyncio.get_running_loop()
            _meta["loop"] = type(loop).__module__ + "." + type(loop).__name__
            _sampler(loop)
        if scope["type"] != "http":
            return await app(scope, receive, send)
        t0 = time.monotonic()
        try:
            await app(scope, receive, send)
        finally:
            _req_arrived.append(scope.get("probe_arrived", t0))
            _req_start.append(t0)
            _req_port.append((scope.get("client") or ("", 0))[1])
            _req_end.append(time.monotonic())

    return probed


def _dump() -> None:
    record = {
        **_meta,
        "clock": "time.monotonic (the loop's clock is the same on Linux)",
        "lag": list(zip(_lag_at, _lag, _cpu, _waited, strict=True)),
        "requests": list(zip(_req_start, _req_end, _req_arrived, strict=True)),
        "ports": list(_req_port),
        "gc": _gc,
        "connections": _connections,
        "jobs": _jobs,
    }
    with open(OUT, "w") as out:
        json.dump(record, out)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _ms(values: list[float]) -> dict[str, float]:
    return {name: round(_pct(values, q), 1) for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))}


def report(path: str, since: float = 0.0) -> dict[str, Any]:
    """What a probe's file says, in milliseconds, ``since`` seconds after the first request (skip start-up and
    warm-up): the loop's lag and, between two ticks, how long its thread ran, waited for a core (the kernel's run
    delay) or neither (blocked: the GIL, or idle in epoll, at most the 1 ms to the next tick); the requests' time
    from the parser to the answer and inside the application; each connection's cycle (one answer to the next:
    what the client's latency cannot exceed, but for the first request of a connection, which also waits to be
    accepted: ``accept_ramp_ms``, how long the last batch of connections took to be accepted); collections and
    the scheduled jobs."""
    with open(path) as source:
        record = json.load(source)
    t0 = record["lag"][0][0] + since if record["lag"] else 0.0
    ticks = [tick for tick in record["lag"] if tick[0] >= t0]
    requests = [
        (start, end, arrived, port)
        for (start, end, arrived), port in zip(record["requests"], record["ports"], strict=True)
        if arrived >= t0
    ]
    span = (ticks[-1][0] - ticks[0][0]) if len(ticks) > 1 else 1.0
    gaps = [
        (t1[0], t1[1], (t1[0] + t1[1]) - (t0_[0] + t0_[1]), t1[2] - t0_[2], t1[3] - t0_[3])
        for t0_, t1 in itertools.pairwise(ticks)
    ]
    late = [gap for gap in gaps if gap[1] > 0.010]
    by_connection: dict[int, list[float]] = {}
    for _, end, _, port in sorted(requests, key=lambda r: r[1]):
        by_connection.setdefault(port, []).append(end)
    cycles = [(b - a) * 1e3 for ends in by_connection.values() for a, b in itertools.pairwise(ends)]
    made = sorted(t for t, _ in record["connections"])
    return {
        "loop": record.get("loop"),
        "switch_interval_ms": record["switch_interval"] * 1e3,
        "seconds": round(span, 1),
        "lag_ms": _ms([d * 1e3 for _, d, _, _ in ticks]),
        "ticks_over_10ms_late": {
            "count": len(late),
            "wall_s": round(sum(g[2] for g in late), 2),
            "ran_s": round(sum(g[3] for g in late), 2),
            "waited_for_a_core_s": round(sum(g[4] for g in late), 2),
        },
        "all_ticks": {
            name: round(sum(g[i] for g in gaps), 2)
            for name, i in (("wall_s", 2), ("ran_s", 3), ("waited_for_a_core_s", 4))
        },
        "requests": len(requests),
        "parser_to_answer_ms": _ms([(end - arrived) * 1e3 for _, end, arrived, _ in requests]),
        "in_application_ms": _ms([(end - start) * 1e3 for start, end, _, _ in requests]),
        "connection_cycle_ms": _ms(cycles),
        "accept_ramp_ms": round((made[-1] - made[-64]) * 1e3) if len(made) >= 64 else None,
        "collections": {g: sum(1 for at, _, gen in record["gc"] if gen == g and at >= t0) for g in (0, 1, 2)},
        "longest_collection_ms": round(max((d * 1e3 for at, d, _ in record["gc"] if at >= t0), default=0.0), 1),
        "jobs": {
            name: _ms([(end - start) * 1e3 for n, start, end in record["jobs"] if n == name and start >= t0])
            for name in {job[0] for job in record["jobs"]}
        },
    }


def main() -> int:
    if sys.argv[1:2] == ["--report"]:
        print(json.dumps(report(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0), indent=1))
        return 0
    import app.main as main_module
    from app.cli import main as passport

    made = main_module.app_from_environment

    def app_from_environment() -> Any:
        fastapi_app = made()
        runtime = fastapi_app.state.runtime
        runtime.scans.flush = _timed("scan flush", runtime.scans.flush)
        runtime.tend_jobs = _timed("capture jobs", runtime.tend_jobs)
        gc.callbacks.append(_on_gc)
        return _wrap(fastapi_app)

    main_module.app_from_environment = app_from_environment
    from uvicorn.protocols.http import httptools_impl

    begin = httptools_impl.HttpToolsProtocol.on_message_begin

    def on_message_begin(self: Any) -> None:
        begin(self)
        self.scope["probe_arrived"] = time.monotonic()

    httptools_impl.HttpToolsProtocol.on_message_begin = on_message_begin
    made_connection = httptools_impl.HttpToolsProtocol.connection_made

    def connection_made(self: Any, transport: Any) -> None:
        made_connection(self, transport)
        _connections.append((time.monotonic(), (self.client or ("", 0))[1]))

    httptools_impl.HttpToolsProtocol.connection_made = connection_made
    atexit.register(_dump)
    return passport(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
