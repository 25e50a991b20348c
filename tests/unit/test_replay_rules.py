"""The replay's comparing side (issue 21, mutation testing): records as leaves carry them, the placement and
counter differences, and how a counter key is described."""

from __future__ import annotations

from app.domain.replay import (
    Difference,
    Origin,
    Placement,
    Record,
    Replay,
    count_differences,
    describe_key,
    issued,
    placement_differences,
)


def test_a_record_read_from_a_leaf() -> None:
    assert Record.of({"status": "locked", "holder": "org-a", "to": "org-b", "previous": "held"}) == Record(
        "locked", "org-a", "org-b", "held"
    )
    assert Record.of({}) == Record("", None, None, None)
    assert Record("in_transit", "org-a", "org-b").key == ("in_transit", "org-a", "org-b")
    assert Record("held", None).key == ("held", "", "")
    assert Record("locked", "org-a", None, "held").as_json() == {
        "status": "locked",
        "holder": "org-a",
        "to": None,
        "previous": "held",
    }
    assert issued("maker") == Record("issued", "maker", None, None)


def test_a_difference_reads_as_text() -> None:
    assert Difference("unit X state", "held", "sold").text() == "unit X state: stored 'held', replayed 'sold'"
    assert Difference("event 3 before", None, 2, "logged").text() == "event 3 before: logged None, replayed 2"


def test_every_field_of_a_placement_is_compared() -> None:
    stored = Placement(Record("locked", "org-a", "org-b", "held"), "C1")
    assert placement_differences("case C2", stored, stored, "parent") == []
    replayed = Placement(Record("held", "org-c", None, None), None)
    assert placement_differences("case C2", stored, replayed, "parent") == [
        Difference("case C2 state", "locked", "held"),
        Difference("case C2 holder", "org-a", "org-c"),
        Difference("case C2 to", "org-b", None),
        Difference("case C2 previous", "held", None),
        Difference("case C2 parent", "C1", None),
    ]


def test_a_counter_key_is_described_column_by_column() -> None:
    assert describe_key("lot_hop", (4, "org-a", "")) == "lot_hop batch_id=4 from_id=org-a to_id=-"
    assert (
        describe_key("container_lot", ("106141412345678908", 4)) == "container_lot sscc=106141412345678908 batch_id=4"
    )
    assert describe_key("lot_sale", (4, "sell", "online", "tmall")) == (
        "lot_sale batch_id=4 action=sell channel=online platform_id=tmall"
    )
    assert describe_key("lot_recovery", (4, "return")) == "lot_recovery batch_id=4 action=return"


def test_counts_missing_on_either_side_count_as_zero() -> None:
    assert count_differences("lot_recovery", {(1, "return"): 0}, {}) == []
    assert count_differences("lot_recovery", {}, {(1, "return"): 0}) == []
    assert count_differences("lot_recovery", {(1, "return"): 2}, {}) == [
        Difference("lot_recovery batch_id=1 action=return", 2, 0)
    ]
    assert count_differences("lot_recovery", {}, {(1, "destroy"): 1}) == [
        Difference("lot_recovery batch_id=1 action=destroy", 0, 1)
    ]
    assert count_differences("lot_recovery", {(1, "return"): 1}, {(1, "return"): 1}) == []


def test_differences_are_sorted_by_the_keys_as_text() -> None:
    found = count_differences(
        "lot_recovery",
        {(9, "return"): 1, (10, "return"): 1, (10, "destroy"): 3},
        {(10, "destroy"): 1},
    )
    assert [d.subject for d in found] == [
        "lot_recovery batch_id=10 action=destroy",
        "lot_recovery batch_id=10 action=return",
        "lot_recovery batch_id=9 action=return",
    ]
    assert [(d.stored, d.replayed) for d in found] == [(3, 1), (1, 0), (1, 0)]


MAKER, DIST = "maker", "dist"
U1, U2 = "09506000134352/A1", "09506000134352/A2"
CASE, INNER = "106141411234567897", "106141412345678908"
ISSUED = {"status": "issued", "holder": MAKER, "to": None, "previous": None}
HELD = {"status": "held", "holder": MAKER, "to": None, "previous": None}


