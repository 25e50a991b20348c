"""The custody record as event items and log leaves carry it, the rule lookup, and which neighbours a slipped scan
is matched against (issue 21: these had no unit test, so mutation testing could not reach them)."""

from __future__ import annotations

from app.domain.cn_code import near_cn_codes
from app.domain.custody import Action, Custody, Status, rule_for
from app.domain.triage import near_codes, near_serials


def test_a_record_is_written_and_read_back_as_json() -> None:
    locked = Custody(Status.LOCKED, "org-a", None, Status.HELD)
    assert locked.to_json() == {"status": "locked", "holder": "org-a", "to": None, "previous": "held"}
    assert Custody.from_json(locked.to_json()) == locked
    moving = Custody(Status.IN_TRANSIT, "org-a", "org-b")
    assert moving.to_json() == {"status": "in_transit", "holder": "org-a", "to": "org-b", "previous": None}
    assert Custody.from_json(moving.to_json()) == moving


def test_rule_for_gives_the_row_of_an_action_and_none_for_undo() -> None:
    ship = rule_for(Action.SHIP)
    assert ship is not None and ship.needs_destination
    assert Status.HELD in ship.moves
    assert rule_for(Action.UNDO) is None


def test_a_20_digit_code_is_matched_against_20_digit_neighbours_any_other_serial_against_near_serials() -> None:
    code = "81234560000000000001"
    assert near_codes(code) == near_cn_codes(code)
    assert all(len(c) == 20 and c.isdigit() for c in near_codes(code))
    assert near_codes("7Q2K9M4XW8RT") == near_serials("7Q2K9M4XW8RT")
    assert near_codes(code[:19]) == near_serials(code[:19])
    assert near_codes("8123456000000000000A") == near_serials("8123456000000000000A")
