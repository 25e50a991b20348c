"""Unit tests' shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.domain.identifiers import check_digit


@pytest.fixture(autouse=True)
def _fresh_check_digit_cache() -> Iterator[None]:
    """``check_digit`` memoises its sums (bulk lists name few GTINs). Each test starts with an empty cache, so a test
    computes every digit it asks for: its outcome never depends on the tests before it, and mutation testing sees
    which tests reach the sum (mutmut records a function's callers; a cache hit hides the call)."""
    check_digit.cache_clear()
    yield
