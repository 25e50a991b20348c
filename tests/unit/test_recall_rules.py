"""Recall rules: which units a recall's scope covers, which scope ranks first, and what a scope must name.

Pure domain: no database, no HTTP. Expected values are written out here, not read from app.domain.recall.
"""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidCode, InvalidInput
from app.domain.recall import CLASSES, RecallScope, check_scope, most_severe


def scope(
    id: int = 1, recall_class: str = "II", lots: tuple[str, ...] = (), serials: tuple[str, ...] = ()
) -> RecallScope:
    return RecallScope(id, recall_class, "contamination", frozenset(lots), frozenset(serials))


# --------------------------------------------------------------------------------------------- classes


def test_the_three_classes_from_most_to_least_severe() -> None:
    # I: may cause serious harm or death; II: temporary or reversible harm; III: unlikely to harm.
    assert CLASSES == ("I", "II", "III")


# --------------------------------------------------------------------------------------------- covers


def test_a_scope_naming_nothing_covers_every_unit_of_the_product() -> None:
    everything = scope()
    assert everything.covers("LOT1", "S1")
    assert everything.covers("", "")


@pytest.mark.parametrize(
    ("lot", "serial", "covered"),
    [
        ("LOT1", "ANY", True),
        ("LOT2", "ANY", True),
        ("LOT3", "ANY", False),
        ("lot1", "ANY", False),  # lots are compared exactly, case included
        ("LOT", "ANY", False),
    ],
)
def test_a_scope_of_lots_covers_the_units_of_those_lots(lot: str, serial: str, covered: bool) -> None:
    assert scope(lots=("LOT1", "LOT2")).covers(lot, serial) is covered


@pytest.mark.parametrize(
    ("lot", "serial", "covered"),
    [("ANY", "S1", True), ("ANY", "S2", True), ("ANY", "S3", False), ("ANY", "s1", False)],
)
def test_a_scope_of_serials_covers_those_units_whatever_their_lot(lot: str, serial: str, covered: bool) -> None:
    assert scope(serials=("S1", "S2")).covers(lot, serial) is covered


@pytest.mark.parametrize(
    ("lot", "serial", "covered"),
    [
        ("LOT1", "S9", True),  # its lot is listed
        ("LOT9", "S1", True),  # its serial is listed
        ("LOT1", "S1", True),
        ("LOT9", "S9", False),  # neither
    ],
)
def test_a_scope_of_lots_and_serials_covers_a_unit_when_either_is_listed(lot: str, serial: str, covered: bool) -> None:
    assert scope(lots=("LOT1",), serials=("S1",)).covers(lot, serial) is covered


def test_a_lot_value_is_not_taken_for_a_serial_nor_the_reverse() -> None:
    assert not scope(lots=("X1",)).covers("LOT", "X1")
    assert not scope(serials=("X1",)).covers("X1", "S")


# --------------------------------------------------------------------------------------------- most_severe


def test_no_scope_no_recall() -> None:
    assert most_severe([]) is None
    assert most_severe(iter(())) is None


@pytest.mark.parametrize(
    ("classes", "expected_id"),
    [
        (("III", "II", "I"), 3),
        (("I", "II", "III"), 1),
        (("II", "III"), 1),
        (("III", "II"), 2),
        (("III",), 1),
        (("II", "I", "II"), 2),
    ],
)
def test_class_i_outranks_ii_which_outranks_iii(classes: tuple[str, ...], expected_id: int) -> None:
    scopes = [scope(id=i, recall_class=c) for i, c in enumerate(classes, start=1)]
    chosen = most_severe(scopes)
    assert chosen is not None
    assert chosen.id == expected_id


@pytest.mark.parametrize("recall_class", ["I", "II", "III"])
def test_among_scopes_of_one_class_the_oldest_ranks_first(recall_class: str) -> None:
    scopes = [scope(id=7, recall_class=recall_class), scope(id=3, recall_class=recall_class), scope(id=5)]
    chosen = most_severe(scopes)
    assert chosen is not None
    assert chosen.id == (3 if recall_class in ("I", "II") else 5)


def test_severity_comes_before_age() -> None:
    chosen = most_severe([scope(id=1, recall_class="III"), scope(id=9, recall_class="I"), scope(id=2)])
    assert chosen is not None
    assert (chosen.id, chosen.recall_class) == (9, "I")


def test_most_severe_returns_the_scope_itself() -> None:
    only = RecallScope(4, "I", "mislabelled strength", frozenset({"L"}), frozenset(), instructions="quarantine")
    assert most_severe([only]) is only


# --------------------------------------------------------------------------------------------- check_scope


@pytest.mark.parametrize("recall_class", ["I", "II", "III"])
def test_a_well_formed_scope_passes(recall_class: str) -> None:
    check_scope(["LOT1", "L" * 20], ["S1", "://S/2"], recall_class, "contamination")
    check_scope([], [], recall_class, "x")


@pytest.mark.parametrize("recall_class", ["", "i", "IV", "1", "I ", "II,III", "Class I"])
def test_an_unknown_class_is_refused(recall_class: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_scope([], [], recall_class, "contamination")
    assert info.value.code == "invalid_class"
    assert str(info.value) == "class must be I, II or III"


@pytest.mark.parametrize("reason", ["", " ", "\t\n"])
def test_a_recall_needs_a_reason(reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_scope([], [], "I", reason)
    assert info.value.code == "reason_required"
    assert str(info.value) == "a recall needs a reason"


def test_the_class_is_checked_before_the_reason() -> None:
    with pytest.raises(InvalidInput) as info:
        check_scope([], [], "IV", "")
    assert info.value.code == "invalid_class"


@pytest.mark.parametrize(
    ("lots", "serials", "fragment"),
    [
        (["OK", "L" * 21], [], "AI 10 (lot) is at most 20 characters"),
        (["OK", "A B"], [], "AI 10 (lot) has ' ' at position 2"),
        ([""], [], "AI 10 (lot) is empty"),
        ([], ["OK", "S" * 21], "AI 21 (serial) is at most 20 characters"),
        ([], ["S#"], "AI 21 (serial) has '#' at position 2"),
        ([], [""], "AI 21 (serial) is empty"),
    ],
)
def test_every_lot_and_serial_must_be_a_valid_gs1_value(lots: list[str], serials: list[str], fragment: str) -> None:
    with pytest.raises(InvalidCode) as info:
        check_scope(lots, serials, "II", "contamination")
    assert fragment in str(info.value)
