"""The tamper-evident log: dense leaves, proofs that verify, signed checkpoints, and an auditor that catches
an edited event and a forked log."""

from __future__ import annotations

import base64
import json
import os

from sqlalchemy import update

from app.cli import main
from app.db.models import Event, LogCheckpoint, LogKey
from app.domain import merkle
from app.domain.checkpoint import checkpoint_body, open_note, parse_checkpoint, sign_note
from app.domain.signing import open_private_key
from app.services.log import LOG_KEY_TAG
from tests.helpers import MASTER_KEY, assert_problem

b64 = base64.b64decode


def _journey(client, maker, batch, issue, make_org, hops: int = 3) -> list[dict]:
    dist = make_org("distributor", "drug_wholesale")
    codes = [c["uri"] for c in issue(batch["id"], hops)]
    results = []
    for code in codes:
        for org, body in (
            (maker, {"action": "ship", "codes": [code], "to": dist.id, "region": "CN-31"}),
            (dist, {"action": "receive", "codes": [code], "region": "CN-32"}),
        ):
            response = client.post("/v1/events", json=body, headers=org.headers)
            assert response.status_code == 201, response.text
            results.extend(response.json()["results"])
    return results


def test_leaves_are_dense_and_every_proof_verifies(client, maker, batch, issue, make_org):
    results = _journey(client, maker, batch, issue, make_org)
    assert [r["log_index"] for r in results] == list(range(6))
    checkpoint = client.get("/v1/log/checkpoint").json()
    size, root = checkpoint["tree_size"], b64(checkpoint["root_hash"])
    assert size == 6
    entries = client.get("/v1/log/entries", params={"start": 0, "end": 6}, headers=maker.headers).json()
    leaves = [b64(e) for e in entries["entries"]]
    assert [json.loads(leaf)["event_id"] for leaf in leaves] == [r["event_id"] for r in results]
    assert merkle.root_of([merkle.leaf_hash(leaf) for leaf in leaves]) == root
    for index, leaf in enumerate(leaves):
        path = client.get("/v1/log/proof/inclusion", params={"leaf_index": index, "tree_size": size}).json()
        merkle.verify_inclusion(merkle.leaf_hash(leaf), index, size, [b64(p) for p in path["audit_path"]], root)
    small_root = merkle.root_of([merkle.leaf_hash(leaf) for leaf in leaves[:3]])
    proof = client.get("/v1/log/proof/consistency", params={"first": 3, "second": 6}).json()["proof"]
    merkle.verify_consistency(3, 6, small_root, root, [b64(p) for p in proof])


def test_leaf_bytes_are_canonical_and_match_the_history(client, maker, batch, issue, make_org):
    results = _journey(client, maker, batch, issue, make_org, hops=1)
    leaf = b64(client.get("/v1/log/entries", params={"start": 0, "end": 1}, headers=maker.headers).json()["entries"][0])
    document = json.loads(leaf)
    assert leaf == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert document["v"] == 1 and document["action"] == "ship" and document["occurred_at"].endswith("Z")
    serial = document["items"][0]["unit"].split("/")[1]
    history = client.get(f"/v1/units/{batch['gtin']}/{serial}/history", headers=maker.headers).json()["events"]
    assert [(e["event_id"], e["log_index"]) for e in history] == [(r["event_id"], r["log_index"]) for r in results]


def test_refused_events_leave_no_leaf(client, maker, batch, issue, make_org):
    _journey(client, maker, batch, issue, make_org, hops=1)
    code = issue(batch["id"], 1)[0]["uri"]
    stranger = make_org("distributor", "drug_wholesale")
    refused = client.post(
        "/v1/events", json={"action": "ship", "codes": [code], "to": maker.id}, headers=stranger.headers
    )
    assert refused.status_code == 409
    assert client.get("/v1/log/checkpoint").json()["tree_size"] == 2


