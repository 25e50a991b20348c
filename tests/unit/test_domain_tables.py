"""The domain's small tables, each against a hand-written twin: which custody actions are sales and which may be
undone, what the public sees of every status, which refusals raise which alert, and what happens to the
addressee of a unit reported stolen in transit.

Deleting or changing one entry of a table must fail a test here; the twins are written out, never imported.
"""

from __future__ import annotations

import pytest

from app.domain.alerts import ALERT_TYPES, SEVERITY, AlertType
from app.domain.custody import (
    CONSUMER_HELD,
    ON_HAND,
    PUBLIC_STATE,
    SALE_ACTIONS,
    UNDOABLE_ACTIONS,
    Action,
    Custody,
    Refused,
    Status,
    apply,
)
from app.domain.orgs import DRUG_CATEGORIES
from app.domain.sale_rules import ALERT_FOR

# --------------------------------------------------------------------------------------------- action sets


def test_sale_actions_are_sell_and_dispense() -> None:
    # Dropping "dispense" would let a pharmacy dispense without the sale rules and without a sale alert.
    assert {a.value for a in SALE_ACTIONS} == {"sell", "dispense"}


def test_undoable_actions() -> None:
    # A mistaken sale, dispensing, export or quarantine may be undone by whoever recorded it; nothing else.
    assert {a.value for a in UNDOABLE_ACTIONS} == {"sell", "dispense", "export", "lock"}


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_membership_of_each_action(action: Action) -> None:
    assert (action in SALE_ACTIONS) is (action.value in ("sell", "dispense"))
    assert (action in UNDOABLE_ACTIONS) is (action.value in ("sell", "dispense", "export", "lock"))


def test_on_hand_and_consumer_held_statuses() -> None:
    assert {s.value for s in ON_HAND} == {"issued", "held", "returned"}
    assert {s.value for s in CONSUMER_HELD} == {"sold", "dispensed"}


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_undo_is_never_a_custody_transition(status: Status) -> None:
    """Undo restores the logged state in the service; the state machine itself refuses it from every status."""
    with pytest.raises(Refused):
        apply(Custody(status, holder="org-a", previous=Status.HELD), Action.UNDO, "org-a")


# --------------------------------------------------------------------------------------------- public states

PUBLIC_TWIN = {
    "issued": "issued",
    "held": "in_supply_chain",
    "in_transit": "in_supply_chain",
    "open": "dispensed",  # an opened pack is being dispensed in parts: the public sees "dispensed"
    "locked": "locked",
    "returned": "in_supply_chain",
    "sold": "sold",
    "dispensed": "dispensed",
    "destroyed": "destroyed",
    "recycled": "recycled",
    "stolen": "stolen",
    "exported": "exported",
}


def test_public_state_of_every_status() -> None:
    assert {s.value: p for s, p in PUBLIC_STATE.items()} == PUBLIC_TWIN


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_a_record_reports_the_public_state_of_its_status(status: Status) -> None:
    assert Custody(status, holder="org-a").public_state == PUBLIC_TWIN[status.value]


def test_an_opened_pack_reads_as_dispensed() -> None:
    opened = apply(Custody(Status.HELD, holder="pharmacy"), Action.OPEN, "pharmacy")
    assert opened == Custody(Status.OPEN, holder="pharmacy")
    assert opened.public_state == "dispensed"


# --------------------------------------------------------------------------------------------- stolen


def test_a_unit_reported_stolen_in_transit_forgets_its_addressee() -> None:
    """The sender (still the holder in transit) reports it; the addressee no longer awaits it, so ``to`` is
    cleared and the addressee cannot receive it."""
    shipped = Custody(Status.IN_TRANSIT, holder="maker", to="wholesaler")
    stolen = apply(shipped, Action.REPORT_STOLEN, "maker")
    assert stolen == Custody(Status.STOLEN, holder="maker", to=None, previous=None)
    with pytest.raises(Refused) as info:
        apply(stolen, Action.RECEIVE, "wholesaler")
    assert info.value.code == "not_in_transit"


def test_only_the_sender_reports_a_unit_stolen_in_transit() -> None:
    shipped = Custody(Status.IN_TRANSIT, holder="maker", to="wholesaler")
    with pytest.raises(Refused) as info:
        apply(shipped, Action.REPORT_STOLEN, "wholesaler")
    assert info.value.code == "not_custodian"


def test_a_locked_unit_reported_stolen_forgets_what_it_was() -> None:
    locked = apply(Custody(Status.HELD, holder="org-a"), Action.LOCK, "org-a")
    assert locked.previous is Status.HELD
    assert apply(locked, Action.REPORT_STOLEN, "org-a") == Custody(Status.STOLEN, holder="org-a")


