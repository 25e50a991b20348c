"""Code-signing keys: creation, rotation, sealing at rest under the master key, and the public key set.

The master key comes from ``PASSPORT_MASTER_KEY`` (base64 of 32 bytes) or from the key file ``passport init``
creates; the database only ever holds sealed private keys.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models import SigningKey
from app.domain.errors import Conflict
from app.domain.signing import (
    MAX_KEY_TAG,
    Signer,
    jwk,
    open_private_key,
    seal_private_key,
)
from app.services.clock import utcnow


class MasterKeyError(RuntimeError):
    """The master key is missing or does not open the stored keys: a deployment error, not a request error."""


def load_master_key(settings: Settings, *, create: bool = False) -> bytes:
    if settings.master_key:
        try:
            key = base64.b64decode(settings.master_key, validate=True)
        except binascii.Error:
            raise MasterKeyError("PASSPORT_MASTER_KEY is not base64") from None
        if len(key) != 32:
            raise MasterKeyError("PASSPORT_MASTER_KEY must be base64 of exactly 32 bytes")
        return key
    path = Path(settings.master_key_file)
    if not path.exists():
        if not create:
            raise MasterKeyError(f"no master key: set PASSPORT_MASTER_KEY or run `passport init` to create {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    return load_master_key(settings.model_copy(update={"master_key": path.read_text().strip()}))


def create_signing_key(session: Session, master_key: bytes) -> SigningKey:
    """Add a new key and retire the current one: new codes use the new key, old codes still verify."""
    now = utcnow()
    last = session.scalar(select(func.max(SigningKey.key_tag))) or 0
    if last >= MAX_KEY_TAG:
        raise Conflict("all 65535 key tags are used", code="key_tags_exhausted")
    tag = last + 1
    private = Ed25519PrivateKey.generate().private_bytes_raw()
    for current in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        current.retired_at = now
    key = SigningKey(
        key_tag=tag,
        public_key=Signer(tag, private).public_bytes,
        sealed_private_key=seal_private_key(master_key, tag, private, os.urandom(12)),
        created_at=now,
    )
    session.add(key)
    session.flush()
    return key


def ensure_signing_key(session: Session, master_key: bytes) -> SigningKey:
    current = session.scalar(select(SigningKey).where(SigningKey.retired_at.is_(None)))
    return current if current is not None else create_signing_key(session, master_key)


class KeyRing:
    """Signers and public keys for a running service; public keys are cached for the verification path."""

    _REFRESH_SECONDS = 5.0

    def __init__(self, sessions: sessionmaker[Session], master_key: bytes) -> None:
        self._sessions = sessions
        self.master_key = master_key
        self._public: dict[int, bytes] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def _open(self, key: SigningKey) -> Signer:
        try:
            return Signer(key.key_tag, open_private_key(self.master_key, key.key_tag, key.sealed_private_key))
        except InvalidTag:
            raise MasterKeyError(f"the master key does not open signing key {key.key_tag:04x}") from None

    def current_signer(self, session: Session) -> Signer:
        key = session.scalar(select(SigningKey).where(SigningKey.retired_at.is_(None)))
        if key is None:
            raise MasterKeyError("no active signing key: run `passport init`")
        return self._open(key)

    def signer_for(self, session: Session, key_tag: int) -> Signer:
        key = session.get(SigningKey, key_tag)
        if key is None:
            raise MasterKeyError(f"signing key {key_tag:04x} is missing")
        return self._open(key)

    def public_keys(self, *, missing: int | None = None) -> dict[int, bytes]:
        """All public keys by tag; reload when asked for a tag we lack, at most every few seconds."""
        if self._due(missing):
            with self._lock:
                if self._due(missing):  # not if another thread reloaded while this one waited
                    with self._sessions() as session:
                        rows = session.execute(select(SigningKey.key_tag, SigningKey.public_key)).all()
                    self._public = {tag: bytes(public) for tag, public in rows}
                    self._loaded_at = time.monotonic()
        return self._public

    def _due(self, missing: int | None) -> bool:
        stale = missing is not None and missing not in self._public
        return not self._loaded_at or (stale and time.monotonic() - self._loaded_at > self._REFRESH_SECONDS)

    def forget(self) -> None:
        self._loaded_at = 0.0


def jwks(session: Session) -> dict[str, list[dict[str, str]]]:
    rows = session.execute(select(SigningKey.key_tag, SigningKey.public_key).order_by(SigningKey.key_tag)).all()
    return {"keys": [jwk(tag, bytes(public)) for tag, public in rows]}
