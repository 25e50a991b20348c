"""An insurance settlement is only for a sale or a dispensing, an ``override`` only for receiving; both refusals
in full (issue 21: mutation testing found them untested), and a suspect unit's flags in their order."""

from __future__ import annotations

import pytest

from app.domain.consumer import suspect_flags
from app.domain.custody import Action, Status
from app.domain.errors import InvalidInput
from app.domain.event_rules import EventIn, check_fields
from app.domain.settlement import SettlementIn

NHSA = SettlementIn("nhsa", "R-1")


def known(org: str) -> bool:
    return True


def test_a_sale_may_carry_a_settlement_and_its_scheme_is_checked() -> None:
    check_fields(Action.SELL, EventIn("sell", channel="offline", settlement=NHSA), known)
    with pytest.raises(InvalidInput) as caught:
        check_fields(Action.SELL, EventIn("sell", channel="offline", settlement=SettlementIn("xyz", "R-1")), known)
    assert caught.value.code == "invalid_settlement"


@pytest.mark.parametrize("action", [Action.RECEIVE, Action.RETURN, Action.REPORT_STOLEN])
def test_a_settlement_on_anything_but_a_sale_is_refused_in_full(action: Action) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_fields(action, EventIn(action.value, settlement=NHSA), known)
    assert (caught.value.code, caught.value.detail) == (
        "settlement_not_allowed",
        "only a sale or a dispensing is settled with insurance",
    )


def test_an_override_is_for_receiving_only() -> None:
    check_fields(Action.RECEIVE, EventIn("receive", override="returned from a closed pharmacy"), known)
    with pytest.raises(InvalidInput) as caught:
        check_fields(Action.SELL, EventIn("sell", channel="offline", override="why not"), known)
    assert (caught.value.code, caught.value.detail) == (
        "override_not_allowed",
        "'override' is only for receiving a returned unit without a positive verification",
    )


def test_suspect_flags_name_an_investigation_first() -> None:
    assert suspect_flags(Status.HELD, repeat_sale=False, clone=False, investigated=True) == ("under_investigation",)
    assert suspect_flags(Status.SOLD, repeat_sale=True, clone=True, investigated=True) == (
        "under_investigation",
        "repeat_sale",
        "clone_suspect",
    )
    assert suspect_flags(Status.HELD, repeat_sale=False, clone=False) == ()
