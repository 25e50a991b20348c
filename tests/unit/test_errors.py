"""The typed domain errors: a stable code per class, overridable per raise, with the detail and extra fields the
HTTP layer renders (app/api/problems.py)."""

from __future__ import annotations

import pytest

from app.domain.errors import Conflict, DomainError, InvalidCode, InvalidInput, NotFound, RateLimited


def test_an_error_keeps_its_detail_code_and_extra_fields() -> None:
    error = InvalidCode("serial too long", code="invalid_serial", unit="U1", position=3)
    assert (str(error), error.detail, error.code) == ("serial too long", "serial too long", "invalid_serial")
    assert error.extra == {"unit": "U1", "position": 3}
    assert error.title == "Invalid code"


@pytest.mark.parametrize(
    ("cls", "code", "title"),
    [
        (DomainError, "error", "Request failed"),
        (InvalidInput, "invalid_input", "Invalid input"),
        (InvalidCode, "invalid_code", "Invalid code"),
        (NotFound, "not_found", "Not found"),
        (Conflict, "conflict", "Refused by a rule"),
    ],
)
def test_each_class_has_a_default_code(cls: type[DomainError], code: str, title: str) -> None:
    error = cls("what happened")
    assert (error.code, error.title, error.extra) == (code, title, {})
    assert cls.code == code  # an override on one instance never changes the class
    cls("other", code="something_else")
    assert cls.code == code


def test_rate_limited_says_when_to_come_back() -> None:
    error = RateLimited("too many scans", retry_after=30)
    assert (str(error), error.detail, error.code, error.retry_after) == (
        "too many scans",
        "too many scans",
        "rate_limited",
        30,
    )
    assert error.extra == {"retry_after": 30}


def test_a_refusal_without_alerts_carries_an_empty_list_of_its_own() -> None:
    first, second = InvalidInput("x"), InvalidInput("y")
    assert first.alerts == [] and second.alerts == []
    first.alerts.append(object())  # type: ignore[arg-type]
    assert second.alerts == []
