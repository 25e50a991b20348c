"""The published leaf format: passport_schema/event-leaf.md and event-leaf.schema.json against app.domain.leaf.

The worked example is parsed out of the document (between its marker comments) and compared byte for byte with
what the service's own code produces for the same events; the document's checker is run on it; the schema is
checked against leaf documents of hand-built events; and the canonical form is checked against an independent
encoder written from the document's rules.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from app.domain import merkle
from app.domain.checkpoint import checkpoint_body, open_note, parse_checkpoint, sign_note
from app.domain.custody import Action, Status
from app.domain.identifiers import CSET82, validate_gtin, validate_sscc
from app.domain.leaf import LEAF_VERSION, LeafEvent, LeafItem, leaf_bytes, leaf_document, rfc3339
from app.domain.signing import public_key_bytes
from app.services import log
from tests.strategies import AWARE, LEAF_EVENTS

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "passport_schema"
DOC = (SCHEMA_DIR / "event-leaf.md").read_text(encoding="utf-8")
SCHEMA = json.loads((SCHEMA_DIR / "event-leaf.schema.json").read_text(encoding="utf-8"))

# ------------------------------------------------------------------------------------------- the worked example
# These values are the source of the example in event-leaf.md (the document's example was generated from them).

MAKER = "3f2a6c1e9b7d4e5f8a0b1c2d3e4f5a6b"
DISTRIBUTOR = "d41f0e6a2b8c4597a3e1c6b0f92d7e58"
PHARMACY = "8c4d2e1f0a9b4c3d8e7f6a5b4c3d2e1f"
PLATFORM = "b7e6d5c4b3a24f1e9d8c7b6a5f4e3d2c"
GTIN = "09506000134352"
SERIAL = "7Q2K9M4XW8RT"
UNIT = f"{GTIN}/{SERIAL}"
PALLET = "395060001343520018"
CASE = "395060001343520025"
BASE_URL = "https://passport.example"
LOG_NAME = log.log_origin(BASE_URL)  # the key name is the checkpoint origin
LOG_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")  # RFC 8032 TEST 1
CST = timezone(timedelta(hours=8))


def custody(status: str, holder: str | None, to: str | None = None, previous: str | None = None) -> dict[str, Any]:
    return {"status": status, "holder": holder, "to": to, "previous": previous}


def event(**fields: Any) -> LeafEvent:
    values: dict[str, Any] = {
        "region": None,
        "to": None,
        "container": None,
        "channel": None,
        "platform": None,
        "order_ref": None,
        "prescription": None,
        "undoes": None,
    }
    values.update(fields)
    return LeafEvent(**values)


# Leaf 0: the pharmacy receives a pallet the manufacturer shipped to it.
RECEIVE = event(
    event_id=41,
    org=PHARMACY,
    action="receive",
    occurred_at=datetime(2025, 3, 12, 8, 15, 2, 250000, tzinfo=UTC),
    recorded_at=datetime(2025, 3, 12, 8, 15, 3, 104211, tzinfo=UTC),
    region="CN-31",
    items=[LeafItem(None, PALLET, custody("in_transit", MAKER, to=PHARMACY), custody("held", PHARMACY))],
)
# Leaf 1: it sells one unit from that pallet online. The times are given in UTC+8 and with zero microseconds on
# purpose: the leaf shows them in UTC with six fractional digits. The order reference is not ASCII.
SALE = event(
    event_id=42,
    org=PHARMACY,
    action="sell",
    occurred_at=datetime(2025, 3, 14, 17, 26, 53, 589793, tzinfo=CST),
    recorded_at=datetime(2025, 3, 14, 17, 27, 0, tzinfo=CST),
    region="CN-31",
    channel="online",
    platform=PLATFORM,
    order_ref="订单-20250314-0042",
    items=[LeafItem(UNIT, None, custody("held", PHARMACY), custody("sold", PHARMACY))],
)
EXAMPLE = [RECEIVE, SALE]

# More hand-built events, each shaped as app.services.custody records them.
SHIP_PALLET = event(
    event_id=7,
    org=MAKER,
    action="ship",
    occurred_at=datetime(2025, 3, 10, 6, 0, tzinfo=UTC),
    recorded_at=datetime(2025, 3, 10, 6, 0, 1, 5, tzinfo=UTC),
    region="CN-32",
    to=DISTRIBUTOR,
    items=[LeafItem(None, PALLET, custody("held", MAKER), custody("in_transit", MAKER, to=DISTRIBUTOR))],
)
PACK = event(
    event_id=5,
    org=MAKER,
    action="pack",
    occurred_at=datetime(2025, 3, 9, 23, 59, 59, 999999, tzinfo=UTC),
    recorded_at=datetime(2025, 3, 10, 0, 0, tzinfo=UTC),
    container=PALLET,
    items=[
        LeafItem(UNIT, None, custody("issued", MAKER), custody("issued", MAKER)),
        LeafItem(None, CASE, custody("held", MAKER), custody("held", MAKER)),
    ],
)
UNDO_SALE = event(
    event_id=43,
    org=PHARMACY,
    action="undo",
    occurred_at=datetime(2025, 3, 14, 9, 40, tzinfo=UTC),
    recorded_at=datetime(2025, 3, 14, 9, 40, 0, 120, tzinfo=UTC),
    region="CN-31",
    undoes=42,
    items=[LeafItem(UNIT, None, custody("sold", PHARMACY), custody("held", PHARMACY))],
)
LOCK = event(
    event_id=50,
    org=DISTRIBUTOR,
    action="lock",
    occurred_at=datetime(2025, 3, 11, 10, 0, tzinfo=UTC),
    recorded_at=datetime(2025, 3, 11, 10, 0, tzinfo=UTC),
    items=[LeafItem(None, PALLET, custody("held", DISTRIBUTOR), custody("locked", DISTRIBUTOR, previous="held"))],
)
DISPENSE = event(
    event_id=60,
    org=PHARMACY,
    action="dispense",
    occurred_at=datetime(2025, 3, 15, 2, 3, 4, 5, tzinfo=UTC),
    recorded_at=datetime(2025, 3, 15, 2, 3, 5, tzinfo=UTC),
    region="CN-31",
    channel="offline",
    prescription="RX-2025-000173",
    items=[LeafItem("09506000134352/SN/42+%", None, custody("held", PHARMACY), custody("dispensed", PHARMACY))],
)
VALID_EVENTS = [RECEIVE, SALE, SHIP_PALLET, PACK, UNDO_SALE, LOCK, DISPENSE]


def example_values() -> dict[str, Any]:
    """Everything the worked example shows, computed with the service's own code."""
    leaves = [leaf_bytes(e) for e in EXAMPLE]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    root = merkle.root_of(hashes)
    public = public_key_bytes(LOG_SEED)
    note = sign_note(checkpoint_body(LOG_NAME, len(leaves), root), LOG_NAME, LOG_SEED)
    return {
        "leaves": leaves,
        "hashes": hashes,
        "root": root,
        "public_key": public,
        "key": log.log_key_view(SimpleNamespace(name=LOG_NAME, public_key=public)),  # type: ignore[arg-type]
        "note": note,
    }


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _section(name: str) -> str:
    found = re.search(rf"<!-- BEGIN {name} -->\n(.*?)<!-- END {name} -->", DOC, re.S)
    assert found is not None, f"event-leaf.md has no {name} section"
    return found.group(1)


