"""Bulk signing on every core: Ed25519 is the cost of issuance, so chunks of serials go to worker processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from app.domain.signing import Signer, sign_serials
from app.services.parent_watch import die_with_parent

INLINE_BELOW = 2_000  # smaller runs are signed in the calling thread: a round trip costs more than it saves


class SigningPool:
    def __init__(self, workers: int = 0) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork: the server process has threads and open database connections.
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=die_with_parent)
        return self._executor

    def submit(self, signer: Signer, gtin: str, lot: str, expiry: str, serials: Sequence[str]) -> Future[list[str]]:
        if self.workers <= 1 or len(serials) < INLINE_BELOW:
            future: Future[list[str]] = Future()
            future.set_result(sign_serials(signer.private_bytes, signer.key_tag, gtin, lot, expiry, serials))
            return future
        return self._pool().submit(sign_serials, signer.private_bytes, signer.key_tag, gtin, lot, expiry, serials)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
