"""Region codes: ISO 3166-2, and a refusal that shows the expected form."""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidInput
from app.domain.regions import check_region


@pytest.mark.parametrize("value", ["CN-31", "CN-44", "CN", "US-CA", "GB-LND"])
def test_iso_3166_2_codes_pass(value: str) -> None:
    assert check_region(value) == value


@pytest.mark.parametrize("value", ["Shanghai", "cn-31", "CN31", "CN-", "CN-3111", "上海", "", "CN-31 "])
def test_anything_else_is_refused_with_the_expected_form(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_region(value)
    assert info.value.code == "invalid_region"
    assert "ISO 3166-2" in info.value.detail and "CN-31" in info.value.detail


def test_the_refusal_text() -> None:
    with pytest.raises(InvalidInput) as info:
        check_region("Shanghai")
    assert info.value.detail == (
        "region 'Shanghai' is not an ISO 3166-2 code: write the country and the subdivision, "
        "like CN-31 (Shanghai), CN-11 (Beijing) or CN-44 (Guangdong)"
    )
