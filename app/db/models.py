"""The relational schema. Alembic migrations (``migrations/``) are the only thing that creates it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.db.types import BigID, UTCDateTime
from app.domain.alerts import AlertStatus
from app.domain.orgs import CATEGORIES, LICENCE_KINDS, ROLES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Tables whose ids are published (URLs, headers, a receiver's deduplication key): on SQLite, AUTOINCREMENT so that
# an id is never handed out again after its row was deleted (PostgreSQL sequences never go back). A rolled-back
# insert still frees its id on SQLite; ids published before their commit are reserved apart (app/db/ids.py).
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = metadata


class Organisation(Base):
    __tablename__ = "organisation"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    gln: Mapped[str | None] = mapped_column(String(13), unique=True)
    region: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Licence(Base):
    """One grant of a licence: valid from ``valid_from`` through ``valid_until`` (days, both included; no end when
    None) until ``revoked_at``. An organisation may hold several grants of a kind over time (app/domain/licences.py)."""

    __tablename__ = "licence"
    __table_args__ = (
        CheckConstraint(f"kind IN {LICENCE_KINDS!r}", name="kind"),
        CheckConstraint("valid_until IS NULL OR valid_until >= valid_from", name="dates"),
        Index("ix_licence_org_id_kind", "org_id", "kind"),
        Index("ix_licence_valid_until", "valid_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    kind: Mapped[str] = mapped_column(String(40))
    number: Mapped[str | None] = mapped_column(String(80))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(32))


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SigningKey(Base):
    """Ed25519 code-signing keys. The private half is sealed (AES-GCM) under the master key, never clear."""

    __tablename__ = "signing_key"

    key_tag: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (CheckConstraint(f"category IN {CATEGORIES!r}", name="category"),)

    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    manufacturer_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    description: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The 7-digit 药品标识码 that begins the product's 20-digit drug traceability codes (app/domain/cn_code.py).
    cn_drug_id: Mapped[str | None] = mapped_column(String(7), unique=True)


class Batch(Base):
    __tablename__ = "batch"
    __table_args__ = (
        UniqueConstraint("gtin", "lot"),
        CheckConstraint("expires_on > manufactured_on", name="dates"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gtin: Mapped[str] = mapped_column(ForeignKey("product.gtin"))
    lot: Mapped[str] = mapped_column(String(20))
    manufactured_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Issuance(Base):
    """One request for codes: which batch, which key signed them, how many."""

    __tablename__ = "issuance"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), index=True)
    # None: units serialised elsewhere and commissioned here through EPCIS (their codes carry no signature).
    key_tag: Mapped[int | None] = mapped_column(ForeignKey("signing_key.key_tag"))
    count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Unit(Base):
    """One serialised unit. Narrow on purpose: a batch of a million is a million of these rows."""

    __tablename__ = "unit"
    __table_args__ = (
        UniqueConstraint("gtin", "serial"),
        Index("ix_unit_issuance_id_id", "issuance_id", "id"),
        # Recall traces count a lot's units by custody and container from this index alone.
        Index(
            "ix_unit_gtin_batch_id_state_custody", "gtin", "batch_id", "state", "container_sscc", "holder_id", "to_id"
        ),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14))
    serial: Mapped[str] = mapped_column(String(20))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"))
    issuance_id: Mapped[int] = mapped_column(ForeignKey("issuance.id"))
    # Custody of a loose unit (see app/domain/custody.py). Inside a container, the outermost container's
    # record applies and these columns are only brought up to date when the unit is taken out.
    state: Mapped[str] = mapped_column(String(20), server_default="issued")
    holder_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))  # None: the manufacturer
    to_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    previous: Mapped[str | None] = mapped_column(String(20))
    container_sscc: Mapped[str | None] = mapped_column(ForeignKey("container.sscc"))


# Most units are never packed: a partial index keeps issuance from writing a million NULL entries.
Index(
    "ix_unit_container_sscc",
    Unit.container_sscc,
    sqlite_where=Unit.container_sscc.is_not(None),
    postgresql_where=Unit.container_sscc.is_not(None),
)


class Container(Base):
    """A case or pallet (SSCC). Shipping it moves everything inside with one row write."""

    __tablename__ = "container"

    sscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    holder_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    to_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    previous: Mapped[str | None] = mapped_column(String(20))
    parent_sscc: Mapped[str | None] = mapped_column(ForeignKey("container.sscc"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Event(Base):
    """One accepted custody event, as its organisation sent it (append-only)."""

    __tablename__ = "event"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    region: Mapped[str | None] = mapped_column(String(10))
    to_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    container_sscc: Mapped[str | None] = mapped_column(String(18))
    channel: Mapped[str | None] = mapped_column(String(10))
    platform_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    order_ref: Mapped[str | None] = mapped_column(String(100))
    prescription_id: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    undoes_event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    undone_by_event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)


class Settlement(Base):
    """One insurance settlement of a unit (NHSA): a whole pack is part 0; a split pack's parts are 1, 2, ..."""

    __tablename__ = "settlement"
    __table_args__ = (UniqueConstraint("unit_id", "part"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    part: Mapped[int] = mapped_column(Integer)
    scheme: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    region: Mapped[str | None] = mapped_column(String(10))
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventItem(Base):
    """What one event touched directly: a unit or a container, with its custody before and after."""

    __tablename__ = "event_item"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    container_sscc: Mapped[str | None] = mapped_column(ForeignKey("container.sscc"), index=True)
    before: Mapped[dict[str, object]] = mapped_column(JSON)
    after: Mapped[dict[str, object]] = mapped_column(JSON)


class Containment(Base):
    """When a unit or a container was inside another container (for histories that stay O(containers))."""

    __tablename__ = "containment"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    child_sscc: Mapped[str | None] = mapped_column(ForeignKey("container.sscc"), index=True)
    parent_sscc: Mapped[str] = mapped_column(ForeignKey("container.sscc"), index=True)
    packed_event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    unpacked_event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    # The unit's lot, copied so that a recall trace reads a lot's intervals from one index (None: a container).
    batch_id: Mapped[int | None] = mapped_column(Integer)


Index(
    "ix_containment_batch_id_interval",
    Containment.batch_id,
    Containment.parent_sscc,
    Containment.packed_event_id,
    Containment.unpacked_event_id,
)


class LotCustody(Base):
    """Units of a lot by effective custody (packed units count under their outermost container's record),
    kept in step with every custody change so that a recall trace reads holders, not units. Keys are NOT NULL
    ('' for no addressee: a NULL never meets the unique key an upsert needs); the holder is always resolved.
    The units issuances made are not in it: they start as issued at the manufacturer and are read from
    ``issuance.count``, so this holds only what events changed (the issued count goes below zero)."""

    __tablename__ = "lot_custody"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), primary_key=True)
    holder_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    to_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class ContainerLot(Base):
    """Units of a lot anywhere inside a container (its whole subtree): moving a container moves these."""

    __tablename__ = "container_lot"

    sscc: Mapped[str] = mapped_column(ForeignKey("container.sscc"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class LotHop(Base):
    """Units of a lot shipped from one organisation to another, loose or inside containers (one per shipment)."""

    __tablename__ = "lot_hop"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    from_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    to_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class LotSale(Base):
    """Units of a lot with a standing (not undone) sale or dispensing, by action, channel and platform ('')."""

    __tablename__ = "lot_sale"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    action: Mapped[str] = mapped_column(String(20), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    platform_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class LotRecovery(Base):
    """Units of a lot returned, destroyed or recycled, ever (a recall subtracts what it found when it began)."""

    __tablename__ = "lot_recovery"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    action: Mapped[str] = mapped_column(String(20), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class Prescription(Base):
    """A prescription is used once across the whole system."""

    __tablename__ = "prescription"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    prescriber: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))


class LogNode(Base):
    """Hashes of the complete subtrees of the Merkle log: leaves [index * 2**level, (index + 1) * 2**level)."""

    __tablename__ = "log_node"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), unique=True)  # leaves only


