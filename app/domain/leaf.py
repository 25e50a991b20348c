"""The canonical leaf bytes of a custody event in the Merkle log (described in passport_schema/event-leaf.md).

UTF-8 JSON, keys sorted, no insignificant whitespace, every key always present (null when empty), times as
RFC 3339 UTC with microseconds and a ``Z``, integers as JSON integers, non-ASCII characters as themselves.
Items are in the order the event recorded them; a unit is named ``{gtin}/{serial}``, a container by its SSCC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

LEAF_VERSION = 1


def rfc3339(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("leaf times must be timezone-aware")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True, slots=True)
class LeafItem:
    unit: str | None  # "{gtin}/{serial}"
    container: str | None  # SSCC
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LeafEvent:
    event_id: int
    org: str
    action: str
    occurred_at: datetime
    recorded_at: datetime
    region: str | None
    to: str | None
    container: str | None
    channel: str | None
    platform: str | None
    order_ref: str | None
    prescription: str | None
    undoes: int | None
    items: Sequence[LeafItem]


def leaf_document(event: LeafEvent) -> dict[str, Any]:
    return {
        "v": LEAF_VERSION,
        "event_id": event.event_id,
        "org": event.org,
        "action": event.action,
        "occurred_at": rfc3339(event.occurred_at),
        "recorded_at": rfc3339(event.recorded_at),
        "region": event.region,
        "to": event.to,
        "container": event.container,
        "channel": event.channel,
        "platform": event.platform,
        "order_ref": event.order_ref,
        "prescription": event.prescription,
        "undoes": event.undoes,
        "items": [
            {"unit": i.unit, "container": i.container, "before": i.before, "after": i.after} for i in event.items
        ],
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_PLAIN = re.compile(r"[0-9A-Za-z/]*")  # a unit's name or an SSCC written as JSON as it is, between quotes


def leaf_bytes(event: LeafEvent) -> bytes:
    """``leaf_document`` as canonical JSON. The same bytes as dumping the document whole, made faster for an event
    of 10,000 items: an item's records before and after are the same few dictionaries (one per record), each
    dumped once, and the items are spliced in at the place of their key ("items" sorts after "event_id")."""
    fields = leaf_document(replace(event, items=()))
    del fields["items"]
    head = _dumps({k: v for k, v in fields.items() if k < "items"})
    tail = _dumps({k: v for k, v in fields.items() if k > "items"})
    dumped: dict[int, str] = {}  # id of a record's dictionary -> its JSON (the items hold them for this call)

    def record(data: dict[str, Any]) -> str:
        text = dumped.get(id(data))
        if text is None:
            text = dumped[id(data)] = _dumps(data)
        return text

    def name(value: str | None) -> str:
        if value is None:
            return "null"
        return f'"{value}"' if _PLAIN.fullmatch(value) else _dumps(value)

    items = ",".join(
        f'{{"after":{record(i.after)},"before":{record(i.before)},"container":{name(i.container)},'
        f'"unit":{name(i.unit)}}}'
        for i in event.items
    )
    return f'{head[:-1]},"items":[{items}],{tail[1:]}'.encode()
