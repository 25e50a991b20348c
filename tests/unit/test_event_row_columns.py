"""The single-event lane's plain event row and its driver-SQL insert (app/db/custody.py) name every column of the
``event`` table, so a column added to the model cannot be silently left out of the row or the insert."""

from __future__ import annotations

from dataclasses import fields

from app.db import custody
from app.db.models import Event


def test_event_row_has_every_column_of_the_event_table():
    assert [f.name for f in fields(custody.EventRow)] == [c.name for c in Event.__table__.columns]


def test_the_driver_insert_sets_every_column_but_the_id_and_the_payload_last():
    columns = [c.name for c in Event.__table__.columns if c.name != "id"]
    assert sorted(custody._EVENT_COLUMNS) == sorted(columns)
    assert custody._EVENT_COLUMNS[-1] == "payload"  # PostgreSQL's insert casts its last parameter to JSON
