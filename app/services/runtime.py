"""What a running service holds for its lifetime: engine, sessions, keys, the signing pool, the verifier."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.engine import WRITE_OPTIONS, make_engine, make_sessionmaker
from app.services.keys import KeyRing, load_master_key
from app.services.log import make_checkpoint
from app.services.signing_pool import SigningPool
from app.services.verification import Verifier


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: KeyRing
    pool: SigningPool
    verifier: Verifier

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        keyring = KeyRing(sessions, load_master_key(settings))
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            keyring=keyring,
            pool=SigningPool(settings.signing_workers),
            verifier=Verifier(engine, keyring),
        )

    def sign_checkpoint(self) -> None:
        with self.sessions.begin() as session:
            session.connection(execution_options=WRITE_OPTIONS)
            make_checkpoint(session, self.keyring.master_key)

    def close(self) -> None:
        self.pool.close()
        self.engine.dispose()
