"""The application factory. Nothing happens at import time: ``create_app(settings)`` builds everything."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api import (
    problems,
    routes_cases,
    routes_catalog,
    routes_code_import,
    routes_codes,
    routes_epcis,
    routes_epcis_queries,
    routes_epcis_query,
    routes_epcis_subscriptions,
    routes_events,
    routes_home,
    routes_log,
    routes_orgs,
    routes_pages,
    routes_passports,
    routes_public,
    routes_qr,
    routes_recalls,
    routes_receipts,
    routes_verifications,
    routes_webhooks,
)
from app.api.ratelimit import VerifyLimiter
from app.api.replica_reads import PrimarySecondLook
from app.config import Settings
from app.domain.errors import PayloadTooLarge
from app.services import webhooks
from app.services.epcis import jobs as capture_jobs
from app.services.epcis import subscriptions as epcis_subscriptions
from app.services.orgs import Principals
from app.services.parent_watch import die_with_parent
from app.services.runtime import Runtime


class BodyLimit:
    """Refuse request bodies over the limit (by Content-Length, or while a chunked body streams in)."""

    def __init__(self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        if scope["path"].endswith("/codes/import"):  # a streamed import of codes (one path per batch)
            limit = self.per_path.get("/codes/import", limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await problems.domain_problem(self._error(limit))(scope, receive, send)
            return
        seen, over, started = 0, False, False

        async def counting_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                over = True
                raise self._error(limit)  # stops the reading, wherever the app reads the body
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app made of the body it could not finish reading (FastAPI answers 400 "error parsing
            # the body"), the answer is 413: nothing goes out once the limit is passed, the 413 is sent below.
            nonlocal started
            if over and not started:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over or started:
                raise
        if over and not started:
            await problems.domain_problem(self._error(limit))(scope, receive, send)

    @staticmethod
    def _error(limit: int) -> PayloadTooLarge:
        return PayloadTooLarge(f"request bodies here are limited to {limit} bytes", code="payload_too_large")


async def _every(interval: float, job: Callable[[], object], name: str) -> None:
    """Run a blocking job in a worker thread on a schedule (checkpoints, scan batches); failures are logged."""
    while True:
        await asyncio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(job)
        except Exception:
            logging.getLogger("passport").exception("scheduled %s failed", name)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime: Runtime = app.state.runtime
        tasks = [asyncio.create_task(_every(settings.scan_flush_seconds, runtime.scans.flush, "scan flush"))]
        tasks.append(asyncio.create_task(_every(capture_jobs.HEARTBEAT_SECONDS, runtime.tend_jobs, "capture jobs")))
        if settings.checkpoint_interval_seconds:
            tasks.append(
                asyncio.create_task(
                    _every(settings.checkpoint_interval_seconds, runtime.sign_scheduled_checkpoint, "checkpoint")
                )
            )
        tasks.append(asyncio.create_task(_every(3600, runtime.tend_scan_partitions, "scan partitions")))
        stop_deliveries = threading.Event()
        deliveries = pushes = None
        if settings.webhook_interval_seconds:
            deliver = partial(
                webhooks.deliver_due,
                runtime.sessions,
                runtime.keyring.master_key,
                allow_private=settings.webhook_private_addresses,
                keep_going=lambda: not stop_deliveries.is_set(),
            )
            deliveries = asyncio.create_task(_every(settings.webhook_interval_seconds, deliver, "webhook delivery"))
        if settings.epcis_subscription_interval_seconds:
            push = partial(
                epcis_subscriptions.push_due,
                runtime.sessions,
                runtime.keyring.master_key,
                base_url=settings.base_url,
                deliver=bool(settings.webhook_interval_seconds),
                allow_private=settings.webhook_private_addresses,
                keep_going=lambda: not stop_deliveries.is_set(),
            )
            pushes = asyncio.create_task(_every(settings.epcis_subscription_interval_seconds, push, "subscriptions"))
        yield
        senders = [task for task in (deliveries, pushes) if task is not None]
        if senders:
            stop_deliveries.set()
            for task in senders:
                task.cancel()
            await asyncio.wait(senders)  # an attempt under way finishes before the engine closes
        for task in tasks:
            task.cancel()
        await anyio.to_thread.run_sync(runtime.close)  # writes the scans still buffered

    app = FastAPI(
        title="Passport",
        version="0.1.0",
        summary="Signed product codes, custody and verification",
        lifespan=lifespan,
        docs_url=None,  # served by routes_home from a package, not from a CDN: the reference works offline
        redoc_url=None,
    )
    app.state.runtime = runtime or Runtime.start(settings)
    app.state.verify_limiter = VerifyLimiter(settings.verify_rate_limit, settings.redis_url)
    app.state.principals = Principals(settings.api_key_seconds)  # API keys kept a moment (app/services/orgs.py)
    problems.install(app)
    # The public verification route comes first: it is the hottest path, and every route tried before the one
    # that matches costs each request a few microseconds.
    routes_public.install(app)
    routes_events.install(app)  # POST /v1/events, the busiest write, by a plain route (no FastAPI dependencies)
    for module in (
        routes_events,  # documents POST /v1/events (served by the plain route above) and serves its other routes
        routes_catalog,
        routes_cases,
        routes_codes,
        routes_code_import,
        routes_qr,
        routes_receipts,
        routes_orgs,
        routes_log,
        routes_recalls,
        routes_webhooks,
        routes_epcis,
        routes_epcis_query,
        routes_epcis_queries,
        routes_epcis_subscriptions,
        routes_pages,
        routes_passports,
        routes_verifications,
        routes_home,
    ):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"])
    def health() -> dict[str, Any]:
        replicas = app.state.runtime.replicas
        if replicas is None:
            return {"status": "ok"}
        # Each standby's lag bound (seconds of commits it may be missing) and whether it takes reads now.
        return {"status": "ok", "max_replica_lag_seconds": replicas.max_lag, "replicas": replicas.status()}

    # A standby's refusal of a GET is asked again on the primary (app/api/replica_reads.py).
    app.add_middleware(PrimarySecondLook, enabled=app.state.runtime.replicas is not None)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        per_path={
            "/v1/events": settings.max_event_body_bytes,
            "/epcis/capture": settings.epcis_capture_max_bytes,
            "/v1/documents": settings.max_document_bytes,
            "/codes/import": settings.max_import_bytes,
        },
    )
    return app


def app_from_environment() -> FastAPI:
    """Entry point for ``uvicorn --factory`` and ``passport serve``."""
    if multiprocessing.parent_process() is not None:  # a worker of ``--workers N``: it ends with its supervisor
        die_with_parent()
    app = create_app(Settings())
    # What is loaded by now lives as long as the process. Frozen, the collector no longer walks it: a full
    # collection took 0.2-0.3 s of a serving process (~250,000 objects), a stall for every request in flight.
    gc.collect()
    gc.freeze()
    # A request allocates thousands of short-lived objects (ORM rows and states, SQL results) that reference
    # counting frees: with the default threshold (700 allocations) the youngest generation was collected several
    # times per single-event request, 12-17 % of its CPU under py-spy (docs/benchmarks.md). Collect it every
    # 20,000 allocations instead; the older generations keep their defaults.
    gc.set_threshold(20_000, 10, 10)
    return app
