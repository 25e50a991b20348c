"""Unit tests of the verdict a package scan receives (``judge_package``): precedence, reasons, and no signature.

A package (a box or case code an import registered) answers for what is inside it: recalled, then suspect (the
package or a unit inside stolen or destroyed), then expired, else authentic. ``today`` is passed in.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.domain.package_verdict import judge_package
from app.domain.verdict import SignatureState, Verdict, VerdictKind

TODAY = date(2026, 12, 5)
LATER = TODAY + timedelta(days=400)


def test_a_package_with_nothing_wrong_is_authentic_and_unsigned() -> None:
    verdict = judge_package("in_supply_chain", False, ["in_supply_chain", "sold"], LATER, TODAY)
    assert verdict == Verdict(VerdictKind.AUTHENTIC, SignatureState.ABSENT, ())


def test_a_package_without_units_or_expiry_is_authentic() -> None:
    assert judge_package("issued", False, [], None, TODAY) == Verdict(VerdictKind.AUTHENTIC, SignatureState.ABSENT)


def test_a_recalled_package_is_recalled() -> None:
    verdict = judge_package("in_supply_chain", True, [], LATER, TODAY)
    assert verdict == Verdict(VerdictKind.RECALLED, SignatureState.ABSENT, ("recalled",))


@pytest.mark.parametrize("state", ["stolen", "destroyed"])
def test_a_stolen_or_destroyed_package_is_suspect(state: str) -> None:
    verdict = judge_package(state, False, [], LATER, TODAY)
    assert verdict == Verdict(VerdictKind.SUSPECT, SignatureState.ABSENT, (state,))


@pytest.mark.parametrize("state", ["issued", "in_supply_chain", "sold", "dispensed", "recycled", "exported", "locked"])
def test_other_states_of_the_package_raise_nothing(state: str) -> None:
    assert judge_package(state, False, [state], LATER, TODAY).kind is VerdictKind.AUTHENTIC


def test_a_stolen_unit_inside_makes_the_package_suspect() -> None:
    verdict = judge_package("in_supply_chain", False, ["sold", "stolen", "in_supply_chain"], LATER, TODAY)
    assert verdict == Verdict(VerdictKind.SUSPECT, SignatureState.ABSENT, ("stolen",))


def test_the_states_inside_are_named_once_each_in_alphabetical_order() -> None:
    inside = iter(["stolen", "destroyed", "stolen", "sold", "destroyed"])  # any iterable, read once
    verdict = judge_package("in_supply_chain", False, inside, LATER, TODAY)
    assert verdict.reasons == ("destroyed", "stolen")
    assert verdict.kind is VerdictKind.SUSPECT


def test_the_package_state_comes_first_and_is_not_repeated_for_the_units_inside() -> None:
    verdict = judge_package("stolen", False, ["stolen", "destroyed"], LATER, TODAY)
    assert verdict.reasons == ("stolen", "destroyed")
    verdict = judge_package("destroyed", False, ["destroyed", "stolen"], LATER, TODAY)
    assert verdict.reasons == ("destroyed", "stolen")


def test_a_lot_past_its_expiry_is_expired_from_the_day_after() -> None:
    expired = judge_package("in_supply_chain", False, [], TODAY - timedelta(days=1), TODAY)
    assert expired == Verdict(VerdictKind.EXPIRED, SignatureState.ABSENT, ("expired",))
    assert judge_package("in_supply_chain", False, [], TODAY, TODAY).kind is VerdictKind.AUTHENTIC  # its last day


def test_recalled_before_suspect_before_expired_and_every_reason_listed() -> None:
    yesterday = TODAY - timedelta(days=1)
    verdict = judge_package("stolen", True, ["destroyed"], yesterday, TODAY)
    assert verdict == Verdict(
        VerdictKind.RECALLED, SignatureState.ABSENT, ("recalled", "stolen", "destroyed", "expired")
    )
    verdict = judge_package("in_supply_chain", False, ["destroyed"], yesterday, TODAY)
    assert verdict == Verdict(VerdictKind.SUSPECT, SignatureState.ABSENT, ("destroyed", "expired"))
    verdict = judge_package("in_supply_chain", True, [], yesterday, TODAY)
    assert verdict == Verdict(VerdictKind.RECALLED, SignatureState.ABSENT, ("recalled", "expired"))
