"""The audit replay, pure: leaf documents in, replayed custody, counters and the breaks of the chain out."""

from __future__ import annotations

from typing import Any

from app.domain.replay import (
    Difference,
    Origin,
    Placement,
    Record,
    Replay,
    count_differences,
    issued,
    placement_differences,
)

MAKER, DIST, SHOP, MARKET = "maker", "dist", "shop", "market"
U1, U2, U3 = "09506000134352/A1", "09506000134352/A2", "09506000134352/B1"
CASE, PALLET = "106141411234567897", "376104250021234569"


def custody(status: str, holder: str, to: str | None = None, previous: str | None = None) -> dict[str, Any]:
    return {"status": status, "holder": holder, "to": to, "previous": previous}


ISSUED = custody("issued", MAKER)


def leaf(event_id: int, org: str, action: str, items: list[tuple[str, dict, dict]], **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "v": 1,
        "event_id": event_id,
        "org": org,
        "action": action,
        "occurred_at": "2026-12-01T00:00:00.000000Z",
        "recorded_at": "2026-12-01T00:00:00.000000Z",
        **{k: None for k in ("region", "to", "container", "channel", "platform", "order_ref", "prescription")},
        "undoes": None,
        "items": [
            {
                "unit": name if "/" in name else None,
                "container": None if "/" in name else name,
                "before": before,
                "after": after,
            }
            for name, before, after in items
        ],
    }
    doc.update(fields)
    return doc


def run(*docs: dict[str, Any]) -> Replay:
    replay = Replay()
    for index, doc in enumerate(docs):
        for name in sorted(replay.unknown_units([doc])):
            replay.add_unit(name, Origin(2 if name == U3 else 1, MAKER))
        replay.apply(index, doc)
    return replay


def test_a_unit_never_named_stays_unknown_and_a_hop_moves_its_lot():
    replay = run(
        leaf(1, MAKER, "ship", [(U1, ISSUED, custody("in_transit", MAKER, DIST))], to=DIST),
        leaf(2, DIST, "receive", [(U1, custody("in_transit", MAKER, DIST), custody("held", DIST))]),
    )
    assert replay.breaks == [] and replay.events == 2
    assert replay.unit(U1) == Placement(Record("held", DIST), None)
    assert replay.unit(U2) is None  # never touched: the caller compares it with issued()
    assert replay.counters().tables == {
        "lot_custody": {(1, "held", DIST, ""): 1, (1, "issued", MAKER, ""): -1},
        "container_lot": {},
        "lot_hop": {(1, MAKER, DIST): 1},
        "lot_sale": {},
        "lot_recovery": {},
    }


def test_a_before_that_is_not_the_replayed_state_is_a_break():
    replay = run(
        leaf(1, MAKER, "ship", [(U1, ISSUED, custody("in_transit", MAKER, DIST))], to=DIST),
        leaf(2, SHOP, "sell", [(U1, custody("held", SHOP), custody("sold", SHOP))], channel="offline"),
    )
    assert [b.text() for b in replay.breaks] == [
        f"leaf 1 (event 2, sell) unit {U1} before: logged {custody('held', SHOP)!r}, "
        f"replayed {custody('in_transit', MAKER, DIST)!r}"
    ]
    assert replay.unit(U1) == Placement(Record("sold", SHOP), None)  # the log's after is carried on