def _labelled(section: str, label: str) -> str:
    found = re.findall(rf"^{re.escape(label)} +(\S+)$", section, re.M)
    assert len(found) == 1, f"label {label!r} appears {len(found)} times"
    return found[0]


EXAMPLE_DOC = _section("EXAMPLE")


def test_example_leaf_bytes_are_the_service_bytes() -> None:
    values = example_values()
    shown = re.findall(r"```json\n(.*?)\n```", EXAMPLE_DOC, re.S)
    assert len(shown) == len(EXAMPLE)
    for index, (text, leaf) in enumerate(zip(shown, values["leaves"], strict=True)):
        assert text.encode("utf-8") == leaf, f"leaf {index}"
        assert leaf == leaf_bytes(EXAMPLE[index])
        assert _labelled(EXAMPLE_DOC, f"leaf {index} length") == str(len(leaf))
        expected = hashlib.sha256(b"\x00" + leaf).digest()
        assert bytes.fromhex(_labelled(EXAMPLE_DOC, f"leaf {index} hash (hex)")) == expected
        assert _labelled(EXAMPLE_DOC, f"leaf {index} hash (base64)") == b64(expected)
        assert base64.b64decode(_labelled(EXAMPLE_DOC, f"leaf {index} entry (base64)"), validate=True) == leaf
    # The example shows what it claims to show.
    sale = values["leaves"][1]
    assert "订单".encode() in sale and b"\\u" not in sale
    assert b'"occurred_at":"2025-03-14T09:26:53.589793Z"' in sale
    assert b'"recorded_at":"2025-03-14T09:27:00.000000Z"' in sale


