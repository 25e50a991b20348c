"""EPCIS subscription requests and schedules (app.domain.epcis_subscription), without HTTP or a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.domain.epcis_subscription import FIELDS_OF_REQUEST, MAX_TOKEN, check_request, cron_fields, next_run
from app.domain.errors import SubscriptionError

DEST = "https://erp.example.com/epcis"
SAT = datetime(2026, 12, 5, 9, 0, 10, tzinfo=UTC)  # a Saturday


def refused(body: dict, fragment: str) -> str:
    with pytest.raises(SubscriptionError) as caught:
        check_request(body, DEST)
    assert fragment in caught.value.detail, caught.value.detail
    assert caught.value.code == "invalid_subscription"
    assert caught.value.problem_type == "epcisException:SubscriptionControlsException"
    return caught.value.detail


def test_a_stream_request():
    request = check_request({"dest": DEST, "stream": True}, DEST)
    assert request.stream is True and request.schedule is None
    assert (request.dest, request.signature_token, request.report_if_empty, request.initial_record_time) == (
        DEST,
        None,
        False,
        None,
    )


def test_a_scheduled_request_keeps_its_fields_as_text():
    request = check_request(
        {
            "dest": DEST,
            "schedule": {"hour": 1, "minute": "5"},
            "reportIfEmpty": True,
            "signatureToken": "x" * 16,
            "initialRecordTime": "2026-12-01T08:00:00+08:00",
        },
        DEST,
    )
    assert request.stream is False
    assert request.schedule == {"hour": "1", "minute": "5"}
    assert request.report_if_empty is True and request.signature_token == "x" * 16
    assert request.initial_record_time == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert request.initial_record_time.tzinfo is UTC


def test_token_lengths_at_their_limits():
    assert check_request({"stream": True, "signatureToken": "t" * 16}, DEST).signature_token == "t" * 16
    assert check_request({"stream": True, "signatureToken": "t" * MAX_TOKEN}, DEST).signature_token
    assert MAX_TOKEN == 500
    refused({"stream": True, "signatureToken": "t" * 15}, "16 to 500 characters")
    refused({"stream": True, "signatureToken": "t" * 501}, "16 to 500 characters")
    refused({"stream": True, "signatureToken": 12345678901234567}, "must be a string")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, 'give either "stream": true'),
        ({"stream": False}, "a subscription needs one of them"),
        ({"stream": "true"}, "either"),
        ({"stream": True, "schedule": {"hour": "1"}}, 'give "stream" or "schedule", not both'),
        ({"stream": False, "schedule": {"hour": "1"}}, "not both"),
        ({"stream": True, "reportIfEmpty": "yes"}, "reportIfEmpty must be true or false"),
        ({"stream": True, "reportIfEmpty": True}, "applies to a scheduled subscription"),
        ({"stream": True, "initialRecordTime": "2026-12-01T00:00:00"}, "with its offset"),
        ({"stream": True, "initialRecordTime": "soon"}, "must be a date-time"),
        ({"stream": True, "initialRecordTime": 1733000000}, "must be a date-time"),
        ({"stream": True, "queryName": "x"}, "unknown field 'queryName'"),
        ({"schedule": "hourly"}, "schedule must be an object with at least one of second"),
        ({"schedule": {}}, "at least one of"),
        ({"schedule": {"minutes": "5"}}, "unknown field 'minutes'; the fields are second, minute"),
        ({"schedule": {"hour": True}}, 'schedule.hour must be a string such as "5"'),
        ({"schedule": {"hour": 1.5}}, "must be a string"),
    ],
)
def test_refusals(body, fragment):
    refused(body, fragment)


def test_the_known_request_fields():
    assert FIELDS_OF_REQUEST == {"dest", "signatureToken", "stream", "schedule", "reportIfEmpty", "initialRecordTime"}


@pytest.mark.parametrize(
    ("schedule", "cron"),
    [
        ({"minute": "5"}, {"second": "0", "minute": "5"}),
        ({"second": "30"}, {"second": "30"}),
        ({"hour": "[2-4]"}, {"second": "0", "hour": "2-4"}),
        ({"hour": "2-4"}, {"second": "0", "hour": "2-4"}),
        ({"minute": "0,15,[30-35]"}, {"second": "0", "minute": "0,15,30-35"}),
        ({"second": "0/30"}, {"second": "0-59/30"}),
        ({"second": "*/20"}, {"second": "0-59/20"}),
        ({"dayOfWeek": "1"}, {"second": "0", "day_of_week": "0"}),
        ({"dayOfWeek": "7"}, {"second": "0", "day_of_week": "6"}),
        ({"dayOfWeek": "[1-5]"}, {"second": "0", "day_of_week": "0-4"}),
        ({"dayOfWeek": "2/2"}, {"second": "0", "day_of_week": "1-6/2"}),
        ({"dayOfMonth": "31", "month": "12"}, {"second": "0", "day": "31", "month": "12"}),
        ({"hour": " 7 "}, {"second": "0", "hour": "7"}),
    ],
)
def test_schedule_fields_in_cron_terms(schedule, cron):
    assert cron_fields(schedule) == cron


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ({"second": "60"}, "schedule.second: 60 is outside 0..59"),
        ({"minute": "60"}, "outside 0..59"),
        ({"hour": "24"}, "schedule.hour: 24 is outside 0..23"),
        ({"dayOfMonth": "0"}, "outside 1..31"),
        ({"dayOfMonth": "32"}, "outside 1..31"),
        ({"month": "0"}, "outside 1..12"),
        ({"month": "13"}, "outside 1..12"),
        ({"dayOfWeek": "0"}, "outside 1..7"),
        ({"dayOfWeek": "8"}, "outside 1..7"),
        ({"hour": "[5-2]"}, "schedule.hour: the range 5-2 runs backwards"),
        ({"hour": "[2-24]"}, "outside 0..23"),
        ({"hour": "x"}, "schedule.hour: 'x' is not a number, a range [a-b] or a step a/n"),
        ({"hour": "1-"}, "is not a number"),
        ({"hour": "100"}, "is not a number"),
        ({"second": "0/0"}, "schedule.second: a step of 0 does not fit 0..59"),
        ({"second": "0/61"}, "a step of 61 does not fit 0..59"),
        ({"month": "*/13"}, "a step of 13 does not fit 1..12"),
        ({"hour": "25/2"}, "outside 0..23"),
    ],
)
def test_schedule_refusals(schedule, fragment):
    refused({"schedule": schedule}, fragment)


def test_steps_at_their_limits():
    assert cron_fields({"second": "0/60"}) == {"second": "0-59/60"}
    assert cron_fields({"month": "*/12"}) == {"second": "0", "month": "1-12/12"}
    assert cron_fields({"second": "0/1"}) == {"second": "0-59/1"}
    assert cron_fields({"second": "59"}) == {"second": "59"}
    assert cron_fields({"hour": "[0-23]"}) == {"second": "0", "hour": "0-23"}
    assert cron_fields({"hour": "[3-3]"}) == {"second": "0", "hour": "3-3"}


def test_next_run_times():
    assert next_run({"hour": "1", "minute": "5"}, SAT) == datetime(2026, 12, 6, 1, 5, tzinfo=UTC)
    assert next_run({"second": "0/30"}, SAT) == datetime(2026, 12, 5, 9, 0, 30, tzinfo=UTC)
    assert next_run({"minute": "0"}, SAT) == datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    assert next_run({"dayOfWeek": "7", "hour": "[2-3]"}, SAT) == datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    assert next_run({"dayOfWeek": "1"}, SAT) == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # Monday
    assert next_run({"dayOfMonth": "31", "month": "2"}, SAT) is None  # never


def test_next_run_is_strictly_after():
    on_time = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)
    assert next_run({"minute": "0"}, on_time) == on_time + timedelta(hours=1)
    assert next_run({"minute": "0"}, on_time.replace(microsecond=999_999)) == on_time + timedelta(hours=1)
    assert next_run({"minute": "0"}, on_time - timedelta(microseconds=1)) == on_time


def test_next_run_is_utc_whatever_the_offset_given():
    local = SAT.astimezone(timezone(timedelta(hours=8)))
    fire = next_run({"hour": "1", "minute": "5"}, local)
    assert fire == datetime(2026, 12, 6, 1, 5, tzinfo=UTC)
    assert fire is not None and fire.utcoffset() == timedelta(0)