def test_packed_units_follow_their_outermost_container_and_keep_their_own_record():
    in_transit = custody("in_transit", MAKER, DIST)
    held = custody("held", MAKER)
    replay = run(
        leaf(1, MAKER, "pack", [(U1, ISSUED, ISSUED), (U3, ISSUED, ISSUED)], container=CASE),
        leaf(2, MAKER, "pack", [(CASE, held, held)], container=PALLET),
        leaf(3, MAKER, "pack", [(U2, ISSUED, ISSUED)], container=PALLET),
        leaf(4, MAKER, "ship", [(PALLET, held, in_transit)], to=DIST),
        leaf(5, DIST, "receive", [(U1, in_transit, custody("held", DIST))]),  # taken out of the case
    )
    assert replay.breaks == []
    assert replay.unit(U3) == Placement(issued(MAKER), CASE)  # its own record is stale on purpose
    assert replay.unit(U1) == Placement(Record("held", DIST), None)
    assert replay.containers() == {
        CASE: Placement(Record("held", MAKER), PALLET),
        PALLET: Placement(Record("in_transit", MAKER, DIST), None),
    }
    tables = replay.counters().tables
    assert tables["lot_hop"] == {(1, MAKER, DIST): 2, (2, MAKER, DIST): 1}
    assert tables["container_lot"] == {(CASE, 2): 1, (PALLET, 1): 1, (PALLET, 2): 1}
    assert tables["lot_custody"] == {
        (1, "issued", MAKER, ""): -2,
        (1, "held", DIST, ""): 1,
        (1, "in_transit", MAKER, DIST): 1,
        (2, "issued", MAKER, ""): -1,
        (2, "in_transit", MAKER, DIST): 1,
    }


def test_unpacking_hands_the_container_custody_down_one_level():
    held = custody("held", DIST)
    replay = run(
        leaf(1, MAKER, "pack", [(U1, ISSUED, ISSUED)], container=CASE),
        leaf(2, MAKER, "pack", [(CASE, custody("held", MAKER), custody("held", MAKER))], container=PALLET),
        leaf(3, MAKER, "ship", [(PALLET, custody("held", MAKER), custody("in_transit", MAKER, DIST))], to=DIST),
        leaf(4, DIST, "receive", [(PALLET, custody("in_transit", MAKER, DIST), held)]),
        leaf(5, DIST, "unpack", [(PALLET, held, held)]),
        leaf(6, DIST, "destroy", [(CASE, held, custody("destroyed", DIST))]),
    )
    assert replay.breaks == []
    assert replay.containers()[CASE] == Placement(Record("destroyed", DIST), None)
    assert replay.unit(U1) == Placement(issued(MAKER), CASE)
    tables = replay.counters().tables
    assert tables["container_lot"] == {(CASE, 1): 1}  # the pallet is empty
    assert tables["lot_recovery"] == {(1, "destroy"): 1}
    assert tables["lot_custody"] == {(1, "issued", MAKER, ""): -1, (1, "destroyed", DIST, ""): 1}


def test_standing_sales_count_distinct_units_and_undo_takes_its_sale_back():
    held, sold, opened = custody("held", SHOP), custody("sold", SHOP), custody("open", SHOP)
    online = {"channel": "online", "platform": MARKET}
    replay = run(
        leaf(1, MAKER, "ship", [(U1, ISSUED, custody("in_transit", MAKER, SHOP)), (U2, ISSUED, ISSUED)], to=SHOP),
        leaf(2, SHOP, "receive", [(U1, custody("in_transit", MAKER, SHOP), held)]),
        leaf(3, SHOP, "sell", [(U1, held, sold)], **online),
        leaf(4, SHOP, "undo", [(U1, sold, held)], undoes=3),
        leaf(5, SHOP, "sell", [(U1, held, sold)], channel="offline"),
        leaf(6, SHOP, "return", [(U1, sold, custody("returned", SHOP))]),
        leaf(7, SHOP, "open", [(U3, held, opened)]),
        leaf(8, SHOP, "dispense", [(U3, opened, opened)], channel="offline"),
        leaf(9, SHOP, "dispense", [(U3, opened, opened)], channel="offline"),
        leaf(10, SHOP, "undo", [(U3, opened, opened)], undoes=9),
    )
    tables = replay.counters().tables
    assert tables["lot_sale"] == {(1, "sell", "offline", ""): 1, (2, "dispense", "offline", ""): 1}
    assert tables["lot_recovery"] == {(1, "return"): 1}
    assert [b.subject for b in replay.breaks] == [f"leaf 6 (event 7, open) unit {U3} before"]  # never received


