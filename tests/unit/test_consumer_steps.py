"""consumer_steps (app/domain/consumer.py, new in issue 17's sold-pack scan): the steps a consumer reads for a
unit's events, in the order given, without the events a consumer is not shown (issue 21, session E: unreached by
any unit test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from app.domain.consumer import consumer_steps

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def test_steps_in_the_order_given_with_their_time_and_region():
    events = [
        ("ship", None, T0, "CN-31"),
        ("pack", None, T0 + timedelta(hours=1), "CN-31"),  # not shown
        ("receive", None, T0 + timedelta(hours=2), None),
        ("sell", "online", datetime(2026, 3, 2, 16, tzinfo=timezone(timedelta(hours=8))), "CN-11"),
        ("sell", None, T0, "CN-11"),
        ("undo", None, T0, None),  # not shown
    ]
    assert consumer_steps(events) == [
        {"step": "shipped", "at": "2026-03-01T08:00:00+00:00", "region": "CN-31"},
        {"step": "received", "at": "2026-03-01T10:00:00+00:00", "region": None},
        {"step": "sold_online", "at": "2026-03-02T16:00:00+08:00", "region": "CN-11"},
        {"step": "sold_in_store", "at": "2026-03-01T08:00:00+00:00", "region": "CN-11"},
    ]


def test_no_events_no_steps():
    assert consumer_steps([]) == []
    assert consumer_steps(iter([("unpack", None, T0, None)])) == []