def test_example_tree_proofs_and_checkpoint() -> None:
    values = example_values()
    h0, h1 = (hashlib.sha256(b"\x00" + leaf).digest() for leaf in values["leaves"])
    root = hashlib.sha256(b"\x01" + h0 + h1).digest()
    assert root == values["root"]
    assert bytes.fromhex(_labelled(EXAMPLE_DOC, "root hash (hex)")) == root
    assert _labelled(EXAMPLE_DOC, "root hash (base64)") == b64(root)
    assert _labelled(EXAMPLE_DOC, "audit_path of leaf 0") == json.dumps([b64(h1)])
    assert _labelled(EXAMPLE_DOC, "audit_path of leaf 1") == json.dumps([b64(h0)])
    merkle.verify_inclusion(h0, 0, 2, [h1], root)
    merkle.verify_inclusion(h1, 1, 2, [h0], root)

    key = values["key"]
    public = values["public_key"]
    assert _labelled(EXAMPLE_DOC, "private seed (hex)") == LOG_SEED.hex()
    assert _labelled(EXAMPLE_DOC, "name") == LOG_NAME == key["name"]
    assert _labelled(EXAMPLE_DOC, "public_key") == key["public_key"] == b64(public)
    key_id = hashlib.sha256(LOG_NAME.encode() + b"\x0a\x01" + public).digest()[:4]
    assert _labelled(EXAMPLE_DOC, "key_id") == key["key_id"] == key_id.hex()
    assert _labelled(EXAMPLE_DOC, "verifier_key") == key["verifier_key"]

    note = re.search(r"```text\n(" + re.escape(LOG_NAME) + r"\n.*?)```", EXAMPLE_DOC, re.S)
    assert note is not None
    assert note.group(1) == values["note"]
    body = open_note(note.group(1), LOG_NAME, public)
    assert parse_checkpoint(body).size == 2 and parse_checkpoint(body).root == root
    signature_line = note.group(1).rstrip("\n").split("\n")[-1]
    assert signature_line.startswith(f"\u2014 {LOG_NAME} ")
    assert base64.b64decode(signature_line.split(" ")[-1])[:4] == key_id


# ------------------------------------------------------------------------------------------- the document's checker


def _checker() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(_section("CHECKER").split("```python\n", 1)[1].split("```", 1)[0], "event-leaf.md", "exec"), namespace)
    return namespace


