"""``leaf_bytes`` (dumps an event's repeated records once and splices its items in) gives exactly the bytes of
dumping ``leaf_document`` whole, as the published format defines them.

Pure domain: no database, no HTTP, no clock.
"""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from app.domain.leaf import LeafEvent, LeafItem, leaf_bytes, leaf_document
from tests.strategies import LEAF_EVENTS


def whole(event: LeafEvent) -> bytes:
    return json.dumps(leaf_document(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@given(LEAF_EVENTS)
def test_the_spliced_leaf_is_the_whole_documents_bytes(event: LeafEvent) -> None:
    assert leaf_bytes(event) == whole(event)


@given(LEAF_EVENTS, st.integers(1, 50))
def test_items_sharing_one_record_dictionary_dump_it_alike_each_time(event: LeafEvent, copies: int) -> None:
    """A bulk event's items hold the same dictionary for every unit of a record; a mutated copy is not reused."""
    before = {"status": "held", "holder": "ORG-1", "to": None, "previous": None}
    after = {"status": "in_transit", "holder": "ORG-1", "to": "ORG-2", "previous": None}
    changed = {**after, "to": "ORG-3"}
    items = [LeafItem(f"09506000134352/S{n}", None, before, after if n % 2 else changed) for n in range(copies)]
    items.append(LeafItem(None, "106141411234567897", dict(after), before))
    items.append(LeafItem('09506000134352/"é\\', None, before, after))  # a name that needs escaping
    bulk = replace(event, items=items)
    assert leaf_bytes(bulk) == whole(bulk)
