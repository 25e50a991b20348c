"""Triage of scans that did not verify, and the clone signals of scans that did.

Most unknown codes are mis-scans (a case swap, a confused character, two characters transposed), not
counterfeits; Europe's false-alert rate comes from treating them alike. Before a code is called unknown, these
candidates are looked up; a hit means "mis-scan", not "counterfeit". Clone signals compare consumer scans of one
code: two places too far apart for the time between them, or too many distinct clients.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.domain.cn_code import CN_CODE_LENGTH, near_cn_codes
from app.domain.identifiers import CSET82, SERIAL_ALPHABET

# Characters a person or a scanner confuses, mapped to what our serials use instead.
_LOOKALIKE = {"0": "O", "O": "0", "1": "I", "I": "1", "5": "S", "S": "5", "8": "B", "B": "8", "2": "Z", "Z": "2"}


def near_serials(serial: str, *, limit: int = 600) -> list[str]:
    """Serials one slip away from ``serial``: case swapped, look-alike characters, one character changed to any
    character of our serial alphabet, two neighbours transposed, one dropped or doubled character."""
    found: dict[str, None] = {}

    def add(candidate: str) -> None:
        if candidate != serial and 0 < len(candidate) <= 20 and set(candidate) <= CSET82:
            found.setdefault(candidate, None)

    add(serial.upper())
    add(serial.swapcase())
    add("".join(_LOOKALIKE.get(c, c) for c in serial.upper()))
    for i, char in enumerate(serial):
        for replacement in SERIAL_ALPHABET:
            if replacement != char:
                add(serial[:i] + replacement + serial[i + 1 :])
        if i + 1 < len(serial):
            add(serial[:i] + serial[i + 1] + serial[i] + serial[i + 2 :])
        add(serial[:i] + serial[i + 1 :])
    return list(found)[:limit]


def near_codes(serial: str) -> list[str]:
    """The serials a slipped scan of ``serial`` may have meant: a 20-digit drug traceability code's neighbours are
    20-digit codes (a digit dropped, doubled, changed or swapped), any other serial's are ``near_serials``."""
    if len(serial) == CN_CODE_LENGTH and serial.isdigit():
        return near_cn_codes(serial)
    return near_serials(serial)


@dataclass(frozen=True, slots=True)
class Sighting:
    at: datetime
    client: str
    lat: float | None = None
    lon: float | None = None


def distance_km(a: Sighting, b: Sighting) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371 km)."""
    assert a.lat is not None and a.lon is not None and b.lat is not None and b.lon is not None
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass(frozen=True, slots=True)
class CloneSignal:
    reason: str  # "impossible_travel" | "many_clients"
    data: dict[str, object]


def clone_signals(
    sightings: Sequence[Sighting], *, max_speed_kmh: float, max_clients: int, min_distance_km: float = 50.0
) -> list[CloneSignal]:
    """Signals over the recent sightings of one code, oldest first. A double scan in one city is not one."""
    signals: list[CloneSignal] = []
    located = [s for s in sightings if s.lat is not None and s.lon is not None]
    for earlier, later in itertools.pairwise(located):
        km = distance_km(earlier, later)
        hours = max((later.at - earlier.at).total_seconds() / 3600, 1 / 3600)
        if km >= min_distance_km and km / hours > max_speed_kmh:
            signals.append(
                CloneSignal(
                    "impossible_travel",
                    {
                        "km": round(km, 1),
                        "hours": round(hours, 3),
                        "from": earlier.at.isoformat(),
                        "to": later.at.isoformat(),
                    },
                )
            )
            break
    clients = {s.client for s in sightings}
    if len(clients) > max_clients:
        signals.append(CloneSignal("many_clients", {"clients": len(clients), "threshold": max_clients}))
    return signals
