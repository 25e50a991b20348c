"""The rules an event meets before any record is looked at: its action, time and fields, what it takes, how it is
stored, which refusal raises which alert, and when it may be undone or its items restored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.domain.custody import Action, Custody, Refused, Status
from app.domain.errors import DomainError, Forbidden, InvalidInput, NotFound
from app.domain.event_rules import (
    EventIn,
    Policy,
    UndoTarget,
    alert_kind,
    check_fields,
    check_occurred_at,
    check_restorable,
    check_takes,
    check_undo,
    parse_action,
    payload,
    sale_channel,
)
from app.domain.sale_rules import Prescription

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ACTIONS = (
    "pack, unpack, ship, receive, sell, dispense, return, destroy, recycle, lock, unlock, report_stolen, export, "
    "open, undo"
)


def refusal(error: type[DomainError], call: object, *args: object, **kwargs: object) -> tuple[str, str]:
    with pytest.raises(error) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value.code, info.value.detail


def test_actions_are_parsed_and_an_unknown_one_lists_them_all() -> None:
    assert parse_action("ship") is Action.SHIP
    assert parse_action("report_stolen") is Action.REPORT_STOLEN
    assert refusal(InvalidInput, parse_action, "Ship") == (
        "invalid_action",
        f"unknown action 'Ship'; the actions are {ACTIONS}",
    )


def test_occurred_at_may_be_five_minutes_ahead_but_not_more() -> None:
    check_occurred_at(NOW + timedelta(minutes=5), NOW)
    check_occurred_at(NOW - timedelta(days=3650), NOW)
    assert refusal(InvalidInput, check_occurred_at, NOW + timedelta(minutes=5, microseconds=1), NOW) == (
        "occurred_in_future",
        "occurred_at is in the future",
    )


def test_occurred_at_starts_in_2000() -> None:
    check_occurred_at(datetime(2000, 1, 1, tzinfo=UTC), NOW)
    assert refusal(InvalidInput, check_occurred_at, datetime(1999, 12, 31, 23, 59, tzinfo=UTC), NOW) == (
        "occurred_too_early",
        "occurred_at is before the year 2000",
    )


def known(org: str) -> bool:
    return org == "org-b"


def test_a_shipment_needs_a_known_destination() -> None:
    check_fields(Action.SHIP, EventIn("ship", to="org-b"), known)
    for to in (None, ""):
        assert refusal(InvalidInput, check_fields, Action.SHIP, EventIn("ship", to=to), known) == (
            "destination_required",
            "a shipment needs 'to': the receiving organisation's id",
        )
    assert refusal(NotFound, check_fields, Action.SHIP, EventIn("ship", to="org-x"), known) == (
        "org_not_found",
        "no organisation org-x",
    )
    check_fields(Action.RECEIVE, EventIn("receive"), known)  # only a shipment names a destination


def test_pack_needs_a_container() -> None:
    check_fields(Action.PACK, EventIn("pack", container="106141411234567897"), known)
    check_fields(Action.UNPACK, EventIn("unpack"), known)
    assert refusal(InvalidInput, check_fields, Action.PACK, EventIn("pack", container=""), known) == (
        "container_required",
        "pack needs 'container': the SSCC of the case or pallet",
    )


def test_a_sale_needs_its_channel_and_an_online_one_its_platform_and_order() -> None:
    check_fields(Action.SELL, EventIn("sell", channel="offline"), known)
    check_fields(Action.SELL, EventIn("sell", channel="online", platform="tmall", order_ref="A1"), known)
    check_fields(Action.DISPENSE, EventIn("dispense"), known)  # only a sale names a channel
    for channel in (None, "store", "Online"):
        assert refusal(InvalidInput, check_fields, Action.SELL, EventIn("sell", channel=channel), known) == (
            "channel_required",
            "a sale needs 'channel': 'offline' or 'online'",
        )
    for platform, order_ref in ((None, "A1"), ("tmall", None), ("", "A1"), ("tmall", "")):
        ev = EventIn("sell", channel="online", platform=platform, order_ref=order_ref)
        assert refusal(InvalidInput, check_fields, Action.SELL, ev, known) == (
            "online_details_required",
            "an online sale needs 'platform' and 'order_ref'",
        )


def test_a_prescription_needs_a_time_zone() -> None:
    aware = Prescription("rx-1", "dr-1", NOW)
    check_fields(Action.DISPENSE, EventIn("dispense", prescription=aware), known)
    naive = Prescription("rx-1", "dr-1", NOW.replace(tzinfo=None))
    assert refusal(InvalidInput, check_fields, Action.DISPENSE, EventIn("dispense", prescription=naive), known) == (
        "invalid_time",
        "prescription.issued_at needs a time zone",
    )


def test_unit_actions_refuse_containers_and_unpack_refuses_units() -> None:
    check_takes(Action.SELL, "U1", is_unit=True)
    check_takes(Action.UNPACK, "C1", is_unit=False)
    check_takes(Action.SHIP, "U1", is_unit=True)
    check_takes(Action.SHIP, "C1", is_unit=False)
    assert refusal(InvalidInput, check_takes, Action.SELL, "C1", is_unit=False) == (
        "not_a_unit",
        "sell applies to units, not to container C1",
    )
    assert refusal(InvalidInput, check_takes, Action.UNPACK, "U1", is_unit=True) == (
        "not_a_container",
        "unpack takes a container; U1 is a unit",
    )


def test_the_channel_an_event_row_records() -> None:
    assert sale_channel(Action.SELL, EventIn("sell", channel="online")) == "online"
    assert sale_channel(Action.SELL, EventIn("sell", channel="offline")) == "offline"
    assert sale_channel(Action.DISPENSE, EventIn("dispense", channel="online")) == "offline"
    assert sale_channel(Action.SHIP, EventIn("ship", channel="online")) is None


def test_the_payload_keeps_the_fields_given() -> None:
    assert payload(EventIn("lock")) == {"action": "lock"}
    assert payload(EventIn("lock", codes=[], to=None, event_id=None)) == {"action": "lock"}
    ev = EventIn(
        "sell",
        codes=["c1", "c2"],
        occurred_at=datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC),
        to="org-b",
        region="CN-31",
        idempotency_key="k1",
        container="106141411234567897",
        channel="online",
        platform="tmall",
        order_ref="A1",
        prescription=Prescription("rx-1", "dr-1", datetime(2026, 5, 1, 8, 0, tzinfo=UTC)),
        event_id=0,
    )
    assert payload(ev) == {
        "action": "sell",
        "codes": ["c1", "c2"],
        "to": "org-b",
        "region": "CN-31",
        "idempotency_key": "k1",
        "container": "106141411234567897",
        "channel": "online",
        "platform": "tmall",
        "order_ref": "A1",
        "event_id": 0,
        "occurred_at": "2026-05-04T03:02:01+00:00",
        "prescription": {"id": "rx-1", "prescriber": "dr-1", "issued_at": "2026-05-01T08:00:00+00:00"},
    }
    assert payload(EventIn("ship", to="")) == {"action": "ship", "to": ""}  # only None and [] are left out


@pytest.mark.parametrize(
    ("code", "action", "kind"),
    [
        ("already_sold", Action.SELL, "repeat_sale"),
        ("already_sold", Action.DISPENSE, "repeat_sale"),
        ("already_sold", Action.SHIP, None),  # a ship refused as already sold is no resale
        ("expired", Action.SELL, "expired_sale_attempt"),
        ("recalled", Action.DISPENSE, "recalled_sale_attempt"),
        ("under_investigation", Action.SELL, "investigated_sale_attempt"),
        ("under_investigation", Action.DISPENSE, "investigated_sale_attempt"),
        ("under_investigation", Action.SHIP, None),  # shipping is not refused by a case; no sale alert either way
        ("licence_required", Action.SELL, "unlicensed_sale"),
        ("prescription_required", Action.DISPENSE, "prescription_missing"),
        ("not_custodian", Action.SELL, "custody_violation"),
        ("not_addressed_to_you", Action.RECEIVE, "custody_violation"),  # a receipt nobody shipped to you
        ("not_in_transit", Action.RECEIVE, "custody_violation"),
        ("not_custodian", Action.SHIP, None),
        ("expired", Action.RECEIVE, None),  # only custody violations are raised for a receipt
        ("not_locked", Action.SELL, None),  # no alert for this refusal
        ("unknown", Action.RECEIVE, None),
    ],
)
def test_which_refusal_raises_which_alert(code: str, action: Action, kind: str | None) -> None:
    assert alert_kind(code, action) == kind


POLICY = Policy(now=NOW, undo_window=timedelta(hours=24), duplicate_window=timedelta(minutes=10))


def target(action: str = "sell", *, org: str = "org-a", age: timedelta = timedelta(hours=1), undone: bool = False):
    return UndoTarget(event_id=7, org_id=org, action=action, recorded_at=NOW - age, undone=undone)


@pytest.mark.parametrize("action", ["sell", "dispense", "lock", "export"])
def test_an_undoable_event_is_undone_by_its_recorder_within_the_window(action: str) -> None:
    check_undo(target(action), "org-a", POLICY)
    check_undo(target(action, age=timedelta(hours=24)), "org-a", POLICY)  # the window's end included


def test_undo_refusals() -> None:
    assert refusal(Forbidden, check_undo, target(), "org-b", POLICY) == (
        "foreign_event",
        "only the organisation that recorded an event may undo it",
    )
    assert refusal(Refused, check_undo, target("ship"), "org-a", POLICY) == (
        "not_undoable",
        "a ship event cannot be undone",
    )
    assert refusal(Refused, check_undo, target("undo"), "org-a", POLICY) == (
        "not_undoable",
        "a undo event cannot be undone",
    )
    assert refusal(Refused, check_undo, target(undone=True), "org-a", POLICY) == (
        "already_undone",
        "event 7 is already undone",
    )
    late = target(age=timedelta(hours=24, microseconds=1))
    assert refusal(Refused, check_undo, late, "org-a", POLICY) == (
        "undo_window_passed",
        "event 7 is older than the undo window",
    )


HELD = Custody(Status.HELD, "org-a")
SOLD = Custody(Status.SOLD, "org-a")
TODAY = date(2026, 6, 1)


def test_an_item_is_restored_only_if_nothing_moved_it_since() -> None:
    check_restorable("unit U1", 7, SOLD, SOLD, None, TODAY)
    check_restorable("unit U1", 7, SOLD, SOLD, TODAY, TODAY)  # expiring today: not yet expired
    assert refusal(Refused, check_restorable, "unit U1", 7, HELD, SOLD, None, TODAY) == (
        "superseded",
        "unit U1 has moved on since event 7",
    )
    assert refusal(Refused, check_restorable, "unit U1", 7, SOLD, SOLD, date(2026, 5, 31), TODAY) == (
        "expired",
        "unit U1 has expired; its decommissioning stands",
    )