def _history_event(e: LeafEvent, log_index: int, via: str | None = None) -> dict[str, Any]:
    """One event of GET /v1/units/{gtin}/{serial}/history as app.services.units.unit_history writes it."""
    return {
        "event_id": e.event_id,
        "action": e.action,
        "occurred_at": e.occurred_at.astimezone(UTC).isoformat(),
        "recorded_at": e.recorded_at.astimezone(UTC).isoformat(),
        "org": {"id": e.org, "name": "Pharmacy"},
        "to": {"id": e.to, "name": None} if e.to else None,
        "region": e.region,
        "channel": e.channel,
        "platform": {"id": e.platform, "name": "Platform"} if e.platform else None,
        "order_ref": e.order_ref,
        "via_container": via,
        "undoes_event_id": e.undoes,
        "undone_by_event_id": None,
        "log_index": log_index,
    }


def _answers(index: int) -> dict[str, Any]:
    """The answers of the log endpoints for the example log, as app.services.log builds them."""
    values = example_values()
    checkpoint = SimpleNamespace(
        id=1,
        tree_size=2,
        root_hash=values["root"],
        created_at=datetime(2025, 3, 14, 9, 28, tzinfo=UTC),
        key_id=values["key"]["key_id"],
        note=values["note"],
    )
    return {
        "entries": {
            "start": index,
            "end": index + 1,
            "entries": [b64(values["leaves"][index])],
            "leaf_hashes": [b64(values["hashes"][index])],
        },
        "proof": {"leaf_index": index, "tree_size": 2, "audit_path": [b64(values["hashes"][1 - index])]},
        "checkpoint": log.checkpoint_view(checkpoint),  # type: ignore[arg-type]
        "log_key": values["key"],
    }


def test_doc_checker_accepts_the_example() -> None:
    check_event = _checker()["check_event"]
    sale = check_event(UNIT, _history_event(SALE, 1), **_answers(1))
    assert sale == leaf_document(SALE)
    # The pallet's receipt shows in the unit's history through the pallet.
    assert check_event(UNIT, _history_event(RECEIVE, 0, via=PALLET), **_answers(0)) == leaf_document(RECEIVE)


def test_doc_checker_refuses_what_does_not_hold() -> None:
    check_event = _checker()["check_event"]
    history = _history_event(SALE, 1)

    altered = _answers(1)  # the event row was edited after it was logged: the rebuilt leaf no longer matches
    document = leaf_document(SALE)
    document["order_ref"] = "订单-20250314-0043"
    rebuilt = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    altered["entries"]["entries"] = [b64(rebuilt)]
    with pytest.raises(ValueError, match="changed since"):
        check_event(UNIT, history, **altered)

    with pytest.raises(ValueError, match="order_ref"):
        check_event(UNIT, {**history, "order_ref": "something else"}, **_answers(1))
    with pytest.raises(ValueError, match="occurred_at"):
        check_event(UNIT, {**history, "occurred_at": "2025-03-14T09:26:53+00:00"}, **_answers(1))
    with pytest.raises(ValueError, match="does not name"):
        check_event(f"{GTIN}/OTHER", history, **_answers(1))

    wrong_path = _answers(1)
    wrong_path["proof"]["audit_path"] = [b64(bytes(32))]
    with pytest.raises(ValueError, match="root"):
        check_event(UNIT, history, **wrong_path)

    other_key = _answers(1)
    other_key["log_key"] = log.log_key_view(
        SimpleNamespace(name=LOG_NAME, public_key=public_key_bytes(bytes(range(32))))  # type: ignore[arg-type]
    )
    with pytest.raises(ValueError, match="not signed"):
        check_event(UNIT, history, **other_key)

    forged = _answers(1)  # right key id, wrong signature bytes
    line = forged["checkpoint"]["note"].rstrip("\n").split("\n")[-1]
    raw = bytearray(base64.b64decode(line.split(" ")[-1]))
    raw[-1] ^= 1
    forged["checkpoint"]["note"] = forged["checkpoint"]["note"].replace(line.split(" ")[-1], b64(bytes(raw)))
    with pytest.raises(InvalidSignature):
        check_event(UNIT, history, **forged)

    not_canonical = _answers(1)
    spaced = json.dumps(leaf_document(SALE), sort_keys=True, ensure_ascii=False).encode()
    not_canonical["entries"]["entries"] = [b64(spaced)]
    not_canonical["entries"]["leaf_hashes"] = [b64(merkle.leaf_hash(spaced))]
    with pytest.raises(ValueError, match="canonical"):
        check_event(UNIT, history, **not_canonical)