def test_units_and_containers_the_log_names_but_nobody_has_are_breaks():
    replay = Replay()
    replay.add_unit(U1, None)
    replay.apply(0, leaf(1, MAKER, "ship", [(U1, ISSUED, ISSUED), (CASE, ISSUED, ISSUED)], to=DIST))
    replay.apply(1, leaf(2, MAKER, "ship", [(U2, ISSUED, ISSUED)], to=DIST))
    assert [b.text() for b in replay.breaks] == [
        f"unit {U1}: unit table 'absent', replayed 'named by the log'",
        f"leaf 0 (event 1, ship) container {CASE}: logged 'named', replayed 'never packed'",
        f"leaf 1 (event 2, ship) unit {U2}: logged 'named', replayed 'no origin given'",
    ]
    assert replay.counters().tables["lot_hop"] == {}


def test_differences_name_the_field_or_the_counter_key():
    stored = Placement(Record("held", SHOP, None, None), None)
    replayed = Placement(Record("sold", SHOP, None, None), CASE)
    assert placement_differences(f"unit {U1}", stored, replayed, "container") == [
        Difference(f"unit {U1} state", "held", "sold"),
        Difference(f"unit {U1} container", None, CASE),
    ]
    found = count_differences(
        "lot_custody",
        {(1, "held", SHOP, ""): 2, (1, "sold", SHOP, ""): 0},
        {(1, "held", SHOP, ""): 1, (1, "sold", SHOP, ""): 1},
    )
    assert [d.text() for d in found] == [
        f"lot_custody batch_id=1 state=held holder_id={SHOP} to_id=-: stored 2, replayed 1",
        f"lot_custody batch_id=1 state=sold holder_id={SHOP} to_id=-: stored 0, replayed 1",
    ]
    assert count_differences("lot_hop", {(1, MAKER, DIST): 3}, {(1, MAKER, DIST): 3}) == []


def test_an_import_starts_its_packages_and_units_issued_nested_as_it_recorded():
    box, case = "P0000000000000b0x", "P00000000000ca5e0"
    replay = Replay()
    replay.add_import(MAKER, {case: None, box: case}, [(U1, 1, box), (U2, 1, box)])
    replay.apply(0, leaf(1, MAKER, "pack", []))  # the import's own event names no item
    assert replay.breaks == [] and replay.events == 1
    assert replay.unit(U1) == Placement(Record("issued", MAKER), box)
    assert replay.containers() == {case: Placement(issued(MAKER), None), box: Placement(issued(MAKER), case)}
    assert replay.counters().tables["container_lot"] == {(case, 1): 2, (box, 1): 2}
    assert replay.counters().tables["lot_custody"] == {}  # issued where they are: nothing beyond issuance

    in_transit = custody("in_transit", MAKER, DIST)
    replay.apply(1, leaf(2, MAKER, "ship", [(case, ISSUED, in_transit)], to=DIST))
    replay.apply(2, leaf(3, DIST, "receive", [(case, in_transit, custody("held", DIST))]))
    replay.apply(3, leaf(4, DIST, "unpack", [(case, custody("held", DIST), custody("held", DIST))]))
    replay.apply(4, leaf(5, DIST, "unpack", [(box, custody("held", DIST), custody("held", DIST))]))
    replay.apply(5, leaf(6, DIST, "sell", [(U1, custody("held", DIST), custody("sold", DIST))], channel="offline"))
    assert replay.breaks == []
    assert replay.unit(U1) == Placement(Record("sold", DIST), None)
    assert replay.unit(U2) == Placement(Record("held", DIST), None)
    assert replay.containers()[box] == Placement(Record("held", DIST), None)
    tables = replay.counters().tables
    assert tables["lot_hop"] == {(1, MAKER, DIST): 2} and tables["container_lot"] == {}


def test_an_imported_package_is_not_named_as_never_packed_but_an_unknown_one_still_is():
    replay = Replay()
    replay.add_import(MAKER, {CASE: None}, [(U1, 1, CASE)])
    replay.apply(0, leaf(1, MAKER, "ship", [(CASE, ISSUED, custody("in_transit", MAKER, DIST))], to=DIST))
    replay.apply(1, leaf(2, MAKER, "ship", [(PALLET, ISSUED, custody("in_transit", MAKER, DIST))], to=DIST))
    assert [d.text() for d in replay.breaks] == [
        f"leaf 1 (event 2, ship) container {PALLET}: logged 'named', replayed 'never packed'"
    ]
