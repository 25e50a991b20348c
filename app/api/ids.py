"""Integer ids in paths and queries, bounded by the column they name.

A database refuses a number its column cannot hold (PostgreSQL INTEGER stops at 2**31 - 1, BIGINT and SQLite
at 2**63 - 1) with an error, not an empty result; so every id is checked here, against the narrower of the two
databases, before a query sees it:
- a path id outside its column's range names nothing, and is answered as a missing row is (404, the same code);
- a query value outside it is a malformed request (422), through ``Query(le=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, Field
from sqlalchemy import BigInteger
from sqlalchemy.orm import InstrumentedAttribute

from app.db.models import (
    Alert,
    Batch,
    Event,
    Issuance,
    Licence,
    LogCheckpoint,
    LogState,
    PartnerVerification,
    Recall,
    RecallOrder,
    SuspectCase,
    WebhookDelivery,
)
from app.domain.errors import NotFound

INT32_MAX = 2**31 - 1  # PostgreSQL INTEGER
INT64_MAX = 2**63 - 1  # PostgreSQL BIGINT, SQLite INTEGER


def largest(column: InstrumentedAttribute[Any]) -> int:
    """The largest value the column holds on every supported database."""
    return INT64_MAX if isinstance(column.type, BigInteger) else INT32_MAX


@dataclass(frozen=True, slots=True)
class RowId:
    """The ids of one table's rows: 1 up to what its column holds. Called as a validator, or from a page."""

    what: str
    column: InstrumentedAttribute[Any]

    def __call__(self, value: int) -> int:
        if not 1 <= value <= largest(self.column):
            # Raised from validation, not a ValueError: pydantic lets it through, and the problem table makes
            # it the 404 the service answers for a missing row.
            raise NotFound(f"no {self.what} {value}", code=f"{self.what}_not_found")
        return value

    def path(self) -> Any:
        return Path(json_schema_extra={"minimum": 1, "maximum": largest(self.column)})


BATCH = RowId("batch", Batch.id)
ISSUANCE = RowId("issuance", Issuance.id)
RECALL = RowId("recall", Recall.id)
ALERT = RowId("alert", Alert.id)
CASE = RowId("case", SuspectCase.id)
LICENCE = RowId("licence", Licence.id)
EVENT = RowId("event", Event.id)

BatchId = Annotated[int, BATCH.path(), AfterValidator(BATCH)]
IssuanceId = Annotated[int, ISSUANCE.path(), AfterValidator(ISSUANCE)]
RecallId = Annotated[int, RECALL.path(), AfterValidator(RECALL)]
AlertId = Annotated[int, ALERT.path(), AfterValidator(ALERT)]
CaseId = Annotated[int, CASE.path(), AfterValidator(CASE)]
LicenceId = Annotated[int, LICENCE.path(), AfterValidator(LICENCE)]
EventId = Annotated[int, EVENT.path(), AfterValidator(EVENT)]

# Query values: paging cursors (the last id seen) and positions in the log.
AlertCursor = Annotated[int | None, Query(ge=1, le=largest(Alert.id))]
DeliveryCursor = Annotated[int | None, Query(ge=1, le=largest(WebhookDelivery.id))]
RecallOrderCursor = Annotated[
    int | None, Query(ge=1, le=largest(RecallOrder.id), description="Paging: only ids above this (next_after)")
]
VerificationCursor = Annotated[
    int | None, Query(ge=1, le=largest(PartnerVerification.id), description="Paging: only ids below this (next_before)")
]
CheckpointCursor = Annotated[int, Query(ge=0, le=largest(LogCheckpoint.id))]
LogIndex = Annotated[int, Query(ge=0, le=largest(LogState.tree_size))]
LogSize = Annotated[int, Query(ge=1, le=largest(LogState.tree_size))]
PageNumber = Annotated[int, Query(ge=1, le=INT32_MAX)]

# In a body: the event an ``undo`` names (a value its column cannot hold is invalid, 422).
EventRef = Annotated[int, Field(ge=1, le=largest(Event.id))]
