"""Several API nodes as one service: the few background duties every ``passport serve`` process runs that must
still happen once for the whole service (docs/production.md).

- Checkpoints: signers queue on a transaction-level advisory lock (never a session-level one: under PgBouncer's
  transaction pooling a session is shared), so two nodes never sign the same tree head twice; and the scheduled
  signing of a node skips its turn when another node signed within the interval, so the service signs once per
  ``PASSPORT_CHECKPOINT_INTERVAL_SECONDS`` however many nodes run (an on-demand checkpoint counts too).
- Scan log partitions: each node makes sure the coming months exist, at start and every hour; the first to find
  one missing creates it under a lock, the others find it made (app/db/scan_partitions.py).
- Webhook deliveries, EPCIS capture jobs and subscriptions claim their rows with ``FOR UPDATE SKIP LOCKED``
  (app/services/webhooks.py, app/services/epcis/jobs.py): nothing to add here. One sale per code is the units'
  row locks (app/services/custody). The verification rate limit is shared through Redis (app/api/ratelimit.py).
On SQLite there is one writer at a time (``BEGIN IMMEDIATE``) and usually one node: the locks are not needed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import WRITE_OPTIONS
from app.db.models import LogCheckpoint
from app.db.scan_partitions import ensure_partitions

CHECKPOINT_LOCK = "SELECT pg_advisory_xact_lock(16019, 2)"
# A node's scheduled turn is skipped when the newest checkpoint is younger than this share of the interval: the
# node whose turn comes first after a signing keeps signing, the others skip (a lone node always signs, its turns
# being a whole interval apart).
SKIP_SHARE = 0.9


def serialise_signers(session: Session) -> None:
    """Wait for any other node signing a checkpoint; held until this transaction ends (a writing transaction:
    on SQLite its ``BEGIN IMMEDIATE`` already queues the signers)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text(CHECKPOINT_LOCK))


def checkpoint_due(session: Session, interval_seconds: float, now: datetime) -> bool:
    """Whether this node's scheduled checkpoint is due: no checkpoint signed (by any node) within the interval.
    Takes the signers' lock first, so the answer holds until the transaction ends."""
    session.connection(execution_options=WRITE_OPTIONS)
    serialise_signers(session)
    newest = session.scalar(select(LogCheckpoint.created_at).order_by(LogCheckpoint.id.desc()).limit(1))
    return newest is None or newest <= now - timedelta(seconds=interval_seconds * SKIP_SHARE)


def tend_scan_partitions(sessions: sessionmaker[Session], ahead: int, now: datetime) -> list[str]:
    """Create the scan log's missing month partitions (PostgreSQL); the names created."""
    with sessions.begin() as session:
        return ensure_partitions(session.connection(execution_options=WRITE_OPTIONS), now, ahead)
