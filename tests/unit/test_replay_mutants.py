"""What mutation testing of app/domain/replay.py found untested (issue 21, session E): a case a pallet's unpacking
freed is no longer in the pallet (a second unpacking leaves it alone), and an import naming a parent package it does
not contain leaves the package loose instead of failing."""

from __future__ import annotations

from app.domain.replay import Origin, Placement, Record, Replay, issued

MAKER, DIST = "maker", "dist"
U1 = "09506000134352/A1"
CASE, PALLET = "106141411234567897", "376104250021234569"
ISSUED = {"status": "issued", "holder": MAKER, "to": None, "previous": None}
HELD = {"status": "held", "holder": MAKER, "to": None, "previous": None}
SHIPPED = {"status": "in_transit", "holder": MAKER, "to": DIST, "previous": None}


def leaf(event_id: int, action: str, name: str, before: dict, after: dict, **fields: object) -> dict:
    unit = "/" in name
    item = {"unit": name if unit else None, "container": None if unit else name, "before": before, "after": after}
    return {"event_id": event_id, "org": MAKER, "action": action, "container": None, "to": None, "items": [item]} | (
        fields
    )


def test_a_case_freed_by_unpacking_its_pallet_is_left_alone_when_the_pallet_is_unpacked_again() -> None:
    replay = Replay()
    replay.add_unit(U1, Origin(1, MAKER))
    for index, doc in enumerate(
        [
            leaf(1, "pack", U1, ISSUED, ISSUED, container=CASE),
            leaf(2, "pack", CASE, HELD, HELD, container=PALLET),
            leaf(3, "unpack", PALLET, HELD, HELD),  # frees the case
            leaf(4, "ship", CASE, HELD, SHIPPED, to=DIST),
            leaf(5, "unpack", PALLET, HELD, HELD),  # the pallet is empty now
        ]
    ):
        replay.apply(index, doc)
    assert replay.breaks == []
    assert replay.containers() == {
        CASE: Placement(Record("in_transit", MAKER, DIST), None),
        PALLET: Placement(Record("held", MAKER), None),
    }
    assert replay.unit(U1) == Placement(Record("issued", MAKER), CASE)


def test_an_imported_package_whose_parent_was_not_imported_is_loose() -> None:
    replay = Replay()
    replay.add_import(MAKER, {CASE: PALLET}, [(U1, 1, CASE)])
    assert replay.containers() == {CASE: Placement(issued(MAKER), None)}
    assert replay.unit(U1) == Placement(issued(MAKER), CASE)
    assert replay.counters().tables["container_lot"] == {(CASE, 1): 1}
