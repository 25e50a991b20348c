"""EPCIS 2.0 query subscriptions (the REST binding's ``POST /queries/{name}/subscriptions``): what a subscription
asks for, checked, and when a scheduled one runs next.

A subscription is either a **stream** (``"stream": true``: every new event the query matches is pushed soon after
it is recorded) or a **schedule** (``"schedule": {"second", "minute", "hour", "dayOfMonth", "month",
"dayOfWeek"}``, cron-like, UTC): at each time the schedule names, the events recorded since the previous run are
pushed, or an empty document when ``reportIfEmpty`` is true. Exactly one of the two must be given, as the standard
says, so that nobody subscribes to a stream by accident.

Each schedule field is what EPCIS's ``QuerySchedule`` allows (query-schedule.json): a number, a range ``[a-b]``,
or a comma-separated list of those; Passport also takes ``a-b`` and the step form ``a/n`` or ``*/n`` seen in the
standard's own examples (``"second": "0/30"``). ``dayOfWeek`` runs 1 (Monday) to 7 (Sunday). As in cron, an
omitted field coarser than the coarsest one given matches every value, and one finer than the finest given is at
its lowest: ``{"hour": "1", "minute": "5"}`` runs once a day at 01:05:00 (the standard's example), ``{"minute":
"0"}`` at the top of every hour, ``{"second": "0/30"}`` every 30 seconds. Times are UTC, computed by APScheduler's
``CronTrigger`` (a kept library rather than our own calendar arithmetic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from app.domain.errors import SubscriptionError

# EPCIS field -> (CronTrigger field, lowest, highest)
FIELDS: dict[str, tuple[str, int, int]] = {
    "second": ("second", 0, 59),
    "minute": ("minute", 0, 59),
    "hour": ("hour", 0, 23),
    "dayOfMonth": ("day", 1, 31),
    "month": ("month", 1, 12),
    "dayOfWeek": ("day_of_week", 1, 7),
}
_ELEMENT = re.compile(r"^(?:\[(\d{1,2})-(\d{1,2})\]|(\d{1,2})-(\d{1,2})|(\d{1,2}|\*)/(\d{1,2})|(\d{1,2}))$")
MAX_TOKEN = 500
FIELDS_OF_REQUEST = frozenset({"dest", "signatureToken", "stream", "schedule", "reportIfEmpty", "initialRecordTime"})


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """A checked subscription request: ``schedule`` None for a stream."""

    dest: str
    signature_token: str | None
    schedule: dict[str, str] | None
    report_if_empty: bool
    initial_record_time: datetime | None

    @property
    def stream(self) -> bool:
        return self.schedule is None


def _number(name: str, text: str, low: int, high: int) -> int:
    value = int(text)
    if not low <= value <= high:
        raise SubscriptionError(f"schedule.{name}: {value} is outside {low}..{high}")
    return value


def _cron_element(name: str, element: str, low: int, high: int) -> str:
    """One element of an EPCIS schedule field in CronTrigger's syntax (day of week moved from 1-7 to 0-6)."""
    match = _ELEMENT.match(element.strip())
    if match is None:
        raise SubscriptionError(
            f"schedule.{name}: {element!r} is not a number, a range [a-b] or a step a/n (EPCIS QuerySchedule)"
        )
    shift = 1 if name == "dayOfWeek" else 0
    bracket_low, bracket_high, plain_low, plain_high, step_start, step, single = match.groups()
    if single is not None:
        return str(_number(name, single, low, high) - shift)
    if step is not None:
        every = int(step)
        if not 1 <= every <= high - low + 1:
            raise SubscriptionError(f"schedule.{name}: a step of {every} does not fit {low}..{high}")
        start = low if step_start == "*" else _number(name, step_start, low, high)
        return f"{start - shift}-{high - shift}/{every}"
    first = _number(name, bracket_low or plain_low, low, high)
    last = _number(name, bracket_high or plain_high, low, high)
    if first > last:
        raise SubscriptionError(f"schedule.{name}: the range {first}-{last} runs backwards")
    return f"{first - shift}-{last - shift}"


def cron_fields(schedule: dict[str, str]) -> dict[str, str]:
    """The CronTrigger arguments of a checked schedule."""
    fields = {"second": "0"}
    for name, value in schedule.items():
        cron_name, low, high = FIELDS[name]
        fields[cron_name] = ",".join(_cron_element(name, part, low, high) for part in value.split(","))
    return fields


def _trigger(schedule: dict[str, str]) -> CronTrigger:
    return CronTrigger(**cron_fields(schedule), timezone=UTC)  # type: ignore[arg-type]


def next_run(schedule: dict[str, str], after: datetime) -> datetime | None:
    """The first time strictly after ``after`` that the schedule names (None if it names none, e.g. 31 February)."""
    fire = _trigger(schedule).get_next_fire_time(None, after.replace(microsecond=0) + timedelta(seconds=1))
    return fire.astimezone(UTC) if fire is not None else None


def _schedule(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise SubscriptionError("schedule must be an object with at least one of " + ", ".join(FIELDS))
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise SubscriptionError(f"schedule: unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
    schedule = {}
    for name, raw in value.items():
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise SubscriptionError(f'schedule.{name} must be a string such as "5", "[1-5]" or "0,30"')
        schedule[name] = str(raw)
    cron_fields(schedule)  # every element checked
    return schedule


def check_request(body: dict[str, Any], dest: str) -> SubscriptionRequest:
    """Check a subscription request (``dest`` already checked as a webhook address by the caller)."""
    unknown = sorted(set(body) - FIELDS_OF_REQUEST)
    if unknown:
        raise SubscriptionError(
            f"unknown field {unknown[0]!r}; a subscription has {', '.join(sorted(FIELDS_OF_REQUEST))}"
        )
    stream, schedule = body.get("stream"), body.get("schedule")
    if schedule is None and stream is not True:
        raise SubscriptionError(
            'give either "stream": true (every new matching event) or a "schedule"; a subscription needs one of them'
        )
    if schedule is not None and stream is not None:
        raise SubscriptionError('give "stream" or "schedule", not both')
    token = body.get("signatureToken")
    if token is not None and (not isinstance(token, str) or not 16 <= len(token) <= MAX_TOKEN):
        raise SubscriptionError(f"signatureToken must be a string of 16 to {MAX_TOKEN} characters")
    report_if_empty = body.get("reportIfEmpty", False)
    if not isinstance(report_if_empty, bool):
        raise SubscriptionError("reportIfEmpty must be true or false")
    if report_if_empty and schedule is None:
        raise SubscriptionError("reportIfEmpty applies to a scheduled subscription; a stream reports events only")
    initial = body.get("initialRecordTime")
    if initial is not None:
        initial = _time("initialRecordTime", initial)
    return SubscriptionRequest(
        dest=dest,
        signature_token=token,
        schedule=_schedule(schedule) if schedule is not None else None,
        report_if_empty=report_if_empty,
        initial_record_time=initial,
    )


def _time(name: str, value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise SubscriptionError(f"{name} must be a date-time with its offset, e.g. 2026-12-01T00:00:00Z")
    return parsed.astimezone(UTC)
