"""The case machine as a table, checked against a twin written out by hand, and the canonical case leaf."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from itertools import product
from pathlib import Path

import pytest

from app.domain.cases import (
    ACTIVE,
    TRANSITIONS,
    CaseLeaf,
    CaseStatus,
    Change,
    Party,
    case_leaf_bytes,
    decide,
    may_open,
)
from app.domain.errors import Conflict, Forbidden, InvalidInput

S = CaseStatus
P = Party
REG = frozenset({P.REGULATOR})
MAKER = frozenset({P.MANUFACTURER})
OPENER = frozenset({P.OPENER})
OTHER = frozenset({P.OTHER})

# (from, to) -> who may: the same table, by hand.
TWIN = {
    ("open", "investigating"): {"manufacturer", "regulator"},
    ("open", "illegitimate"): {"regulator"},
    ("open", "cleared"): {"regulator"},
    ("investigating", "illegitimate"): {"regulator"},
    ("investigating", "cleared"): {"regulator"},
    ("illegitimate", "closed"): {"regulator"},
    ("cleared", "closed"): {"regulator"},
}


def test_the_table_matches_its_twin():
    assert {(a.value, b.value): {p.value for p in who} for (a, b), who in TRANSITIONS.items()} == TWIN
    assert ACTIVE == {S.OPEN, S.INVESTIGATING, S.ILLEGITIMATE}


@pytest.mark.parametrize(("current", "target"), list(product(list(S), list(S))))
def test_every_move_by_a_regulator_is_allowed_only_where_the_table_says(current, target):
    change = Change(target, "INC-1", None)
    if current is S.CLOSED:
        with pytest.raises(Conflict) as refused:
            decide(current, change, REG, None)
        assert refused.value.code == "case_closed"
    elif current is target or (current.value, target.value) in TWIN:
        assert decide(current, change, REG, None) is target
    else:
        with pytest.raises(Conflict) as refused:
            decide(current, change, REG, None)
        expected = "decision_required" if target is S.CLOSED else "invalid_transition"
        assert refused.value.code == expected


def test_closing_needs_a_decision_and_an_incident_number():
    with pytest.raises(Conflict, match="only after a decision"):
        decide(S.OPEN, Change(S.CLOSED, "INC-1", None), REG, None)
    with pytest.raises(Conflict, match="decision"):
        decide(S.INVESTIGATING, Change(S.CLOSED, None, None), REG, "INC-1")
    with pytest.raises(InvalidInput) as missing:
        decide(S.CLEARED, Change(S.CLOSED, None, None), REG, None)
    assert missing.value.code == "incident_number_required"
    assert decide(S.CLEARED, Change(S.CLOSED, None, None), REG, "INC-1") is S.CLOSED  # assigned earlier


def test_who_moves_what():
    assert decide(S.OPEN, Change(S.INVESTIGATING, None, None), MAKER, None) is S.INVESTIGATING
    for parties in (MAKER, OPENER, OTHER):
        with pytest.raises(Forbidden) as refused:
            decide(S.OPEN, Change(S.ILLEGITIMATE, None, None), parties, None)
        assert refused.value.code == "not_allowed"
    with pytest.raises(Forbidden) as refused:
        decide(S.OPEN, Change(S.INVESTIGATING, None, None), OPENER, None)
    assert refused.value.code == "not_allowed"
    with pytest.raises(Forbidden) as refused:
        decide(S.OPEN, Change(None, "INC-9", None), MAKER | OPENER, None)
    assert refused.value.code == "regulator_only"
    assert decide(S.OPEN, Change(None, None, "a note"), OPENER, None) is S.OPEN
    with pytest.raises(Forbidden):
        decide(S.OPEN, Change(None, None, "a note"), OTHER, None)
    with pytest.raises(InvalidInput) as empty:
        decide(S.OPEN, Change(None, None, None), REG, None)
    assert empty.value.code == "empty_change"


def test_who_opens():
    assert may_open(handled=True, manufacturer=False, regulator=False)
    assert may_open(handled=False, manufacturer=True, regulator=False)
    assert may_open(handled=False, manufacturer=False, regulator=True)
    assert not may_open(handled=False, manufacturer=False, regulator=False)


def test_the_case_leaf_is_canonical():
    leaf = CaseLeaf(
        case=7,
        seq=1,
        change="opened",
        type="suspect",
        status="open",
        previous=None,
        gtin="09506000134352",
        lots=["LOT9", "LOT42"],
        serials=[],
        org="org-a",
        recorded_at=datetime(2026, 12, 5, 7, 0, tzinfo=UTC),
        incident_number=None,
        description="封口有二次粘合痕迹",
        note=None,
    )
    data = case_leaf_bytes(leaf)
    assert (
        data
        == (
            '{"case":7,"change":"opened","description":"封口有二次粘合痕迹","gtin":"09506000134352",'
            '"incident_number":null,"kind":"case","lots":["LOT42","LOT9"],"note":null,"org":"org-a","previous":null,'
            '"recorded_at":"2026-12-05T07:00:00.000000Z","seq":1,"serials":[],"status":"open","type":"suspect","v":1}'
        ).encode()
    )
    assert json.loads(data)["kind"] == "case"


def test_the_worked_example_of_the_leaf_document_is_what_the_code_writes():
    text = (Path(__file__).resolve().parents[2] / "passport_schema" / "case-leaf.md").read_text(encoding="utf-8")
    leaf = CaseLeaf(
        case=7,
        seq=3,
        change="updated",
        type="suspect",
        status="illegitimate",
        previous="investigating",
        gtin="09506000134352",
        lots=["LOT42"],
        serials=[],
        org="regulator-sh",
        recorded_at=datetime(2026, 12, 5, 7, 0, tzinfo=UTC),
        incident_number=None,
        description=None,
        note="counterfeit: wrong font on the carton",
    )
    data = case_leaf_bytes(leaf)
    blocks = re.findall(r"```\n(.*?)\n```", text, flags=re.S)
    assert data.decode() in blocks
    assert hashlib.sha256(b"\x00" + data).hexdigest() in blocks
