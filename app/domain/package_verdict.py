"""The verdict a scan of a package code receives (a box or case code an import registered, docs/cn-drug-codes.md).

A package is no unit: it carries no Passport signature (``signature`` is always ``absent``), and it answers for
what is inside it. In the precedence of a unit's verdict: ``recalled`` when a recall covers its lot (or a unit
inside it), ``suspect`` when the package or a unit inside it is reported stolen or destroyed, ``expired`` when its
lot is past its expiry date, else ``authentic``: a package of this service's registry with nothing wrong inside.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from app.domain.verdict import SUSPECT_STATES, SignatureState, Verdict, VerdictKind


def judge_package(
    state: str, recalled: bool, inside_states: Iterable[str], expires_on: date | None, today: date
) -> Verdict:
    """``state``: the package's public state; ``inside_states``: the public states found among its units."""
    reasons: list[str] = []
    if recalled:
        reasons.append("recalled")
    if state in SUSPECT_STATES:
        reasons.append(state)
    reasons.extend(sorted(s for s in set(inside_states) if s in SUSPECT_STATES and s != state))
    if expires_on is not None and expires_on < today:
        reasons.append("expired")
    if not reasons:
        return Verdict(VerdictKind.AUTHENTIC, SignatureState.ABSENT)
    first = reasons[0]
    kind = VerdictKind(first) if first in (VerdictKind.RECALLED, VerdictKind.EXPIRED) else VerdictKind.SUSPECT
    return Verdict(kind, SignatureState.ABSENT, tuple(reasons))