def test_checkpoints_are_signed_notes_under_the_published_key(client, maker, batch, issue, make_org):
    _journey(client, maker, batch, issue, make_org, hops=1)
    key = client.get("/.well-known/passport-log-key").json()
    checkpoint = client.get("/v1/log/checkpoint").json()
    body = open_note(checkpoint["note"], key["name"], b64(key["public_key"]))
    signed = parse_checkpoint(body)
    assert (signed.size, signed.root) == (checkpoint["tree_size"], b64(checkpoint["root_hash"]))
    assert checkpoint["key_id"] == key["key_id"] and key["verifier_key"].startswith(key["name"] + "+")
    assert client.get("/v1/log/checkpoint").json()["id"] == checkpoint["id"]  # nothing new: the same one
    kept = client.get("/v1/log/checkpoints").json()["checkpoints"]
    assert [c["tree_size"] for c in kept] == [2]


def test_entries_need_a_key_and_bad_ranges_are_refused(client, maker, batch, issue, make_org):
    _journey(client, maker, batch, issue, make_org, hops=1)
    assert_problem(client.get("/v1/log/entries", params={"start": 0, "end": 1}), 401, "missing_api_key")
    assert_problem(
        client.get("/v1/log/entries", params={"start": 1, "end": 1}, headers=maker.headers), 422, "invalid_range"
    )
    assert_problem(
        client.get("/v1/log/proof/inclusion", params={"leaf_index": 5, "tree_size": 2}), 422, "invalid_leaf_index"
    )
    assert_problem(client.get("/v1/log/proof/consistency", params={"first": 1, "second": 99}), 422, "invalid_tree_size")


def test_auditor_names_an_edited_event(server, client, runtime, maker, batch, issue, make_org, capsys):
    results = _journey(client, maker, batch, issue, make_org)
    assert main(["log", "verify", "--url", server, "--api-key", maker.api_key]) == 0
    assert "log verified" in capsys.readouterr().out
    victim = results[3]
    with runtime.sessions.begin() as session:
        session.execute(update(Event).where(Event.id == victim["event_id"]).values(region="CN-65"))
    assert main(["log", "verify", "--url", server, "--api-key", maker.api_key]) == 1
    out = capsys.readouterr().out
    assert f"leaf {victim['log_index']} (event {victim['event_id']})" in out
    assert out.count("leaf ") == 1


def test_auditor_catches_a_fork(server, client, runtime, maker, batch, issue, make_org, capsys):
    _journey(client, maker, batch, issue, make_org)
    client.get("/v1/log/checkpoint")
    with runtime.sessions.begin() as session:
        key = session.query(LogKey).one()
        private = open_private_key(b64(MASTER_KEY), LOG_KEY_TAG, bytes(key.sealed_private_key))
        other_root = os.urandom(32)
        note = sign_note(checkpoint_body(key.name, 4, other_root), key.name, private)
        good = session.query(LogCheckpoint).one()
        session.add(
            LogCheckpoint(tree_size=4, root_hash=other_root, created_at=good.created_at, key_id=good.key_id, note=note)
        )
    assert main(["log", "verify", "--url", server, "--api-key", maker.api_key]) == 1
    out = capsys.readouterr().out
    assert "size 4): its root is not the root of the log's leaves" in out
    assert "not consistent" in out


def test_export_and_offline_verify(tmp_path, client, runtime, maker, batch, issue, make_org, monkeypatch, capsys):
    _journey(client, maker, batch, issue, make_org)
    client.get("/v1/log/checkpoint")
    monkeypatch.setenv("PASSPORT_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("PASSPORT_MASTER_KEY", MASTER_KEY)
    out = tmp_path / "log.json"
    assert main(["log", "export", "--out", str(out)]) == 0
    assert main(["log", "verify", "--export", str(out)]) == 0
    data = json.loads(out.read_text())
    leaf = json.loads(b64(data["entries"][2]["leaf"]))
    leaf["to"] = maker.id
    data["entries"][2]["leaf"] = base64.b64encode(json.dumps(leaf).encode()).decode()
    out.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["log", "verify", "--export", str(out)]) == 1
    assert "leaf 2 (event" in capsys.readouterr().out


def test_auditor_accepts_an_empty_log_and_its_growth(server, client, maker, batch, issue, make_org, capsys):
    assert client.get("/v1/log/checkpoint").json()["tree_size"] == 0
    assert main(["log", "verify", "--url", server, "--api-key", maker.api_key]) == 0
    _journey(client, maker, batch, issue, make_org, hops=1)
    assert main(["log", "verify", "--url", server, "--api-key", maker.api_key]) == 0
    assert "2 checkpoints" in capsys.readouterr().out