@given(st.integers(min_value=1, max_value=40), st.data())
def test_doc_checker_inclusion_agrees_with_the_service(size: int, data: st.DataObject) -> None:
    root_from_path = _checker()["root_from_path"]
    leaves = [f"leaf {i}".encode() for i in range(size)]
    nodes: dict[tuple[int, int], bytes] = {}
    for i, leaf in enumerate(leaves):
        nodes.update(merkle.completed_nodes(i, merkle.leaf_hash(leaf), nodes))
    root = merkle.root_of([merkle.leaf_hash(leaf) for leaf in leaves])
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    path = merkle.inclusion_proof(index, size, nodes)
    assert root_from_path(leaves[index], index, size, path) == root
    if path:
        with pytest.raises(ValueError):
            root_from_path(leaves[index], index, size, [*path, path[0]])
        with pytest.raises(ValueError):
            root_from_path(leaves[index], index, size, path[:-1])


# ------------------------------------------------------------------------------------------- the schema


def _validator() -> Draft202012Validator:
    return Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_schema_is_valid_and_names_the_domain_values() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["action"]["enum"] == [a.value for a in Action]
    assert SCHEMA["$defs"]["status"]["enum"] == [s.value for s in Status]
    assert SCHEMA["properties"]["v"]["const"] == LEAF_VERSION
    assert SCHEMA["required"] == list(leaf_document(SALE))
    assert SCHEMA["$defs"]["item"]["required"] == list(leaf_document(SALE)["items"][0])
    assert SCHEMA["$defs"]["custody"]["required"] == list(SALE.items[0].before)
    serial_class = re.compile(SCHEMA["$defs"]["unit"]["pattern"])
    assert {chr(c) for c in range(0x250) if serial_class.fullmatch(f"{GTIN}/{chr(c)}")} == CSET82
    validate_gtin(GTIN)
    validate_sscc(PALLET)
    validate_sscc(CASE)


@pytest.mark.parametrize("e", VALID_EVENTS, ids=[f"{e.action}-{e.event_id}" for e in VALID_EVENTS])
def test_schema_accepts_leaf_documents(e: LeafEvent) -> None:
    document = leaf_document(e)
    _validator().validate(document)
    _validator().validate(json.loads(leaf_bytes(e)))


def _broken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(leaf_document(SALE))
    change(document)
    return document


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(document: dict[str, Any]) -> None:
        target: Any = document
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


