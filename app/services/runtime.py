"""What a running service holds for its lifetime: engine, sessions, keys, the signing pool, the verifier."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.engine import WRITE_OPTIONS, make_engine, make_sessionmaker
from app.db.replicas import ReadReplicas, parse_read_urls
from app.domain.witness import parse_witness_list
from app.services import nodes
from app.services.clock import utcnow
from app.services.epcis import jobs as capture_jobs
from app.services.keys import KeyRing, load_master_key
from app.services.log import integrate, make_checkpoint
from app.services.partner_desk import PartnerDesk
from app.services.passport_scans import PassportScans
from app.services.scans import ClonePolicy, ScanLog
from app.services.signing_pool import SigningPool
from app.services.verification import Verifier
from app.services.witnessing import Witnessing


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: KeyRing
    pool: SigningPool
    verifier: Verifier
    scans: ScanLog
    passport_scans: PassportScans
    witnessing: Witnessing
    partner_desk: PartnerDesk
    # Streaming standbys for reads (PASSPORT_READ_DATABASE_URL), None without: see app.db.replicas.
    replicas: ReadReplicas | None = None

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        master_key = load_master_key(settings)
        keyring = KeyRing(sessions, master_key)
        policy = ClonePolicy(
            max_speed_kmh=settings.clone_max_speed_kmh,
            max_clients=settings.clone_max_clients,
            window=timedelta(hours=settings.clone_window_hours),
        )
        capture_jobs.tend(sessions, utcnow())  # jobs left running by a process that died are marked at start
        nodes.tend_scan_partitions(sessions, settings.scan_partitions_ahead, utcnow())  # the coming months' scans
        integrate(engine)  # leaves a process left pending (stopped between an event's commit and its integration)
        witnessing = Witnessing(
            sessions,
            parse_witness_list(settings.witnesses),
            timeout=settings.witness_timeout_seconds,
            retry=settings.witness_retry_seconds,
        )
        witnessing.start()  # one thread per witness (none without PASSPORT_WITNESSES)
        replicas = None
        if settings.read_database_url:
            replicas = ReadReplicas(
                engine, parse_read_urls(settings.read_database_url), settings.max_replica_lag_seconds
            )
            replicas.start()  # a thread measuring their lag; until it has, reads go to the primary
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            keyring=keyring,
            pool=SigningPool(settings.signing_workers),
            verifier=Verifier(engine, keyring, replicas),
            scans=ScanLog(
                sessions,
                hashlib.sha256(master_key + b"scan-clients").digest(),
                policy,
                writer_url=settings.database_url if settings.scan_writer == "process" else None,
            ),
            passport_scans=PassportScans(engine, replicas),
            witnessing=witnessing,
            partner_desk=PartnerDesk(
                engine,
                sessions,
                keyring,
                responder_url=settings.base_url,
                unheld_per_hour=settings.partner_unheld_per_hour,
                facts_seconds=settings.partner_facts_seconds,
            ),
            replicas=replicas,
        )

    def sign_checkpoint(self) -> None:
        with self.sessions.begin() as session:
            session.connection(execution_options=WRITE_OPTIONS)
            nodes.serialise_signers(session)  # one signer at a time across API nodes
            make_checkpoint(session, self.keyring.master_key)
        self.witnessing.wake()  # after the commit: the witnesses' threads read the new checkpoint

    def sign_scheduled_checkpoint(self) -> None:
        """The interval's checkpoint, unless another API node signed one within the interval (app/services/nodes.py)."""
        with self.sessions.begin() as session:
            if not nodes.checkpoint_due(session, self.settings.checkpoint_interval_seconds, utcnow()):
                return
            make_checkpoint(session, self.keyring.master_key)
        self.witnessing.wake()

    def tend_scan_partitions(self) -> list[str]:
        """Create the scan log's coming month partitions that are missing (PostgreSQL; at start and hourly)."""
        return nodes.tend_scan_partitions(self.sessions, self.settings.scan_partitions_ahead, utcnow())

    def tend_jobs(self) -> None:
        """Heartbeat this process's capture jobs and mark those whose worker died (see app.services.epcis.jobs)."""
        capture_jobs.tend(self.sessions, utcnow())

    def close(self) -> None:
        self.witnessing.close()
        self.partner_desk.close()  # writes the partner answers still queued
        self.scans.close()
        self.pool.close()
        self.verifier.close()
        self.passport_scans.close()
        if self.replicas is not None:
            self.replicas.close()
        self.engine.dispose()
