"""Licence refusal texts and days (app/domain/licences.py; issue 21, mutation testing)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.domain.errors import Conflict, InvalidInput
from app.domain.licences import LicenceTerm, Standing, check_renewal, check_term, licence_refusal, trade_refusal

BEIJING = timezone(timedelta(hours=8))


def test_a_naive_moment_counts_as_its_own_day() -> None:
    term = LicenceTerm("drug_retail", date(2026, 1, 1), date(2026, 1, 31))
    assert term.standing(datetime(2026, 1, 31, 23, 59)) is Standing.VALID
    assert term.standing(datetime(2026, 2, 1, 0, 0)) is Standing.EXPIRED


def test_dates_backwards_are_refused_in_full() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_term(date(2026, 2, 1), date(2026, 1, 31))
    assert (caught.value.detail, caught.value.code) == (
        "valid_until must not be before valid_from",
        "invalid_licence_dates",
    )


def test_a_revoked_renewal_is_refused_in_full() -> None:
    term = LicenceTerm("drug_wholesale", date(2026, 1, 1), None, datetime(2026, 3, 1, 12, tzinfo=UTC))
    with pytest.raises(Conflict) as caught:
        check_renewal(term, date(2027, 1, 1))
    assert caught.value.detail == (
        "the drug_wholesale licence was revoked on 2026-03-01T12:00:00+00:00; grant a new one instead"
    )


def test_no_licence_names_every_kind_that_would_do_and_whose() -> None:
    refusal = trade_refusal("manufacturer", [], datetime(2026, 5, 1, tzinfo=UTC), whose="the sender's")
    assert refusal is not None
    assert refusal.detail == (
        "the sender's licences do not include drug_manufacturing or drug_wholesale, needed to trade drugs"
    )


def test_not_yet_valid_names_the_utc_day() -> None:
    early = [LicenceTerm("drug_retail", date(2026, 1, 1))]
    refusal = licence_refusal(["drug_retail"], early, datetime(2026, 1, 1, 2, tzinfo=BEIJING), whose="the seller's")
    assert refusal is not None
    assert refusal.detail == "the seller's drug_retail licence is valid only from 2026-01-01, not on 2025-12-31"


def test_not_yet_valid_names_a_naive_moments_own_day() -> None:
    early = [LicenceTerm("drug_retail", date(2026, 1, 1))]
    refusal = licence_refusal(["drug_retail"], early, datetime(2025, 12, 30, 23), whose="its")
    assert refusal is not None
    assert refusal.detail == "its drug_retail licence is valid only from 2026-01-01, not on 2025-12-30"


def test_of_two_expired_grants_the_latest_is_named() -> None:
    later = LicenceTerm("drug_retail", date(2025, 1, 1), date(2025, 12, 31))
    earlier = LicenceTerm("drug_retail", date(2024, 1, 1), date(2024, 12, 31))
    refusal = licence_refusal(["drug_retail"], [later, earlier], datetime(2026, 6, 1, tzinfo=UTC), whose="its")
    assert refusal is not None
    assert refusal.detail == "its drug_retail licence expired on 2025-12-31"
