"""The log proves without exposing: every key gets every leaf hash (the tree, checkpoints and proofs stay open),
but an event's content only reaches its parties, the manufacturers of the goods it moved, and regulators."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest

from app.cli import main
from app.domain import merkle
from tests.helpers import BASE_URL, ok, post

OTHER_GTIN = "04006381333931"
CASE = "106141411234567897"
PALLET = "376104250021234569"


def entries(client, org, start: int = 0, end: int = 1000) -> dict:
    response = client.get("/v1/log/entries", params={"start": start, "end": end}, headers=org.headers)
    assert response.status_code == 200, response.text
    return response.json()


def events_seen(body: dict) -> list[int | None]:
    return [None if e is None else json.loads(base64.b64decode(e))["event_id"] for e in body["entries"]]


@pytest.fixture
def trade(client, maker, batch, issue, make_org):
    """Two manufacturers' goods through one distributor; the first's units also travel in a case on a pallet
    that the distributor ships on to a pharmacy. Returns the parties and the event ids of each story."""
    other_maker = make_org("manufacturer", "drug_manufacturing")
    dist = make_org("distributor", "drug_wholesale")
    pharmacy = make_org("retailer", "drug_retail")
    regulator = make_org("regulator")
    stranger = make_org("retailer", "drug_retail")
    assert (
        client.post(
            "/v1/products",
            json={"gtin": OTHER_GTIN, "name": "Ibuprofen 200 mg", "category": "drug_otc"},
            headers=other_maker.headers,
        ).status_code
        == 201
    )
    other_batch = client.post(
        "/v1/batches",
        json={
            "gtin": OTHER_GTIN,
            "lot": "L7",
            "manufactured_on": (date.today() - timedelta(days=3)).isoformat(),
            "expires_on": (date.today() + timedelta(days=400)).isoformat(),
        },
        headers=other_maker.headers,
    ).json()
    mine = [c["uri"] for c in issue(batch["id"], 3)]
    theirs = [c["uri"] for c in issue(other_batch["id"], 1, other_maker)]

    def event(org, body) -> int:
        return int(ok(post(client, org, body))[0]["event_id"])

    story = {
        "loose": [  # the first manufacturer's unit, loose
            event(maker, {"action": "ship", "codes": [mine[0]], "to": dist.id}),
            event(dist, {"action": "receive", "codes": [mine[0]]}),
        ],
        "other": [  # the second manufacturer's unit: none of the first's business
            event(other_maker, {"action": "ship", "codes": [theirs[0]], "to": dist.id}),
            event(dist, {"action": "receive", "codes": [theirs[0]]}),
        ],
        "packed": [
            event(maker, {"action": "pack", "codes": mine[1:], "container": f"(00){CASE}"}),
            event(maker, {"action": "pack", "codes": [f"(00){CASE}"], "container": f"(00){PALLET}"}),
            event(maker, {"action": "ship", "codes": [f"(00){PALLET}"], "to": dist.id}),
            event(dist, {"action": "receive", "codes": [f"(00){PALLET}"]}),
        ],
        # the distributor ships the pallet on: only a container is named, the first maker's units are inside
        "onward": [
            event(dist, {"action": "ship", "codes": [f"(00){PALLET}"], "to": pharmacy.id}),
            event(pharmacy, {"action": "receive", "codes": [f"(00){PALLET}"]}),
        ],
    }
    parties = {
        "maker": maker,
        "other_maker": other_maker,
        "dist": dist,
        "pharmacy": pharmacy,
        "regulator": regulator,
        "stranger": stranger,
    }
    parties["other_maker_batch"] = other_batch["id"]
    return parties, story


def test_each_organisation_reads_only_the_events_it_may_see(client, trade):
    parties, story = trade
    every = [e for part in story.values() for e in part]
    full = entries(client, parties["regulator"])
    assert events_seen(full) == every and full["withheld"] == 0

    def visible(org) -> set[int]:
        body = entries(client, org)
        assert len(body["entries"]) == len(body["leaf_hashes"]) == len(every)
        assert body["leaf_hashes"] == full["leaf_hashes"]  # the tree is the same for everybody
        assert body["withheld"] == sum(e is None for e in body["entries"])
        return {e for e in events_seen(body) if e is not None}

    assert visible(parties["maker"]) == set(story["loose"] + story["packed"] + story["onward"])
    assert visible(parties["other_maker"]) == set(story["other"])
    packing, pharmacy_receives = set(story["packed"][:2]), {story["onward"][1]}
    assert visible(parties["dist"]) == set(every) - packing - pharmacy_receives
    assert visible(parties["pharmacy"]) == set(story["onward"])
    assert visible(parties["stranger"]) == set()


def test_a_withheld_entry_leaks_no_serial(client, trade):
    parties, _ = trade
    body = entries(client, parties["pharmacy"])
    text = json.dumps(body)
    full = entries(client, parties["regulator"])
    serials = {
        item["unit"]
        for e in full["entries"]
        for item in json.loads(base64.b64decode(e))["items"]
        if item["unit"] is not None
    }
    assert serials and not any(unit.split("/")[1] in text for unit in serials)


def test_a_container_event_is_not_the_goods_makers_after_they_left_it(client, trade, issue):
    parties, _ = trade
    dist, pharmacy = parties["dist"], parties["pharmacy"]
    ok(post(client, pharmacy, {"action": "unpack", "codes": [f"(00){PALLET}"]}))
    ok(post(client, pharmacy, {"action": "unpack", "codes": [f"(00){CASE}"]}))
    # The empty case is used again for the second manufacturer's goods only.
    other = parties["other_maker"]
    theirs = issue(parties["other_maker_batch"], 1, other)[0]["uri"]
    ok(post(client, other, {"action": "ship", "codes": [theirs], "to": pharmacy.id}))
    ok(post(client, pharmacy, {"action": "receive", "codes": [theirs]}))
    ok(post(client, pharmacy, {"action": "pack", "codes": [theirs], "container": f"(00){CASE}"}))
    late = int(ok(post(client, pharmacy, {"action": "ship", "codes": [f"(00){CASE}"], "to": dist.id}))[0]["event_id"])
    assert late not in events_seen(entries(client, parties["maker"]))
    assert late in events_seen(entries(client, other))


def test_the_auditor_rebuilds_the_tree_from_hashes_with_any_key(server, client, trade, capsys):
    parties, story = trade
    assert main(["log", "verify", "--url", server, "--api-key", parties["stranger"].api_key]) == 0
    out = capsys.readouterr().out
    withheld = len([e for part in story.values() for e in part])
    assert "log verified" in out and f"{withheld} leaves withheld" in out
    assert main(["log", "verify", "--url", server, "--api-key", parties["regulator"].api_key]) == 0
    assert "withheld" not in capsys.readouterr().out


def test_withheld_leaves_still_prove_inclusion(client, trade):
    parties, _ = trade
    body = entries(client, parties["stranger"])
    hashes = [base64.b64decode(h) for h in body["leaf_hashes"]]
    checkpoint = client.get("/v1/log/checkpoint").json()
    assert merkle.root_of(hashes) == base64.b64decode(checkpoint["root_hash"])


def test_a_leaked_serial_without_its_signature_is_not_authentic(client, trade, issue, batch):
    uri = issue(batch["id"], 1)[0]["uri"]
    path = uri.replace(BASE_URL, "").split("?")[0]
    body = client.get(path, headers={"Accept": "application/json"}).json()
    assert body["verdict"] == "suspect" and body["reasons"] == ["signature_missing"]
    signed = client.get(uri.replace(BASE_URL, ""), headers={"Accept": "application/json"}).json()
    assert signed["verdict"] == "authentic"
