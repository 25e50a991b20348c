"""Raising an alert: one open alert per code and kind, which counts the repeats instead of multiplying.

"Open" is every status but ``closed`` (an alert under investigation still gathers its repeats). The rule is the
database's: the partial unique index ``uq_alert_type_gtin_serial_open`` on (type, gtin, serial) WHERE status <>
'closed', and raising is one ``INSERT ... ON CONFLICT (type, gtin, serial) WHERE status <> 'closed' DO UPDATE SET
count = alert.count + 1``. No read-then-write: two requests raising the same alert at once end with one row
counting both (on PostgreSQL the second insert waits for the first transaction, then updates what it committed).
Alerts without a code (no gtin) never conflict, since NULLs are distinct in a unique index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.models import ALERT_OPEN, Alert


def raise_alert(
    session: Session,
    *,
    type_: str,
    severity: str,
    at: datetime,
    details: dict[str, Any],
    unit_id: int | None = None,
    gtin: str | None = None,
    serial: str | None = None,
    org_id: str | None = None,
    region: str | None = None,
) -> int:
    """Open the alert, or count one more repeat on the open alert of the same code and kind; its id either way.

    A repeat keeps the first occurrence's details, organisation and region, and moves ``last_at`` to ``at``."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Alert).values(
        type=type_,
        severity=severity,
        unit_id=unit_id,
        gtin=gtin,
        serial=serial,
        org_id=org_id,
        created_at=at,
        last_at=at,
        status="open",
        count=1,
        details=details,
        region=region,
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[Alert.type, Alert.gtin, Alert.serial],
        index_where=ALERT_OPEN,
        set_={"count": Alert.count + 1, "last_at": statement.excluded.last_at},
    ).returning(Alert.id)
    alert_id: int = session.execute(upsert).scalar_one()
    return alert_id