# --------------------------------------------------------------------------------------------- alerts

ALERT_TWIN: dict[str, str | None] = {
    "already_sold": "repeat_sale",
    "already_settled": "repeat_settlement",
    "expired": "expired_sale_attempt",
    "recalled": "recalled_sale_attempt",
    "under_investigation": "investigated_sale_attempt",
    "licence_required": "unlicensed_sale",
    "prescription_required": "prescription_missing",
    "prescription_used": "prescription_missing",
    "not_custodian": "custody_violation",
    "not_addressed_to_you": "custody_violation",
    "not_in_transit": "custody_violation",
}


def test_alert_for_each_refusal() -> None:
    assert ALERT_FOR == ALERT_TWIN


@pytest.mark.parametrize(("refusal", "alert"), sorted(ALERT_TWIN.items()))
def test_each_alerting_refusal(refusal: str, alert: str) -> None:
    assert ALERT_FOR.get(refusal) == alert


def test_a_sale_attempt_under_investigation_is_a_high_alert() -> None:
    assert SEVERITY[AlertType("investigated_sale_attempt")] == "high"
    assert "investigated_sale_attempt" in ALERT_TYPES


@pytest.mark.parametrize("refusal", ["invalid_platform", "not_sellable_online", "locked", "destroyed", "stolen"])
def test_refusals_without_an_alert(refusal: str) -> None:
    assert ALERT_FOR.get(refusal) is None


def test_drug_categories() -> None:
    assert frozenset({"drug_rx", "drug_otc", "drug_restricted"}) == DRUG_CATEGORIES


# --------------------------------------------------------------------------------------------- refusal texts


@pytest.mark.parametrize(
    ("custody", "action", "actor", "to", "detail", "code"),
    [
        (Custody(Status.SOLD, "shop"), Action.SELL, "shop", None, "cannot sell a unit that is sold", "already_sold"),
        (
            Custody(Status.DESTROYED, "org-a"),
            Action.REPORT_STOLEN,
            "org-a",
            None,
            "cannot report stolen a unit that is destroyed",
            "destroyed",
        ),
        (
            Custody(Status.IN_TRANSIT, "org-a", to="org-b"),
            Action.SHIP,
            "org-a",
            "org-c",
            "cannot ship a unit that is in transit",
            "in_transit",
        ),
        (
            Custody(Status.IN_TRANSIT, "org-a", to="org-b"),
            Action.RECEIVE,
            "org-c",
            None,
            "this shipment is not addressed to your organisation",
            "not_addressed_to_you",
        ),
        (
            Custody(Status.HELD, "org-a"),
            Action.SELL,
            "org-b",
            None,
            "only the current custodian may do this",
            "not_custodian",
        ),
        (
            Custody(Status.HELD, "org-a"),
            Action.SHIP,
            "org-a",
            None,
            "a shipment needs a destination organisation ('to')",
            "destination_required",
        ),
        (
            Custody(Status.HELD, "org-a"),
            Action.SHIP,
            "org-a",
            "org-a",
            "a shipment must go to another organisation",
            "ship_to_self",
        ),
    ],
)
def test_custody_refusals_say_why(
    custody: Custody, action: Action, actor: str, to: str | None, detail: str, code: str
) -> None:
    with pytest.raises(Refused) as info:
        apply(custody, action, actor, to)
    assert (info.value.detail, info.value.code) == (detail, code)


def test_unlocking_a_record_that_forgot_its_previous_status_holds_it() -> None:
    assert apply(Custody(Status.LOCKED, "org-a"), Action.UNLOCK, "org-a") == Custody(Status.HELD, "org-a")
    assert apply(Custody(Status.LOCKED, "org-a", previous=Status.RETURNED), Action.UNLOCK, "org-a") == Custody(
        Status.RETURNED, "org-a"
    )


def test_a_receipt_clears_the_addressee_and_hands_over() -> None:
    assert apply(Custody(Status.IN_TRANSIT, "org-a", to="org-b"), Action.RECEIVE, "org-b") == Custody(
        Status.HELD, "org-b"
    )


def test_recycling_hands_the_unit_to_the_recycler() -> None:
    assert apply(Custody(Status.SOLD, "shop"), Action.RECYCLE, "recycler") == Custody(Status.RECYCLED, "recycler")
    assert apply(Custody(Status.HELD, "org-a"), Action.RECYCLE, "org-a") == Custody(Status.RECYCLED, "org-a")