def pack_leaf(event_id: int, action: str, names: list[str], before: dict, container: str | None = None) -> dict:
    items = [
        {"unit": n if "/" in n else None, "container": None if "/" in n else n, "before": before, "after": before}
        for n in names
    ]
    return {"event_id": event_id, "org": MAKER, "action": action, "container": container, "to": None, "items": items}


def replayed(*docs: dict) -> Replay:
    replay = Replay()
    replay.add_unit(U1, Origin(1, MAKER))
    replay.add_unit(U2, Origin(2, MAKER))
    for index, doc in enumerate(docs):
        replay.apply(index, doc)
    return replay


def test_a_new_container_is_held_by_the_packer() -> None:
    replay = replayed(pack_leaf(1, "pack", [U1], ISSUED, CASE))
    assert replay.breaks == []
    assert replay.containers() == {CASE: Placement(Record("held", MAKER), None)}
    assert replay.unit(U1) == Placement(Record("issued", MAKER), CASE)
    assert replay.counters().tables["container_lot"] == {(CASE, 1): 1}


def test_a_pack_without_a_container_is_a_break_and_moves_nothing() -> None:
    replay = replayed(pack_leaf(1, "pack", [U1], ISSUED, None), pack_leaf(2, "pack", [U2], ISSUED, ""))
    # Unlike the other breaks, this one names the unit without the word "unit" (as the code stands).
    assert replay.breaks == [
        Difference(f"leaf 0 (event 1, pack) {U1}", "pack without a container", "a container", "logged"),
        Difference(f"leaf 1 (event 2, pack) {U2}", "pack without a container", "a container", "logged"),
    ]
    assert replay.containers() == {}
    assert replay.unit(U1) == Placement(Record("issued", MAKER), None)


def test_unpacking_a_unit_changes_nothing() -> None:
    replay = replayed(pack_leaf(1, "pack", [U1], ISSUED, CASE), pack_leaf(2, "unpack", [U1], HELD))
    assert replay.breaks == []
    assert replay.unit(U1) == Placement(Record("issued", MAKER), CASE)
    assert replay.counters().tables["container_lot"] == {(CASE, 1): 1}


def test_unpacking_frees_every_unit_and_child_with_the_containers_custody() -> None:
    in_case = {"status": "held", "holder": DIST, "to": None, "previous": None}
    replay = replayed(
        pack_leaf(1, "pack", [U1], ISSUED, INNER),
        pack_leaf(2, "pack", [INNER], HELD, CASE),
        pack_leaf(3, "pack", [U2], ISSUED, CASE),
        pack_leaf(4, "unpack", [CASE], in_case),
    )
    assert [b.subject for b in replay.breaks] == [f"leaf 3 (event 4, unpack) container {CASE} before"]
    assert replay.unit(U2) == Placement(Record("held", DIST), None)
    assert replay.unit(U1) == Placement(Record("issued", MAKER), INNER)  # one level only
    assert replay.containers() == {
        INNER: Placement(Record("held", DIST), None),
        CASE: Placement(Record("held", DIST), None),
    }
    assert replay.counters().tables["container_lot"] == {(INNER, 1): 1}


def leaf_of(event_id: int, action: str, items: list[tuple[str, dict, dict]], **fields: object) -> dict:
    doc: dict = {"event_id": event_id, "org": MAKER, "action": action, "container": None, "to": None}
    doc["items"] = [
        {"unit": n if "/" in n else None, "container": None if "/" in n else n, "before": b, "after": a}
        for n, b, a in items
    ]
    return {**doc, **fields}


SHIPPED = {"status": "in_transit", "holder": MAKER, "to": DIST, "previous": None}
PALLET = "376104250021234569"


