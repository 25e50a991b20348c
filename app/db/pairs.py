"""Matching rows on a pair of columns in a way both databases can answer from an index.

SQLite answers ``(a, b) IN (VALUES ...)`` with a full table scan; ``a = ? AND b IN (...)`` per value of ``a``,
joined by OR, is a handful of index searches on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_


def pairs_in(first: Any, second: Any, pairs: Iterable[tuple[Any, Any]]) -> ColumnElement[bool]:
    grouped: dict[Any, list[Any]] = defaultdict(list)
    for a, b in pairs:
        grouped[a].append(b)
    if not grouped:
        return false()
    return or_(*(and_(first == a, second.in_(bs)) for a, bs in grouped.items()))