class LogState(Base):
    """One row: the size of the log. Locked by each append, which keeps leaf indices dense and unique."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)


class LogKey(Base):
    """The Ed25519 key that signs checkpoints (sealed like the code-signing keys)."""

    __tablename__ = "log_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogCheckpoint(Base):
    """Every checkpoint the service signed, kept so an auditor can ask for consistency between any two."""

    __tablename__ = "log_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(2000))


class Recall(Base):
    """A recall of a product, some of its lots or listed serials. Irreversible: it can grow or be completed."""

    __tablename__ = "recall"
    __table_args__ = (CheckConstraint("recall_class IN ('I', 'II', 'III')", name="class"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gtin: Mapped[str] = mapped_column(ForeignKey("product.gtin"), index=True)
    lots: Mapped[list[str]] = mapped_column(JSON)  # empty with no serials: every unit of the GTIN
    serials: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(1000))
    recall_class: Mapped[str] = mapped_column(String(3))
    instructions: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # lot_recovery as it stood when each lot came under the recall: {"<batch id>": {"<action>": units}}
    recovery_baseline: Mapped[dict[str, dict[str, int]] | None] = mapped_column(JSON)


class Scan(Base):
    """A verification scan, kept for early warning (clones, unknown codes). Recorded in batches, off the hot path."""

    __tablename__ = "scan"
    # The client is in the index so the flush counts a unit's distinct clients without reading the table.
    __table_args__ = (Index("ix_scan_unit_id_scanned_at_client", "unit_id", "scanned_at", "client"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14))
    serial: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    verdict: Mapped[str] = mapped_column(String(20))
    client: Mapped[str] = mapped_column(String(16))  # keyed hash of the client address, not the address
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    triage: Mapped[str | None] = mapped_column(String(20))


class Alert(Base):
    """One open alert per code and kind (see app/db/alerts.py): a repeat counts on it (``count``, ``last_at``)."""

    __tablename__ = "alert"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    gtin: Mapped[str | None] = mapped_column(String(14), index=True)
    serial: Mapped[str | None] = mapped_column(String(20))
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    details: Mapped[dict[str, object]] = mapped_column(JSON)
    region: Mapped[str | None] = mapped_column(String(10), index=True)
    root_cause: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer, server_default="1")  # occurrences: the first and its repeats
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the latest occurrence


# A literal, not a bound parameter: PostgreSQL matches ON CONFLICT ... WHERE to the partial index by its text.
ALERT_OPEN = Alert.status != literal_column(f"'{AlertStatus.CLOSED.value}'")
Index(
    "uq_alert_type_gtin_serial_open",
    Alert.type,
    Alert.gtin,
    Alert.serial,
    unique=True,
    sqlite_where=ALERT_OPEN,
    postgresql_where=ALERT_OPEN,
)


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
        Index("ix_webhook_delivery_status_next_attempt_at", "status", "next_attempt_at"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(String(10), server_default="pending")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecallNotice(Base):
    """That an organisation holding (or about to receive) recalled units was told, and when it acknowledged."""

    __tablename__ = "recall_notice"
    __table_args__ = (UniqueConstraint("recall_id", "org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recall.id"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    units: Mapped[int] = mapped_column(Integer)
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_delivery.id"))  # None: no endpoint


__all__ = [
    "Alert",
    "ApiKey",
    "Base",
    "Batch",
    "Container",
    "ContainerLot",
    "Containment",
    "Event",
    "EventItem",
    "Issuance",
    "Licence",
    "LotCustody",
    "LotHop",
    "LotRecovery",
    "LotSale",
    "Organisation",
    "Prescription",
    "Product",
    "Recall",
    "RecallNotice",
    "Scan",
    "SigningKey",
    "Unit",
    "WebhookDelivery",
    "WebhookEndpoint",
]
