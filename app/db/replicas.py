"""Read replicas (``PASSPORT_READ_DATABASE_URL``): which standby may answer a read now, and how stale it is.

A background thread of each serving process samples the primary's flushed WAL position every ``INTERVAL_S``
(``pg_current_wal_flush_lsn()``, kept with the monotonic time it was read), then asks each standby how far it has
replayed (``pg_last_wal_replay_lsn()``). A standby that has replayed the primary's position of time *t* holds
everything committed before *t* (a commit is acknowledged only once its WAL is flushed), so its staleness now is at
most ``now - t`` for the latest such *t*. Comparing positions, not replay timestamps, keeps an idle primary's
standby at zero lag (no new commits means nothing to replay), and the bound grows by itself when the standby stops
replaying, stops answering, or this thread stops measuring. A standby whose bound exceeds the limit
(``PASSPORT_MAX_REPLICA_LAG_SECONDS``) answers no reads until it catches up: they go to the primary.

A standby is checked once to be one of this primary's (same system identifier, in recovery); one that is not, or
cannot be reached, counts as lagging, and is retried every ``RETRY_S``.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import POSTGRES_OPTIONS, UNPREPARED, make_engine, make_read_engine, make_sessionmaker, normalise_url

INTERVAL_S = 0.2  # how often positions are compared
RETRY_S = 2.0  # a standby that failed is connected again this often
TIMEOUT_S = 2  # to connect, and for a probe
HISTORY_S = 120.0  # primary positions kept: a standby further behind than this reads as "more than HISTORY_S"
APPLICATION_NAME = "passport replica lag"

_log = logging.getLogger("passport")


def parse_read_urls(value: str | None) -> list[str]:
    """The comma-separated ``PASSPORT_READ_DATABASE_URL``, each normalised (psycopg 3); empty when unset."""
    return [normalise_url(url.strip()) for url in (value or "").split(",") if url.strip()]


def describe(url: str) -> str:
    """A standby as /healthz names it: host, port and database, never the password."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _libpq(url: str) -> str:
    """A libpq URL for psycopg, without the service's own ``prepare_threshold`` parameter (which libpq refuses)."""
    return (
        make_url(url)
        .set(drivername="postgresql")
        .difference_update_query([UNPREPARED])
        .render_as_string(hide_password=False)
    )


