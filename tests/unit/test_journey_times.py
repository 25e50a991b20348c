"""The sold-pack scan writes an event's time from the driver's value as the ORM's aware datetime would print."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.services.verification import _iso


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 5, 11, 58, 32, 492390, tzinfo=UTC),
        datetime(2026, 12, 5, 11, 58, 32, tzinfo=UTC),  # no microseconds: isoformat leaves them out
        datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    ],
)
def test_sqlite_text_and_postgresql_datetimes_print_as_the_orm_reads_them(moment):
    expected = moment.isoformat()
    as_sqlalchemy_stores_it = moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    as_sqlite3_adapts_it = moment.replace(tzinfo=None).isoformat(" ")  # no ".000000" when there are none
    assert _iso(as_sqlalchemy_stores_it) == expected
    assert _iso(as_sqlite3_adapts_it) == expected
    assert _iso(moment.astimezone(timezone(timedelta(hours=8)))) == expected  # psycopg, another session zone
    assert _iso(moment.replace(tzinfo=None)) == expected


def test_sqlite_journey_puts_the_rows_in_the_history_order():
    """SQLite's lookup column aggregates the rows in no promised order: the container state first, then by when
    each event happened, then by its id (a late event, sent after others, still sorts by when it happened)."""
    from app.db.journeys import sqlite_journey

    column = (
        '[[1,"sell","offline","2026-12-05 10:00:00.000000","CN-31",9],'
        '[1,"receive",null,"2026-12-05 09:00:00.000000","CN-31",4],'
        '[0,"sold",null,null,null,0],'
        '[1,"ship",null,"2026-12-05 09:00:00.000000","CN-31",3]]'
    )
    assert [row[5] for row in sqlite_journey(column)] == [0, 3, 4, 9]
    assert sqlite_journey(None) == []  # an untouched unit
    assert sqlite_journey("[]") == []


def test_trail_names_the_steps_and_writes_the_times_as_the_orm_would():
    """``trail`` writes SQLite's stored form itself (its fast path) and any other value through ``_iso``: the same
    text as the ORM's aware datetime for each; packing is not shown; a sale says where it was sold."""
    from app.domain.consumer import consumer_step
    from app.services.verification import trail

    class Row:
        state, container_sscc = "sold", None

    at = datetime(2026, 12, 5, 9, 0, 0, 120000, tzinfo=UTC)
    whole = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)
    rows = [
        [1, "ship", None, at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"), "CN-31", 1],
        [1, "pack", None, "2026-12-05 09:30:00.000000", "CN-31", 2],
        [1, "receive", None, whole.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"), None, 3],
        [1, "ship", None, whole.replace(tzinfo=None).isoformat(" "), "CN-31", 4],  # sqlite3's form: 19 characters
        [1, "sell", "online", at.astimezone(timezone(timedelta(hours=8))), "CN-31", 5],  # psycopg's datetime
        [1, "sell", None, "2026-12-05T11:00:00.5", "CN-31", 6],
    ]
    status, steps = trail(rows, Row())  # type: ignore[arg-type]
    assert status == "sold"
    assert steps == [
        {"step": "shipped", "at": at.isoformat(), "region": "CN-31"},
        {"step": "received", "at": whole.isoformat(), "region": None},
        {"step": "shipped", "at": whole.isoformat(), "region": "CN-31"},
        {"step": consumer_step("sell", "online"), "at": at.isoformat(), "region": "CN-31"},
        {"step": consumer_step("sell", None), "at": "2026-12-05T11:00:00.500000+00:00", "region": "CN-31"},
    ]
    assert trail([[0, "held", None, None, None, 0], *rows[:1]], Row())[0] == "held"  # inside a container: its state
