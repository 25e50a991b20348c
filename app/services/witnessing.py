"""The log's side of C2SP tlog-witness: each new checkpoint goes to every witness of PASSPORT_WITNESSES.

One thread per witness, so a witness that does not answer holds up no other and no request: it wakes when a
checkpoint is signed (``wake``) and every ``retry`` seconds, submits the newest checkpoint if that witness has not
cosigned it, and goes back to sleep whatever happened (a timeout, a refusal: logged, recorded in ``log_witness``,
tried again). The old size of a submission is the size the witness last cosigned, as its answers told
(``cosigned_size``); a 409 naming a smaller size is answered at once with a proof from that size. A cosignature is
checked against the witness's key before it is stored (``log_cosignature``), so the note served by
``GET /v1/log/checkpoint`` only carries lines that verify. The network is never used inside a transaction.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import WRITE_OPTIONS
from app.db.models import LogCheckpoint, LogCosignature, LogWitness
from app.domain.witness import (
    Answer,
    Cosignature,
    WitnessEndpoint,
    WitnessError,
    WitnessStatus,
    read_refusal,
    response_cosignatures,
    submission_body,
)
from app.services.clock import utcnow
from app.services.log import consistency_proof

logger = logging.getLogger("passport.witnesses")
MAX_RESPONSE_BYTES = 65_536
REPEAT_LOG_SECONDS = 600
MAX_RESUBMISSIONS = 3  # 409s naming another old size, answered at once, before waiting for the next round
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # operator-given URLs: no proxy from the env


def _post(url: str, body: bytes, timeout: float) -> tuple[int, str, bytes]:
    """(status, content type, body) of a POST; OSError (timeouts included) when there is no answer."""
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by parse_witness_list
        url, data=body, method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read(MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get("Content-Type", ""), error.read(MAX_RESPONSE_BYTES)


class Witnessing:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        endpoints: Sequence[WitnessEndpoint],
        *,
        timeout: float,
        retry: float,
    ) -> None:
        self.sessions = sessions
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.retry = retry
        self._stop = threading.Event()
        self._wake = [threading.Event() for _ in self.endpoints]
        self._threads: list[threading.Thread] = []
        self._said: dict[str, tuple[tuple[str, int, str], float]] = {}  # witness -> (outcome logged, when)

    def start(self) -> None:
        for index, endpoint in enumerate(self.endpoints):
            thread = threading.Thread(target=self._run, args=(index,), name=f"witness {endpoint.key.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        for event in self._wake:
            event.set()

    def close(self) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def _run(self, index: int) -> None:
        endpoint, wake = self.endpoints[index], self._wake[index]
        while not self._stop.is_set():
            wake.clear()
            try:
                self.submit(endpoint)
            except Exception:  # a database hiccup: logged, tried again next round
                logger.exception("witness %s: the submission round failed", endpoint.key.name)
            wake.wait(self.retry)

    def submit(self, endpoint: WitnessEndpoint, now: datetime | None = None) -> WitnessStatus | None:
        """Submit the newest checkpoint to one witness unless it has cosigned it; the status it leaves (None when
        there was nothing to submit)."""
        with self.sessions.begin() as session:
            witness = session.scalar(select(LogWitness).where(LogWitness.verifier_key == endpoint.key.text))
            if witness is None:
                witness = self._add_row(endpoint)
            checkpoint = session.scalar(select(LogCheckpoint).order_by(LogCheckpoint.id.desc()).limit(1))
            if checkpoint is None or checkpoint.tree_size == 0:
                return None
            done = session.scalar(
                select(LogCosignature.id).where(
                    LogCosignature.checkpoint_id == checkpoint.id, LogCosignature.witness_id == witness.id
                )
            )
            if done is not None:
                return None
            witness_id, old = witness.id, witness.cosigned_size
            checkpoint_id, size, note = checkpoint.id, checkpoint.tree_size, checkpoint.note
        body = note[: note.rindex("\n\n") + 1]
        answer: Answer | None = None
        cosigned: list[Cosignature] = []
        for _ in range(MAX_RESUBMISSIONS):
            if old > size:
                answer = Answer(
                    WitnessStatus.REFUSED,
                    f"it has cosigned size {old}, above this log's {size}: it was shown another history of the log",
                )
                break
            try:
                proof: list[bytes] = []
                if 0 < old < size:
                    with self.sessions.begin() as session:  # ended by COMMIT: "Periodic reads", app/db/engine.py
                        proof = consistency_proof(session.connection(), old, size)
                code, content_type, text = _post(
                    f"{endpoint.url}/add-checkpoint", submission_body(old, proof, note), self.timeout
                )
            except OSError as error:
                answer = Answer(WitnessStatus.UNREACHABLE, f"no answer: {error}")
                break
            if code == 200:
                try:
                    cosigned = response_cosignatures(body, text.decode(errors="replace"), endpoint.key)
                    answer = Answer(WitnessStatus.COSIGNED, "")
                except WitnessError as error:
                    answer = Answer(WitnessStatus.REFUSED, f"200 without a valid cosignature: {error}")
                break
            answer = read_refusal(code, content_type, text, old, size)
            if answer.retry_from is None:
                break
            old = answer.retry_from
        assert answer is not None
        self._record(witness_id, checkpoint_id, size, old, answer, cosigned, now or utcnow())
        self._log(endpoint, size, answer)
        return answer.status

    def _log(self, endpoint: WitnessEndpoint, size: int, answer: Answer) -> None:
        """Each outcome once, and a failure that goes on again every REPEAT_LOG_SECONDS (not every retry)."""
        name, now = endpoint.key.name, time.monotonic()
        said = (answer.status, size, answer.reason)
        last = self._said.get(name)
        if last is not None and last[0] == said and now - last[1] < REPEAT_LOG_SECONDS:
            return
        self._said[name] = (said, now)
        if answer.status == WitnessStatus.COSIGNED:
            logger.info("witness %s cosigned the checkpoint of size %d", name, size)
        elif answer.status == WitnessStatus.REFUSED:
            logger.error("witness %s refused the checkpoint of size %d: %s", name, size, answer.reason)
        else:
            logger.warning("witness %s: %s; retried every %g s", name, answer.reason, self.retry)

    def _add_row(self, endpoint: WitnessEndpoint) -> LogWitness:
        try:
            with self.sessions.begin() as session:
                session.connection(execution_options=WRITE_OPTIONS)
                row = LogWitness(
                    verifier_key=endpoint.key.text,
                    name=endpoint.key.name,
                    cosigned_size=0,
                    status=WitnessStatus.PENDING,
                )
                session.add(row)
        except IntegrityError:  # another process added it first
            with self.sessions() as session:
                return session.scalars(select(LogWitness).where(LogWitness.verifier_key == endpoint.key.text)).one()
        return row

    def _record(
        self,
        witness_id: int,
        checkpoint_id: int,
        size: int,
        old: int,
        answer: Answer,
        cosigned: list[Cosignature],
        now: datetime,
    ) -> None:
        with self.sessions.begin() as session:
            session.connection(execution_options=WRITE_OPTIONS)
            witness = session.get_one(LogWitness, witness_id, with_for_update=True)
            witness.status = answer.status
            witness.last_attempt_at = now
            witness.last_error = answer.reason[:2000] or None
            if answer.status == WitnessStatus.COSIGNED:
                witness.cosigned_size = size
                witness.last_cosigned_at = now
                exists = session.scalar(
                    select(LogCosignature.id).where(
                        LogCosignature.checkpoint_id == checkpoint_id, LogCosignature.witness_id == witness_id
                    )
                )
                if exists is None:
                    first = cosigned[0]
                    session.add(
                        LogCosignature(
                            checkpoint_id=checkpoint_id,
                            witness_id=witness_id,
                            timestamp=first.timestamp,
                            line=first.line,
                            received_at=now,
                        )
                    )
            elif old <= size:
                witness.cosigned_size = old  # what its 409s told: the next submission starts there


def witness_views(session: Session, endpoints: Sequence[WitnessEndpoint]) -> list[dict[str, object]]:
    """How each configured witness stands: the last size it cosigned and, if the last try failed, why."""
    rows = {
        row.verifier_key: row
        for row in session.scalars(
            select(LogWitness).where(LogWitness.verifier_key.in_([e.key.text for e in endpoints]))
        )
    }
    views: list[dict[str, object]] = []
    for endpoint in endpoints:
        row = rows.get(endpoint.key.text)
        views.append(
            {
                "name": endpoint.key.name,
                "verifier_key": endpoint.key.text,
                "status": row.status if row else WitnessStatus.PENDING.value,
                "cosigned_size": row.cosigned_size if row else 0,
                "last_error": row.last_error if row else None,
                "last_attempt_at": row.last_attempt_at.isoformat() if row and row.last_attempt_at else None,
                "last_cosigned_at": row.last_cosigned_at.isoformat() if row and row.last_cosigned_at else None,
            }
        )
    return views