@dataclass(eq=False)
class Replica:
    """One standby: its engines (made on first use) and what the lag thread last found."""

    url: str
    name: str
    caught_up_at: float | None = None  # monotonic time of the latest primary position this standby has replayed
    error: str | None = "not measured yet"
    _connection: Any = None
    _retry_at: float = 0.0
    _engines: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lag(self, now: float | None = None) -> float | None:
        """Seconds of commits this standby may be missing now (None: unknown, i.e. unbounded)."""
        if self.caught_up_at is None:
            return None
        return max(0.0, (time.monotonic() if now is None else now) - self.caught_up_at)

    @property
    def engine(self) -> Engine:
        """For sessions (recall traces, EPCIS queries, regulator pages): a small pool."""
        return self._made("engine", lambda: make_engine(self.url, pool_size=5, max_overflow=10))

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._made("sessions", lambda: make_sessionmaker(self.engine))

    @property
    def reads(self) -> Engine:
        """Autocommit connections for the verifier's history reads (``make_read_engine``)."""
        return self._made("reads", lambda: make_read_engine(self.engine, application_name="passport replica reads"))

    def _made(self, key: str, make: Any) -> Any:
        made = self._engines.get(key)
        if made is None:
            with self._lock:
                made = self._engines.get(key)
                if made is None:
                    made = self._engines[key] = make()
        return made

    def close(self) -> None:
        for key in ("reads", "engine"):
            engine = self._engines.pop(key, None)
            if engine is not None:
                engine.dispose()
        self._engines.clear()
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class ReadReplicas:
    """The standbys of one serving process, and the thread that measures how far behind each is."""

    def __init__(self, primary: Engine, urls: list[str], max_lag: float, *, interval: float = INTERVAL_S) -> None:
        self.replicas = [Replica(url, describe(url)) for url in urls]
        self.max_lag = max_lag
        self._interval = interval
        self._primary_url = _libpq(primary.url.render_as_string(hide_password=False))
        self._primary: Any = None
        self._system_id: int | None = None
        self._times: deque[float] = deque()
        self._positions: deque[int] = deque()
        self._turn = itertools.count()
        self._stop = threading.Event()
        self._measured = threading.Condition()
        self.rounds = 0  # measurements made, for tests
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.replicas and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="passport replica lag", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for replica in self.replicas:
            replica.close()
        if self._primary is not None:
            self._primary.close()
            self._primary = None

    def pick(self) -> Replica | None:
        """A standby within the lag limit (taking turns among several), or None: read on the primary."""
        if not self.replicas:
            return None
        now = time.monotonic()
        fresh = [
            r for r in self.replicas if r.error is None and (lag := r.lag(now)) is not None and lag <= self.max_lag
        ]
        if not fresh:
            return None
        return fresh[next(self._turn) % len(fresh)]

    def status(self) -> list[dict[str, Any]]:
        """For /healthz: each standby's lag bound, whether it takes reads now, and why not."""
        now = time.monotonic()
        out = []
        for replica in self.replicas:
            lag = replica.lag(now)
            out.append(
                {
                    "name": replica.name,
                    "lag_seconds": None if lag is None else round(lag, 3),
                    "serving_reads": replica.error is None and lag is not None and lag <= self.max_lag,
                    "error": replica.error,
                }
            )
        return out

    def wait_measured(self, rounds: int = 2, timeout: float = 10.0) -> bool:
        """Block until ``rounds`` more measurements were made (tests, and start-up of tools)."""
        with self._measured:
            target = self.rounds + rounds
            return self._measured.wait_for(lambda: self.rounds >= target or self._stop.is_set(), timeout)

    # -- the lag thread --

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.measure()
            except Exception:  # never let the thread die: lag then grows, and reads go to the primary
                _log.exception("measuring replica lag failed")
            self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))

    def measure(self) -> None:
        """One round: the primary's position, then each standby's."""
        import psycopg

        try:
            if self._primary is None:
                self._primary = self._connect(self._primary_url)
                self._system_id = self._primary.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[
                    0
                ]
            sampled = time.monotonic()
            position = self._primary.execute("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn").fetchone()[0]
        except psycopg.Error as error:
            _log.warning("replica lag: the primary did not answer (%s)", error)
            if self._primary is not None:
                self._primary.close()
                self._primary = None
            return  # no new sample: every standby's bound grows
        self._times.append(sampled)
        self._positions.append(int(position))
        while len(self._times) > 1 and self._times[0] < sampled - HISTORY_S:
            self._times.popleft()
            self._positions.popleft()
        for replica in self.replicas:
            self._probe(replica)
        with self._measured:
            self.rounds += 1
            self._measured.notify_all()

    def _probe(self, replica: Replica) -> None:
        import psycopg

        now = time.monotonic()
        if replica._connection is None and now < replica._retry_at:
            return
        try:
            if replica._connection is None:
                replica._connection = self._connect(_libpq(replica.url))
                system_id, recovering = replica._connection.execute(
                    "SELECT system_identifier, pg_is_in_recovery() FROM pg_control_system()"
                ).fetchone()
                if system_id != self._system_id or not recovering:
                    replica.error = (
                        "not a standby of this primary (another system identifier)"
                        if system_id != self._system_id
                        else "not a standby (not in recovery): reads stay on the primary"
                    )
                    replica._connection.close()
                    replica._connection = None
                    replica._retry_at = now + RETRY_S
                    replica.caught_up_at = None
                    return
            replayed = replica._connection.execute("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn").fetchone()[0]
        except psycopg.Error as error:
            replica.error = (
                f"unreachable: {type(error).__name__}: {str(error).strip().splitlines()[0] if str(error) else ''}"
            )
            if replica._connection is not None:
                replica._connection.close()
                replica._connection = None
            replica._retry_at = now + RETRY_S
            return
        if replayed is None:  # promoted meanwhile (pg_last_wal_replay_lsn is NULL outside recovery)
            replica.error = "not a standby (not in recovery): reads stay on the primary"
            replica.caught_up_at = None
            return
        # The latest primary sample at or below what the standby has replayed; positions only grow, so bisect.
        index = bisect.bisect_right(self._positions, int(replayed)) - 1
        if index >= 0:
            at = self._times[index]
            if replica.caught_up_at is None or at > replica.caught_up_at:
                replica.caught_up_at = at
            replica.error = None
        elif replica.caught_up_at is None:
            replica.error = f"more than {HISTORY_S:.0f} s behind, or not yet measured"

    @staticmethod
    def _connect(url: str) -> Any:
        import psycopg

        return psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=TIMEOUT_S,
            options=f"{POSTGRES_OPTIONS} -c statement_timeout={TIMEOUT_S * 1000}",
            application_name=APPLICATION_NAME,
            prepare_threshold=None,  # a few tiny statements: nothing to gain, and safe behind PgBouncer
        )
