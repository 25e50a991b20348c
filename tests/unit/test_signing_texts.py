"""The refusal texts of AI 8030 decoding, and leaf times written in UTC whatever the machine's time zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from app.domain.errors import InvalidCode
from app.domain.leaf import rfc3339
from app.domain.signing import decode_signature


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("A" * 85 + "===", "AI 8030 is not base64url"),  # padding inside the value: not decodable
        ("+" + "A" * 87, "AI 8030 is not a canonical base64url encoding"),  # '+' decodes like '-'
        ("A" * 87, "AI 8030 must be 88 base64url characters, got 87"),
    ],
)
def test_signature_format_refusals(value: str, detail: str) -> None:
    with pytest.raises(InvalidCode) as info:
        decode_signature(value)
    assert (str(info.value), info.value.code) == (detail, "invalid_signature_format")


def test_naive_leaf_times_are_refused_with_their_reason() -> None:
    with pytest.raises(ValueError) as error:
        rfc3339(datetime(2026, 5, 17, 10, 0))
    assert str(error.value) == "leaf times must be timezone-aware"


@pytest.fixture
def shanghai_local_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("shanghai_local_time")
def test_leaf_times_are_utc_not_the_machines_local_time() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    assert rfc3339(datetime(2026, 5, 17, 10, 0, tzinfo=east)) == "2026-05-17T04:30:00.000000Z"
