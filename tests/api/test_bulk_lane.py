"""The bulk lane (app/services/custody/record.py): an event naming loose units only is decided unit by unit as
before, but written set-based when it is logged. What it writes must be what the per-unit lane wrote: the rows,
the items, the containment rows, the lot counters (recounted from scratch), one leaf per event; and what it
refuses, it refuses naming the first offending unit in the list, with nothing written."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db.models import Containment, Event, EventItem, Unit
from tests.helpers import assert_counted, assert_problem, ok, post, snapshot, sscc


def _units(runtime, ids: list[int]) -> list[tuple[str, str | None, str | None, str | None]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Unit.state, Unit.holder_id, Unit.to_id, Unit.container_sscc)
            .where(Unit.id.in_(ids))
            .order_by(Unit.id)
        ).all()
    return [tuple(r) for r in rows]


def _items(runtime, event_id: int) -> list[tuple[int, dict, dict]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(EventItem.unit_id, EventItem.before, EventItem.after)
            .where(EventItem.event_id == event_id)
            .order_by(EventItem.id)
        ).all()
    return [tuple(r) for r in rows]


def _ids(runtime, codes: list[dict]) -> list[int]:
    with runtime.sessions() as session:
        by_serial = dict(session.execute(select(Unit.serial, Unit.id)).all())
    return [by_serial[c["serial"]] for c in codes]


def test_a_bulk_ship_writes_every_row_item_and_counter(client, runtime, maker, batch, issue, make_org):
    dist = make_org("distributor", "drug_wholesale")
    codes = issue(batch["id"], 40)
    ids = _ids(runtime, codes)
    [result] = ok(post(client, maker, {"action": "ship", "codes": [c["uri"] for c in codes], "to": dist.id}))
    assert result["status"] == "accepted" and isinstance(result["log_index"], int)
    assert _units(runtime, ids) == [("in_transit", maker.id, dist.id, None)] * 40
    items = _items(runtime, result["event_id"])
    assert [i[0] for i in items] == ids  # one item per unit, in the order the list named them
    assert {(str(b), str(a)) for _, b, a in items} == {
        (
            str({"status": "issued", "holder": maker.id, "to": None, "previous": None}),
            str({"status": "in_transit", "holder": maker.id, "to": dist.id, "previous": None}),
        )
    }
    assert_counted(runtime, "bulk ship")
    ok(post(client, dist, {"action": "receive", "codes": [c["uri"] for c in reversed(codes)]}))
    assert _units(runtime, ids) == [("held", dist.id, None, None)] * 40
    assert_counted(runtime, "bulk receive")


def test_lock_then_unlock_in_one_request_reads_what_the_first_event_wrote(client, runtime, maker, batch, issue):
    codes = issue(batch["id"], 30)
    uris = [c["uri"] for c in codes]
    ids = _ids(runtime, codes)
    body = {"events": [{"action": "lock", "codes": uris}, {"action": "unlock", "codes": uris}]}
    locked, unlocked = ok(post(client, maker, body))
    assert _units(runtime, ids) == [("issued", maker.id, None, None)] * 30
    assert {(b["status"], a["status"], a["previous"]) for _, b, a in _items(runtime, locked["event_id"])} == {
        ("issued", "locked", "issued")
    }
    assert {(b["status"], a["status"]) for _, b, a in _items(runtime, unlocked["event_id"])} == {("locked", "issued")}
    assert_counted(runtime, "lock + unlock")


def test_a_list_with_units_of_several_records_is_refused_at_the_first_offender(
    client, runtime, maker, batch, issue, make_org
):
    dist = make_org("distributor", "drug_wholesale")
    codes = [c["uri"] for c in issue(batch["id"], 12)]
    ok(post(client, maker, {"action": "ship", "codes": [codes[5], codes[9]], "to": dist.id}))
    before = snapshot(runtime)
    problem = assert_problem(post(client, maker, {"action": "ship", "codes": codes, "to": dist.id}), 409, "in_transit")
    assert problem["unit"] == codes[5]
    assert snapshot(runtime) == before
    # The same list without the two: every one of the other ten moves, in one event.
    rest = [c for i, c in enumerate(codes) if i not in (5, 9)]
    [result] = ok(post(client, maker, {"action": "ship", "codes": rest, "to": dist.id}))
    assert len(_items(runtime, result["event_id"])) == 10
    assert_counted(runtime, "ship of the rest")


def test_a_refused_event_of_a_non_atomic_list_leaves_the_units_as_the_accepted_ones_left_them(
    client, runtime, maker, batch, issue, make_org
):
    dist = make_org("distributor", "drug_wholesale")
    codes = issue(batch["id"], 20)
    uris = [c["uri"] for c in codes]
    body = {
        "atomic": False,
        "events": [
            {"action": "lock", "codes": uris},
            {"action": "ship", "codes": uris, "to": dist.id},  # refused: locked
            {"action": "unlock", "codes": uris},
        ],
    }
    results = ok(post(client, maker, body))
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["problem"]["code"] == "locked" and results[1]["problem"]["unit"] == uris[0]
    assert _units(runtime, _ids(runtime, codes)) == [("issued", maker.id, None, None)] * 20
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 2
    assert_counted(runtime, "lock, refused ship, unlock")


def test_packing_loose_units_writes_their_containment_and_counters(client, runtime, maker, batch, issue, make_org):
    dist = make_org("distributor", "drug_wholesale")
    codes = issue(batch["id"], 25)
    ids = _ids(runtime, codes)
    case_a, case_b, pallet = (sscc(n)[4:] for n in (11, 12, 13))
    body = {
        "events": [
            {"action": "pack", "codes": [c["uri"] for c in codes[:15]], "container": f"(00){case_a}"},
            {"action": "pack", "codes": [c["uri"] for c in codes[15:]], "container": f"(00){case_b}"},
            {"action": "pack", "codes": [f"(00){case_a}", f"(00){case_b}"], "container": f"(00){pallet}"},
        ]
    }
    ok(post(client, maker, body))
    assert [r[3] for r in _units(runtime, ids)] == [case_a] * 15 + [case_b] * 10
    with runtime.sessions() as session:
        links = session.execute(
            select(Containment.unit_id, Containment.parent_sscc, Containment.batch_id, Containment.unpacked_event_id)
            .where(Containment.unit_id.is_not(None))
            .order_by(Containment.unit_id)
        ).all()
    assert [tuple(link) for link in links] == [
        (i, case_a if n < 15 else case_b, batch["id"], None) for n, i in enumerate(ids)
    ]
    assert_counted(runtime, "bulk pack")
    # Packing one more into a case already holding units (its chain read once for the event) and moving the pallet.
    more = issue(batch["id"], 3)
    ok(post(client, maker, {"action": "pack", "codes": [c["uri"] for c in more], "container": f"(00){case_a}"}))
    ok(post(client, maker, {"action": "ship", "codes": [f"(00){pallet}"], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [f"(00){pallet}"]}))
    assert_counted(runtime, "pack into a case inside a pallet, pallet hop")
    # A list naming a unit someone else holds is refused naming that unit; the new case is not made either.
    loose = [c["uri"] for c in issue(batch["id"], 3)]
    ok(post(client, maker, {"action": "ship", "codes": [loose[2]], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [loose[2]]}))
    before = snapshot(runtime)
    refused = post(client, maker, {"action": "pack", "codes": loose, "container": sscc(14)})
    assert assert_problem(refused, 409, "not_custodian")["unit"] == loose[2]
    assert snapshot(runtime) == before


def test_units_of_two_lots_interleaved_are_decided_by_kind_and_written_in_list_order(
    client, runtime, maker, product, batch, issue, make_org
):
    dist = make_org("distributor", "drug_wholesale")
    other = client.post("/v1/batches", json={**_batch_body(batch), "lot": "LOT43"}, headers=maker.headers)
    assert other.status_code == 201, other.text
    first, second = issue(batch["id"], 6), issue(other.json()["id"], 6)
    codes = [c for pair in zip(first, second, strict=True) for c in pair]  # lot 42, lot 43, lot 42, ...
    ids = _ids(runtime, codes)
    ok(post(client, maker, {"action": "ship", "codes": [codes[7]["uri"]], "to": dist.id}))  # a lot-43 unit, away
    before = snapshot(runtime)
    # Kinds in order of first appearance: (lot 42, held), (lot 43, held), (lot 43, in transit) at index 7: refused
    # there although units of the accepted kinds come after it.
    refused = post(client, maker, {"action": "lock", "codes": [c["uri"] for c in codes]})
    assert assert_problem(refused, 409, "in_transit")["unit"] == codes[7]["uri"]
    assert snapshot(runtime) == before
    rest = [c for i, c in enumerate(codes) if i != 7]
    [result] = ok(post(client, maker, {"action": "lock", "codes": [c["uri"] for c in rest]}))
    assert [i[0] for i in _items(runtime, result["event_id"])] == [i for n, i in enumerate(ids) if n != 7]
    assert_counted(runtime, "a lock of two lots interleaved")


def test_one_request_packing_unpacking_and_shipping_the_same_units_reads_each_events_result(
    client, runtime, maker, batch, issue, make_org
):
    """The bulk lane decides on the rows as the request read them; the per-unit lane (unpacking) changes the units'
    ORM objects: the third event must see what the second left, not the rows as first read."""
    dist = make_org("distributor", "drug_wholesale")
    codes = issue(batch["id"], 8)
    uris = [c["uri"] for c in codes]
    ids = _ids(runtime, codes)
    case = sscc(21)[4:]
    body = {
        "events": [
            {"action": "pack", "codes": uris, "container": f"(00){case}"},
            {"action": "unpack", "codes": [f"(00){case}"]},
            {"action": "ship", "codes": uris, "to": dist.id},
        ]
    }
    *_, shipped = ok(post(client, maker, body))
    assert _units(runtime, ids) == [("in_transit", maker.id, dist.id, None)] * 8
    # unpacking gave each unit the case's record (held by the packer): the shipment moved them from there
    assert {(b["status"], a["status"]) for _, b, a in _items(runtime, shipped["event_id"])} == {("held", "in_transit")}
    assert_counted(runtime, "pack, unpack, ship in one request")
    # And back the other way round: a bulk event after the per-unit lane took the units as ORM objects.
    body = {"events": [{"action": "receive", "codes": uris}, {"action": "lock", "codes": uris}]}
    ok(post(client, dist, body))
    assert _units(runtime, ids) == [("locked", dist.id, None, None)] * 8
    assert_counted(runtime, "receive, lock in one request")


def _batch_body(batch: dict) -> dict:
    return {k: batch[k] for k in ("gtin", "lot", "manufactured_on", "expires_on") if k in batch}