def test_a_unit_taken_out_of_a_case_is_not_reset_when_the_case_is_unpacked() -> None:
    replay = replayed(
        pack_leaf(1, "pack", [U1, U2], ISSUED, CASE),
        leaf_of(2, "ship", [(U1, HELD, SHIPPED)], to=DIST),  # out of the case
        pack_leaf(3, "pack", [U2], HELD, INNER),  # moved to another case
        pack_leaf(4, "unpack", [CASE], HELD),
        pack_leaf(5, "unpack", [CASE], HELD),  # twice: the freed units are no longer in it
    )
    assert replay.unit(U1) == Placement(Record("in_transit", MAKER, DIST), None)
    assert replay.unit(U2) == Placement(Record("held", MAKER), INNER)


def test_a_case_unpacked_out_of_a_pallet_is_not_reset_when_the_pallet_is() -> None:
    replay = replayed(
        pack_leaf(1, "pack", [U1], ISSUED, CASE),
        pack_leaf(2, "pack", [CASE], HELD, PALLET),
        pack_leaf(3, "unpack", [CASE], HELD),  # out of the pallet, its unit out of it
        leaf_of(4, "ship", [(CASE, HELD, SHIPPED)], to=DIST),
        pack_leaf(5, "unpack", [PALLET], HELD),
        pack_leaf(6, "unpack", [PALLET], HELD),
    )
    assert replay.containers()[CASE] == Placement(Record("in_transit", MAKER, DIST), None)


def test_units_missing_from_the_unit_table_are_not_asked_for_again() -> None:
    replay = Replay()
    replay.add_unit(U1, None)
    doc = leaf_of(1, "ship", [(U1, ISSUED, SHIPPED), (U2, ISSUED, SHIPPED)], to=DIST)
    assert replay.unknown_units([doc]) == {U2}
    replay.add_unit(U2, Origin(2, MAKER))
    assert replay.unknown_units([doc]) == set()


def test_standing_sales_count_every_unit_of_a_lot() -> None:
    replay = Replay()
    replay.add_unit(U1, Origin(1, MAKER))
    replay.add_unit(U2, Origin(1, MAKER))
    sold = {"status": "sold", "holder": MAKER, "to": None, "previous": None}
    replay.apply(0, leaf_of(1, "sell", [(U1, ISSUED, sold), (U2, ISSUED, sold)], channel="offline", platform=None))
    assert replay.counters().tables["lot_sale"] == {(1, "sell", "offline", ""): 2}


def test_a_second_unpack_leaves_what_the_first_freed_alone() -> None:
    first = (
        pack_leaf(1, "pack", [U1], ISSUED, CASE),
        pack_leaf(2, "pack", [CASE], HELD, PALLET),
        pack_leaf(3, "unpack", [CASE], HELD),
        pack_leaf(4, "unpack", [PALLET], HELD),
        leaf_of(5, "ship", [(U1, HELD, SHIPPED), (CASE, HELD, SHIPPED)], to=DIST),
    )
    replay = replayed(*first, pack_leaf(6, "unpack", [CASE], HELD))
    assert replay.unit(U1) == Placement(Record("in_transit", MAKER, DIST), None)
    replay = replayed(*first, pack_leaf(6, "unpack", [PALLET], HELD))
    assert replay.containers()[CASE] == Placement(Record("in_transit", MAKER, DIST), None)


def test_hops_and_recoveries_count_every_unit_of_a_lot() -> None:
    replay = Replay()
    for name in (U1, U2):
        replay.add_unit(name, Origin(1, MAKER))
    gone = {"status": "destroyed", "holder": DIST, "to": None, "previous": None}
    replay.apply(0, leaf_of(1, "ship", [(U1, ISSUED, SHIPPED), (U2, ISSUED, SHIPPED)], to=DIST))
    replay.apply(1, leaf_of(2, "destroy", [(U1, SHIPPED, gone), (U2, SHIPPED, gone)]))
    tables = replay.counters().tables
    assert tables["lot_hop"] == {(1, MAKER, DIST): 2}
    assert tables["lot_recovery"] == {(1, "destroy"): 2}
    assert tables["lot_custody"] == {(1, "issued", MAKER, ""): -2, (1, "destroyed", DIST, ""): 2}