BROKEN = {
    "extra key": _set(("note",), "hello"),
    "extra item key": _set(("items", 0, "serial"), SERIAL),
    "extra custody key": _set(("items", 0, "after", "since"), "2025-03-14T09:26:53.589793Z"),
    "naive time": _set(("occurred_at",), "2025-03-14T09:26:53.589793"),
    "offset time": _set(("occurred_at",), "2025-03-14T09:26:53.589793+00:00"),
    "no microseconds": _set(("recorded_at",), "2025-03-14T09:27:00Z"),
    "milliseconds": _set(("recorded_at",), "2025-03-14T09:27:00.000Z"),
    "wrong action": _set(("action",), "sale"),
    "wrong status": _set(("items", 0, "after", "status"), "in_supply_chain"),
    "wrong version": _set(("v",), 2),
    "string event id": _set(("event_id",), "42"),
    "missing key": lambda d: d.pop("prescription"),
    "unit and container": _set(("items", 0, "container"), PALLET),
    "neither unit nor container": _set(("items", 0, "unit"), None),
    "no items": _set(("items",), []),
    "sell without channel": _set(("channel",), None),
    "undoes on a sale": _set(("undoes",), 41),
    "container on a sale": _set(("container",), PALLET),
    "to outside transit": _set(("items", 0, "after", "to"), DISTRIBUTOR),
    "previous outside lock": _set(("items", 0, "after", "previous"), "held"),
    "unit without serial": _set(("items", 0, "unit"), GTIN),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_schema_rejects(name: str) -> None:
    assert not _validator().is_valid(_broken(BROKEN[name]))


def test_schema_rejects_an_undo_without_its_target_and_a_pack_without_its_container() -> None:
    assert not _validator().is_valid(leaf_document(replace(UNDO_SALE, undoes=None)))
    assert not _validator().is_valid(leaf_document(replace(PACK, container=None)))
    assert not _validator().is_valid(leaf_document(replace(DISPENSE, channel="online")))
    assert not _validator().is_valid(leaf_document(replace(SHIP_PALLET, channel="offline")))


# ------------------------------------------------------------------------------------------- the canonical form


def _escape(text: str) -> str:
    """String escaping as event-leaf.md states it, written independently of the json module."""
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for char in text:
        if char in short:
            out.append(short[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _encode(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        raise AssertionError("a leaf has no booleans")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, list):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_escape(k)}:{_encode(value[k])}" for k in sorted(value)) + "}"
    raise AssertionError(f"unexpected {type(value).__name__} in a leaf")


def _sorted_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert keys == sorted(keys), keys
    return dict(pairs)


@given(LEAF_EVENTS)
def test_leaf_bytes_are_the_documented_canonical_form(e: LeafEvent) -> None:
    leaf = leaf_bytes(e)
    document = leaf_document(e)
    assert leaf == leaf_bytes(e)
    assert leaf == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert leaf == _encode(document).encode("utf-8")
    assert json.loads(leaf, object_pairs_hook=_sorted_pairs) == document
    assert set(document) == set(SCHEMA["required"])  # every key always present
    # The same event with its times in UTC and its custody keys in another order has the same bytes.
    same = replace(
        e,
        occurred_at=e.occurred_at.astimezone(UTC),
        recorded_at=e.recorded_at.astimezone(UTC),
        items=[
            replace(i, before=dict(reversed(i.before.items())), after=dict(reversed(i.after.items()))) for i in e.items
        ],
    )
    assert leaf_bytes(same) == leaf


@given(LEAF_EVENTS)
def test_item_order_is_kept(e: LeafEvent) -> None:
    items = json.loads(leaf_bytes(e))["items"]
    assert items == [{"unit": i.unit, "container": i.container, "before": i.before, "after": i.after} for i in e.items]
    if len(e.items) > 1:
        turned = json.loads(leaf_bytes(replace(e, items=list(reversed(e.items)))))["items"]
        assert turned == list(reversed(items))


def test_escaping_is_as_documented() -> None:
    e = replace(SALE, order_ref='a"b\\c/d\x00\x1f\x7f\n\té\u2028😀')
    leaf = leaf_bytes(e)
    assert b'"order_ref":"a\\"b\\\\c/d\\u0000\\u001f\x7f\\n\\t' + "é\u2028😀".encode() + b'"' in leaf


TIME = re.compile(SCHEMA["$defs"]["time"]["pattern"])


@given(AWARE)
def test_rfc3339_is_utc_with_microseconds(value: datetime) -> None:
    text = rfc3339(value)
    assert len(text) == 27 and text.endswith("Z")
    assert TIME.fullmatch(text)
    assert datetime.fromisoformat(text) == value
    assert text == value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@given(st.datetimes())
def test_rfc3339_refuses_naive_times(value: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rfc3339(value)


def test_rfc3339_pads_years_before_1000() -> None:
    assert rfc3339(datetime(999, 12, 31, tzinfo=UTC)) == "0999-12-31T00:00:00.000000Z"
