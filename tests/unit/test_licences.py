"""Licences in time (app/domain/licences.py): the day boundaries, revocation to the second, which licence a role
trades under, and the refusal each case gets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.domain.custody import Refused
from app.domain.errors import Conflict, InvalidInput
from app.domain.licences import (
    LicenceTerm,
    Standing,
    check_renewal,
    check_term,
    licence_refusal,
    trade_refusal,
    valid_kinds,
)

TERM = LicenceTerm("drug_wholesale", date(2026, 1, 1), date(2026, 12, 31))


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "standing"),
    [
        (at(date(2025, 12, 31), 23, 59, 59), Standing.NOT_YET_VALID),
        (at(date(2026, 1, 1), 0), Standing.VALID),  # the first day counts whole
        (at(date(2026, 12, 31), 23, 59, 59), Standing.VALID),  # so does the last
        (at(date(2027, 1, 1), 0), Standing.EXPIRED),
    ],
)
def test_both_ends_of_the_term_are_whole_days(moment: datetime, standing: Standing) -> None:
    assert TERM.standing(moment) is standing


def test_the_day_is_the_utc_day() -> None:
    shanghai = timezone(timedelta(hours=8))
    # 07:00 on 1 January in Shanghai is still 31 December in UTC: not yet valid
    assert TERM.standing(datetime(2026, 1, 1, 7, 0, tzinfo=shanghai)) is Standing.NOT_YET_VALID
    assert TERM.standing(datetime(2026, 1, 1, 8, 0, tzinfo=shanghai)) is Standing.VALID


def test_no_end_means_valid_for_ever() -> None:
    assert LicenceTerm("drug_retail", date(2026, 1, 1)).standing(at(date(2099, 1, 1))) is Standing.VALID


def test_revocation_counts_from_its_moment() -> None:
    revoked_at = at(date(2026, 6, 1), 10, 0, 0)
    term = LicenceTerm("drug_wholesale", date(2026, 1, 1), None, revoked_at)
    assert term.standing(revoked_at - timedelta(microseconds=1)) is Standing.VALID
    assert term.standing(revoked_at) is Standing.REVOKED
    assert term.standing(at(date(2030, 1, 1))) is Standing.REVOKED


def test_valid_kinds_on_a_day() -> None:
    terms = [TERM, LicenceTerm("drug_retail", date(2027, 1, 1)), LicenceTerm("online_drug_sales", date(2025, 1, 1))]
    assert valid_kinds(terms, at(date(2026, 5, 5))) == {"drug_wholesale", "online_drug_sales"}
    assert valid_kinds(terms, at(date(2027, 5, 5))) == {"drug_retail", "online_drug_sales"}


def test_terms_must_not_end_before_they_start() -> None:
    check_term(date(2026, 1, 1), date(2026, 1, 1))  # one day is a term
    with pytest.raises(InvalidInput) as error:
        check_term(date(2026, 1, 2), date(2026, 1, 1))
    assert error.value.code == "invalid_licence_dates"


def test_a_revoked_licence_is_not_renewed() -> None:
    check_renewal(TERM, date(2028, 12, 31))
    check_renewal(TERM, None)
    revoked = LicenceTerm("drug_wholesale", date(2026, 1, 1), None, at(date(2026, 3, 1)))
    with pytest.raises(Conflict) as error:
        check_renewal(revoked, date(2028, 12, 31))
    assert error.value.code == "licence_revoked"
    with pytest.raises(InvalidInput):
        check_renewal(TERM, date(2025, 12, 31))


@pytest.mark.parametrize(
    ("role", "kinds", "allowed"),
    [
        ("distributor", {"drug_wholesale"}, True),
        ("distributor", {"drug_retail"}, False),
        ("manufacturer", {"drug_manufacturing"}, True),
        ("retailer", {"drug_retail"}, True),
        ("retailer", {"medical_institution"}, True),
        ("retailer", {"drug_wholesale"}, False),
        ("platform", set(), False),
        ("regulator", set(), True),
        ("admin", set(), True),
    ],
)
def test_the_licence_each_role_trades_under(role: str, kinds: set[str], allowed: bool) -> None:
    terms = [LicenceTerm(kind, date(2026, 1, 1)) for kind in kinds]
    refusal = trade_refusal(role, terms, at(date(2026, 5, 5)), whose="x")
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.code == "licence_required" and refusal.extra["licence"] == "none"


def _refusal(terms: list[LicenceTerm], moment: datetime) -> Refused:
    refusal = licence_refusal({"drug_wholesale"}, terms, moment, whose="the receiver's")
    assert refusal is not None
    return refusal


def test_each_lapse_has_its_code_and_says_why() -> None:
    expired = _refusal([TERM], at(date(2027, 1, 1), 0))
    assert (expired.code, expired.extra["licence"]) == ("licence_expired", "expired")
    assert "expired on 2026-12-31" in expired.detail
    early = _refusal([TERM], at(date(2025, 12, 31), 23, 59, 59))
    assert (early.code, early.extra["licence"]) == ("licence_required", "not_yet_valid")
    assert "2026-01-01" in early.detail
    revoked = _refusal(
        [LicenceTerm("drug_wholesale", date(2026, 1, 1), None, at(date(2026, 3, 1)))], at(date(2026, 4, 1))
    )
    assert (revoked.code, revoked.extra["licence"]) == ("licence_required", "revoked")
    assert "revoked on 2026-03-01" in revoked.detail
    none = _refusal([LicenceTerm("drug_retail", date(2026, 1, 1))], at(date(2026, 4, 1)))
    assert (none.code, none.extra["licence"]) == ("licence_required", "none")


def test_a_standing_renewal_outweighs_an_expired_grant() -> None:
    renewed = [TERM, LicenceTerm("drug_wholesale", date(2027, 1, 1), date(2027, 12, 31))]
    assert licence_refusal({"drug_wholesale"}, renewed, at(date(2027, 6, 1)), whose="x") is None
