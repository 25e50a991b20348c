"""The periodic reads (the webhook round, the EPCIS subscriptions' round, the capture jobs' reaper) run every few
seconds on the service's pooled connections. On PostgreSQL a ROLLBACK makes psycopg forget every statement the
connection has prepared (DEALLOCATE ALL), so ending those reads by closing the session kept the busy statements (a
single event's write batch) from staying prepared: planned again at every event. They end with COMMIT now; on a
pool of one connection, a statement prepared before each round is still prepared after it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

from app.api.routes_log import get_checkpoint
from app.db.engine import make_engine
from app.services import webhooks
from app.services.clock import utcnow
from app.services.epcis import jobs, subscriptions
from app.services.runtime import Runtime

ROUNDS: dict[str, Callable[[Any], Any]] = {
    "webhook round": lambda sessions: webhooks.deliver_due(sessions, b"k" * 32),
    "subscriptions round": lambda sessions: subscriptions.run_due(sessions, base_url="http://passport.test"),
    "capture jobs' reaper": lambda sessions: jobs.reap(sessions, utcnow(), heartbeats=True),
}


@pytest.mark.postgres_only
@pytest.mark.parametrize("name", ROUNDS)
def test_a_periodic_read_keeps_the_connections_prepared_statements(runtime: Runtime, name: str):
    engine = make_engine(runtime.engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    try:
        sessions = sessionmaker(bind=engine)
        with sessions.begin() as session:
            conn = session.connection()
            for n in range(8):  # psycopg prepares a statement at its 5th run
                conn.exec_driver_sql("SELECT count(*) FROM unit WHERE id > %s", (n,))
            assert _prepared(conn) >= 1
        ROUNDS[name](sessions)
        with sessions.begin() as session:  # the pool's one connection again
            assert _prepared(session.connection()) >= 1
        with sessions() as session:  # what a round ending in ROLLBACK did (why the rounds commit)
            session.connection().exec_driver_sql("SELECT 1")
        with sessions.begin() as session:
            assert _prepared(session.connection()) == 0
    finally:
        engine.dispose()


def _prepared(conn: Any) -> int:
    return int(conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar())


def test_the_checkpoint_read_ends_in_commit_not_rollback(runtime: Runtime):
    """``GET /v1/log/checkpoint``, which monitors poll, reads in a transaction ended by COMMIT (on both databases:
    on PostgreSQL a ROLLBACK would make psycopg forget the connection's prepared statements)."""
    ended: list[str] = []
    listeners = {"commit": lambda conn: ended.append("commit"), "rollback": lambda conn: ended.append("rollback")}
    for name, listener in listeners.items():
        event.listen(runtime.engine, name, listener)
    try:
        first = get_checkpoint(runtime)
        second = get_checkpoint(runtime)  # nothing new to sign: the read alone
    finally:
        for name, listener in listeners.items():
            event.remove(runtime.engine, name, listener)
    assert first == second and "tree_size" in first
    assert "rollback" not in ended and "commit" in ended, ended
