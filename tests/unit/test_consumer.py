"""What a consumer reads about a unit: the step each action shows, and when a scan is suspect."""

from __future__ import annotations

import pytest

from app.domain.consumer import consumer_step, suspect_flags

STEPS = {
    "ship": "shipped",
    "receive": "received",
    "dispense": "dispensed",
    "return": "returned",
    "destroy": "destroyed",
    "recycle": "recycled",
    "lock": "quarantined",
    "unlock": "released",
    "report_stolen": "reported_stolen",
    "export": "exported",
    "open": "opened",
}


@pytest.mark.parametrize(("action", "step"), sorted(STEPS.items()))
def test_each_action_shows_its_step(action: str, step: str) -> None:
    assert consumer_step(action, None) == step
    assert consumer_step(action, "online") == step  # the channel only matters for a sale


@pytest.mark.parametrize(
    ("channel", "step"),
    [("online", "sold_online"), ("store", "sold_in_store"), (None, "sold_in_store"), ("", "sold_in_store")],
)
def test_a_sale_says_where_it_was_sold(channel: str | None, step: str) -> None:
    assert consumer_step("sell", channel) == step


@pytest.mark.parametrize("action", ["pack", "unpack", "undo", "issue", "", "Ship"])
def test_other_actions_are_not_shown(action: str) -> None:
    assert consumer_step(action, None) is None


@pytest.mark.parametrize("status", ["sold", "dispensed", "returned"])
def test_a_repeat_sale_is_suspect_once_the_unit_was_sold(status: str) -> None:
    assert suspect_flags(status, repeat_sale=True, clone=False) == ("repeat_sale",)
    assert suspect_flags(status, repeat_sale=True, clone=True) == ("repeat_sale", "clone_suspect")
    assert suspect_flags(status, repeat_sale=False, clone=False) == ()


@pytest.mark.parametrize("status", ["issued", "held", "in_transit", "open", "locked", "destroyed", "stolen"])
def test_a_repeat_sale_of_an_unsold_unit_is_not_flagged(status: str) -> None:
    assert suspect_flags(status, repeat_sale=True, clone=False) == ()
    assert suspect_flags(status, repeat_sale=True, clone=True) == ("clone_suspect",)


def test_a_clone_is_suspect_in_any_status() -> None:
    assert suspect_flags("held", repeat_sale=False, clone=True) == ("clone_suspect",)
    assert suspect_flags("sold", repeat_sale=False, clone=True) == ("clone_suspect",)
