"""Regions as ISO 3166-2 subdivision codes (``CN-31`` is Shanghai): the form every ``region`` field takes."""

from __future__ import annotations

import re

from app.domain.errors import InvalidInput

_ISO_3166_2 = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


def check_region(value: str) -> str:
    """``value`` if it is a country (``CN``) or a subdivision (``CN-31``) code, else ``invalid_region``."""
    if not _ISO_3166_2.fullmatch(value):
        raise InvalidInput(
            f"region {value!r} is not an ISO 3166-2 code: write the country and the subdivision, "
            "like CN-31 (Shanghai), CN-11 (Beijing) or CN-44 (Guangdong)",
            code="invalid_region",
        )
    return value
