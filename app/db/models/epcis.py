"""EPCIS 2.0 capture jobs and the events they brought, kept as sent (append-only) and indexed for the query."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import Base
from app.db.models.events import Event
from app.db.types import BigID, UTCDateTime


class EpcisCapture(Base):
    """One ``POST /epcis/capture``: its progress and, per event, what went wrong.

    ``worker`` names the process working the job (host/pid/start time) and ``heartbeat_at`` its last sign of
    life (PostgreSQL): a running job whose worker is gone is marked interrupted (``app.services.epcis.jobs``)."""

    __tablename__ = "epcis_capture"
    __table_args__ = (Index("ix_epcis_capture_running_worker", "running", "worker"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    running: Mapped[bool] = mapped_column(Boolean)
    success: Mapped[bool] = mapped_column(Boolean)
    error_behaviour: Mapped[str] = mapped_column(String(10))  # rollback | proceed
    event_count: Mapped[int] = mapped_column(Integer)
    captured: Mapped[int] = mapped_column(Integer, server_default="0")
    duplicates: Mapped[int] = mapped_column(Integer, server_default="0")
    errors: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    warnings: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    worker: Mapped[str | None] = mapped_column(String(120))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EpcisEvent(Base):
    """One captured EPCIS event as its sender wrote it, with the fields the standard query filters on.

    ``kind`` is ``event`` or ``error_declaration``: an error declaration repeats the event it declares wrong
    (same hash, usually the same eventID) and is kept beside it, never in its place. ``native_event_id`` links
    the custody event the capture recorded; ``custody`` says whether it changed custody (``applied``), had no
    custody meaning (``none``), or named identifiers or parties unknown here (``external``, see ``notes``)."""

    __tablename__ = "epcis_event"
    __table_args__ = (
        Index("ix_epcis_event_event_hash_kind", "event_hash", "kind"),
        Index("ix_epcis_event_record_time_id", "record_time", "id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(500), index=True)
    event_hash: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(30))
    action: Mapped[str | None] = mapped_column(String(10))
    biz_step: Mapped[str | None] = mapped_column(String(500))
    disposition: Mapped[str | None] = mapped_column(String(500))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    record_time: Mapped[datetime] = mapped_column(UTCDateTime())
    read_point: Mapped[str | None] = mapped_column(String(500))
    biz_location: Mapped[str | None] = mapped_column(String(500))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("epcis_capture.id"), index=True)
    native_event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), unique=True)
    custody: Mapped[str] = mapped_column(String(10))
    notes: Mapped[list[str]] = mapped_column(JSON)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    context: Mapped[list[object] | None] = mapped_column(JSON)  # the sender's inline @context entries


# One row per event and eventID (a race between two captures of one event ends here); error declarations of
# one event may be many (each new reason or set of corrective events is kept).
Index(
    "uq_epcis_event_event_hash_event_id",
    EpcisEvent.event_hash,
    EpcisEvent.event_id,
    unique=True,
    sqlite_where=EpcisEvent.kind == "event",
    postgresql_where=EpcisEvent.kind == "event",
)


class EpcisEpc(Base):
    """An identifier an EPCIS event names, canonical (``https://id.gs1.org/...``), with its role in the event."""

    __tablename__ = "epcis_epc"
    __table_args__ = (Index("ix_epcis_epc_epc_role", "epc", "role"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    epcis_event_id: Mapped[int] = mapped_column(ForeignKey("epcis_event.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))  # epc | parent | child | input | output | class
    epc: Mapped[str] = mapped_column(String(500))
    gtin: Mapped[str | None] = mapped_column(String(14), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)


# The query merges native events into recordTime order: it pages them from this index, not a sort.
Index("ix_event_recorded_at_id", Event.recorded_at, Event.id)


class EpcisNamedQuery(Base):
    """A named query (EPCIS 2.0 REST binding, ``POST /queries``): its parameters in the standard's JSON form,
    kept per organisation; ``GET /epcis/queries/{name}/events`` runs it with the caller's visibility."""

    __tablename__ = "epcis_named_query"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EpcisSubscription(Base):
    """A subscription to a named query (EPCIS 2.0 REST binding, ``POST /queries/{name}/subscriptions``): a
    stream (``schedule`` null) or a schedule, pushed to ``dest`` as signed webhook deliveries
    (``WebhookDelivery.subscription_id``). The query's parameters are copied here when subscribing; deleting the
    named query ends its subscriptions. ``cursor_*`` is the merged query order's position of the last event
    pushed (app.domain.epcis_query.Position); ``ended_at`` marks an unsubscribed row, kept for its deliveries."""

    __tablename__ = "epcis_subscription"
    __table_args__ = (Index("ix_epcis_subscription_org_id_query_name", "org_id", "query_name"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), unique=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    query_name: Mapped[str] = mapped_column(String(100))
    query: Mapped[dict[str, object]] = mapped_column(JSON)
    dest: Mapped[str] = mapped_column(String(2000))
    sealed_token: Mapped[bytes | None] = mapped_column(LargeBinary(600))
    schedule: Mapped[dict[str, str] | None] = mapped_column(JSON)
    report_if_empty: Mapped[bool] = mapped_column(Boolean)
    initial_record_time: Mapped[datetime] = mapped_column(UTCDateTime())
    cursor_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cursor_source: Mapped[int | None] = mapped_column(Integer)
    cursor_row: Mapped[int | None] = mapped_column(BigInteger)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
