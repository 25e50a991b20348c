"""Refusal texts of case moves (app/domain/cases.py) and partner verification's default (issue 21, mutation testing)."""

from __future__ import annotations

import pytest

from app.domain.cases import CaseStatus, Change, Party, decide
from app.domain.errors import DomainError
from app.domain.partner_verification import AdditionalInfo, additional_info

S = CaseStatus
REG = frozenset({Party.REGULATOR})


def refusal(current: CaseStatus, change: Change, parties: frozenset[Party], number: str | None = None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        decide(current, change, parties, number)
    return caught.value


@pytest.mark.parametrize(
    ("current", "change", "parties", "detail", "code"),
    [
        (S.CLOSED, Change(None, None, "n"), REG, "the case is closed; nothing more may change", "case_closed"),
        (S.OPEN, Change(None, None, None), REG, "send a status, an incident_number or a note", "empty_change"),
        (
            S.OPEN,
            Change(None, "INC-1", None),
            frozenset({Party.MANUFACTURER}),
            "only a regulator assigns the incident number",
            "regulator_only",
        ),
        (
            S.CLEARED,
            Change(S.OPEN, None, None),
            REG,
            "a case cannot move from cleared to open",
            "invalid_transition",
        ),
        (
            S.OPEN,
            Change(S.INVESTIGATING, None, None),
            frozenset({Party.OPENER}),
            "moving a case from open to investigating is for the manufacturer or regulator",
            "not_allowed",
        ),
        (
            S.CLEARED,
            Change(S.CLOSED, None, None),
            REG,
            "closing a case needs its incident_number",
            "incident_number_required",
        ),
        (
            S.OPEN,
            Change(None, None, "a note"),
            frozenset({Party.OTHER}),
            "only the opener, the manufacturer or a regulator writes on a case",
            "not_allowed",
        ),
    ],
)
def test_each_refusal_says_why_in_full(
    current: CaseStatus, change: Change, parties: frozenset[Party], detail: str, code: str
) -> None:
    error = refusal(current, change, parties)
    assert (error.detail, error.code) == (detail, code)


def test_a_pack_is_not_illegitimate_unless_said_so() -> None:
    assert additional_info([]) is None
    assert additional_info(["recalled"]) is AdditionalInfo.RECALLED
