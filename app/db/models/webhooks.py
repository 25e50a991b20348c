"""Webhook endpoints and the deliveries pushed to them (an outbox)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import NEVER_REUSED_IDS, Base
from app.db.types import BigID, UTCDateTime


class WebhookEndpoint(Base):
    """Where an organisation wants notices pushed. One active endpoint per organisation; registering again
    disables the old one. The HMAC secret is generated here, shown once, and kept sealed (AES-GCM) under the
    master key: it cannot be hashed, because every delivery is signed with it."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    url: Mapped[str] = mapped_column(String(2000))
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index(
    "uq_webhook_endpoint_org_id_active",
    WebhookEndpoint.org_id,
    unique=True,
    sqlite_where=WebhookEndpoint.disabled_at.is_(None),
    postgresql_where=WebhookEndpoint.disabled_at.is_(None),
)


class WebhookDelivery(Base):
    """One event to push to one endpoint, with the outcome of its latest attempt (an outbox row)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        CheckConstraint("(endpoint_id IS NULL) <> (subscription_id IS NULL)", name="one_destination"),
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    # an organisation's endpoint, or an EPCIS subscription's own destination: exactly one of the two
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoint.id"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("epcis_subscription.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
