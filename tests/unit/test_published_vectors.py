"""The published formats in passport_schema/: test vectors, signed-message document, verification schema.

The vectors are checked with PyNaCl (libsodium), an Ed25519 implementation independent of the ``cryptography``
package the service signs with, and against the RFC 8032 §7.1 values typed here from the RFC itself.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import nacl.exceptions
import nacl.signing
import pytest
from jsonschema import Draft202012Validator

from app.db.units import UnitRow
from app.domain.identifiers import (
    CSET82,
    GS,
    UnitCode,
    digital_link,
    parse_code,
    validate_ai_value,
    yymmdd_to_date,
)
from app.domain.signing import (
    Signer,
    decode_signature,
    jwk,
    kid,
    public_key_bytes,
    signed_message,
    verify_signature,
)
from app.domain.verdict import UnitFacts, Verdict, judge
from app.services.verification import Verification

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "passport_schema"
VECTORS = json.loads((SCHEMA_DIR / "test-vectors.json").read_text(encoding="utf-8"))
DOC = (SCHEMA_DIR / "signed-message.md").read_text(encoding="utf-8")
SCHEMA = json.loads((SCHEMA_DIR / "passport.schema.json").read_text(encoding="utf-8"))
BASE_URL = "https://passport.example"

# RFC 8032 §7.1 TEST 1-3, copied from the RFC: SECRET KEY -> (PUBLIC KEY, MESSAGE, SIGNATURE).
RFC8032 = {
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60": (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb": (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7": (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
}

vector_params = pytest.mark.parametrize("v", VECTORS["vectors"], ids=[v["name"] for v in VECTORS["vectors"]])


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_test_vectors", ROOT / "scripts" / "make_test_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------- the vectors


def test_vectors_cover_the_rfc_keys_and_percent_encoding() -> None:
    vectors = VECTORS["vectors"]
    assert len(vectors) >= 3
    assert VECTORS["base_url"] == BASE_URL
    assert VECTORS["group_separator_hex"] == "1d"
    assert {v["private_seed_hex"] for v in vectors} == set(RFC8032)
    assert len({v["name"] for v in vectors}) == len(vectors)
    assert any(quote(v["lot"], safe="") != v["lot"] for v in vectors), "no vector exercises a percent-encoded lot"


@pytest.mark.parametrize("seed_hex", sorted(RFC8032))
def test_seeds_are_the_rfc8032_keys(seed_hex: str) -> None:
    public_hex, message_hex, signature_hex = RFC8032[seed_hex]
    key = nacl.signing.SigningKey(bytes.fromhex(seed_hex))
    assert key.verify_key.encode().hex() == public_hex
    assert key.sign(bytes.fromhex(message_hex)).signature.hex() == signature_hex
    assert public_key_bytes(bytes.fromhex(seed_hex)).hex() == public_hex


@vector_params
def test_inputs_are_valid_gs1_values(v: dict[str, Any]) -> None:
    for ai, field in (("01", "gtin"), ("21", "serial"), ("10", "lot"), ("17", "expiry")):
        assert validate_ai_value(ai, v[field]) == v[field]
    assert 0 <= v["key_tag"] <= 0xFFFF


@vector_params
def test_message_is_the_gs1_element_string(v: dict[str, Any]) -> None:
    message = bytes.fromhex(v["message_hex"])
    expected = b"01" + v["gtin"].encode() + b"21" + v["serial"].encode() + b"\x1d10" + v["lot"].encode()
    expected += b"\x1d17" + v["expiry"].encode()
    assert message == expected
    assert message == signed_message(v["gtin"], v["serial"], v["lot"], v["expiry"])
    assert v["message_text"].encode("utf-8") == message
    assert message.count(GS.encode()) == 2


@vector_params
def test_public_key_matches_seed_and_rfc(v: dict[str, Any]) -> None:
    seed = bytes.fromhex(v["private_seed_hex"])
    assert v["public_key_hex"] == RFC8032[v["private_seed_hex"]][0]
    assert nacl.signing.SigningKey(seed).verify_key.encode().hex() == v["public_key_hex"]
    assert Signer(v["key_tag"], seed).public_bytes.hex() == v["public_key_hex"]


@vector_params
def test_signature_verifies_with_pynacl(v: dict[str, Any]) -> None:
    public = nacl.signing.VerifyKey(bytes.fromhex(v["public_key_hex"]))
    message, signature = bytes.fromhex(v["message_hex"]), bytes.fromhex(v["signature_hex"])
    assert public.verify(message, signature) == message
    # Deterministic: an independent implementation produces the very same bytes.
    assert nacl.signing.SigningKey(bytes.fromhex(v["private_seed_hex"])).sign(message).signature == signature
    with pytest.raises(nacl.exceptions.BadSignatureError):
        public.verify(message.replace(b"\x1d10", b"\x1d10X", 1), signature)


@vector_params
def test_our_signer_reproduces_the_ai8030_value(v: dict[str, Any]) -> None:
    signer = Signer(v["key_tag"], bytes.fromhex(v["private_seed_hex"]))
    assert signer.sign(v["gtin"], v["serial"], v["lot"], v["expiry"]) == v["ai8030"]


@vector_params
def test_ai8030_layout(v: dict[str, Any]) -> None:
    value = v["ai8030"]
    assert len(value) == 88
    assert re.fullmatch(r"[A-Za-z0-9_-]{88}", value)
    raw = _b64url_decode(value)
    assert len(raw) == 66
    assert int.from_bytes(raw[:2], "big") == v["key_tag"]
    assert raw[2:].hex() == v["signature_hex"]
    assert decode_signature(value) == (v["key_tag"], bytes.fromhex(v["signature_hex"]))


@vector_params
def test_jwk(v: dict[str, Any]) -> None:
    key = v["jwk"]
    assert key == jwk(v["key_tag"], bytes.fromhex(v["public_key_hex"]))
    assert key["kid"] == v["kid"] == kid(v["key_tag"]) == f"{v['key_tag']:04x}"
    assert re.fullmatch(r"[0-9a-f]{4}", key["kid"])
    assert (key["kty"], key["crv"], key["use"]) == ("OKP", "Ed25519", "sig")
    assert len(key["x"]) == 43 and "=" not in key["x"]
    assert _b64url_decode(key["x"]).hex() == v["public_key_hex"]


@vector_params
def test_uri_parses_back_to_the_inputs(v: dict[str, Any]) -> None:
    code = UnitCode(gtin=v["gtin"], serial=v["serial"], lot=v["lot"], expiry=v["expiry"], signature=v["ai8030"])
    assert parse_code(v["uri"]) == code
    assert digital_link(BASE_URL, code) == v["uri"]
    assert v["uri"] == (
        f"{BASE_URL}/01/{v['gtin']}/10/{quote(v['lot'], safe='')}/21/{quote(v['serial'], safe='')}"
        f"?17={v['expiry']}&8030={v['ai8030']}"
    )


@vector_params
def test_service_verification_accepts_vector(v: dict[str, Any]) -> None:
    keys = {v["key_tag"]: bytes.fromhex(v["public_key_hex"])}
    args = (v["gtin"], v["serial"], v["lot"], v["expiry"], v["ai8030"])
    assert verify_signature(keys, *args) is None
    assert verify_signature(keys, v["gtin"], v["serial"], v["lot"] + "X", v["expiry"], v["ai8030"]) == (
        "signature_mismatch"
    )
    assert verify_signature({v["key_tag"] ^ 1: keys[v["key_tag"]]}, *args) == "unknown_signing_key"


# --------------------------------------------------------------------------------------------- the document


def test_published_files_are_what_the_generator_produces() -> None:
    generator = _load_generator()
    data = generator.build_vectors()
    assert (SCHEMA_DIR / "test-vectors.json").read_text(encoding="utf-8") == generator.vectors_json(data)
    assert generator.splice_doc(DOC, generator.render_markdown(data)) == DOC, (
        "signed-message.md is stale: run scripts/make_test_vectors.py --update-doc"
    )


_BOUND = r"(?<![A-Za-z0-9_-]){}(?![A-Za-z0-9_-])"
_DOC_TOKENS = {
    "hex": re.compile(_BOUND.format(r"[0-9a-fA-F]{64,}")),
    "ai8030": re.compile(_BOUND.format(r"[A-Za-z0-9_-]{88}")),
    "x": re.compile(_BOUND.format(r"[A-Za-z0-9_-]{43}")),
    "uri": re.compile(r"https://passport\.example/[^\s`\"'<>)\]]+"),
}


def _vector_values(kind: str) -> set[str]:
    fields = {
        "hex": ("private_seed_hex", "public_key_hex", "message_hex", "signature_hex"),
        "ai8030": ("ai8030",),
        "uri": ("uri",),
    }
    if kind == "x":
        return {v["jwk"]["x"] for v in VECTORS["vectors"]}
    return {v[field] for v in VECTORS["vectors"] for field in fields[kind]}


@pytest.mark.parametrize("kind", sorted(_DOC_TOKENS))
def test_doc_and_json_carry_the_same_values(kind: str) -> None:
    in_doc = set(_DOC_TOKENS[kind].findall(DOC))
    in_json = _vector_values(kind)
    assert in_doc - in_json == set(), f"{kind} values in signed-message.md that test-vectors.json lacks"
    assert in_json - in_doc == set(), f"{kind} values of test-vectors.json missing from signed-message.md"


@vector_params
def test_doc_shows_each_vector_block(v: dict[str, Any]) -> None:
    block = re.search(rf"### {re.escape(v['name'])}\n(.*?)\n```\n", DOC, re.S)
    assert block is not None
    text = block.group(1)
    lines = dict(re.findall(r"^(\S.*?)\s{2,}(\S+)$", text, re.M))
    assert lines["seed (private, 32 bytes)"] == v["private_seed_hex"]
    assert lines["public key (32 bytes)"] == v["public_key_hex"]
    assert lines["JWK x"] == v["jwk"]["x"]
    assert lines["message text"] == v["message_text"].replace(GS, "<GS>")
    assert lines[f"message ({len(v['message_hex']) // 2} bytes)"] == v["message_hex"]
    assert lines["signature (64 bytes)"] == v["signature_hex"]
    assert lines["AI 8030 (88 chars)"] == v["ai8030"]
    assert lines["URI"] == v["uri"]
    row = f"| {v['name']} | RFC 8032 {v['seed_source'].rsplit(', ', 1)[1]} | `{v['gtin']}` | `{v['serial']}` |"
    assert row in DOC
    assert f"| `{v['lot']}` | `{v['expiry']}` | {v['key_tag']} (0x{v['kid']}) | `{v['kid']}` |" in DOC


def test_doc_example_checker_works_on_the_vectors() -> None:
    snippet = re.search(r"```python\n(.*?)```", DOC, re.S)
    assert snippet is not None
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), "signed-message.md", "exec"), namespace)
    check = namespace["check"]
    jwks = {"keys": [v["jwk"] for v in VECTORS["vectors"]]}
    for v in VECTORS["vectors"]:
        assert check(v["uri"], jwks) is True, v["name"]
        tampered = v["uri"].replace(f"?17={v['expiry']}", "?17=991231")
        assert tampered != v["uri"]
        assert check(tampered, jwks) is False, v["name"]


# --------------------------------------------------------------------------------------------- the schema


def _validator() -> Draft202012Validator:
    return Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == "urn:passport:schema:passport:1"
    assert SCHEMA["additionalProperties"] is False


def test_schema_lot_pattern_is_the_gs1_82_character_set() -> None:
    lot = next(branch for branch in SCHEMA["properties"]["lot"]["oneOf"] if branch["type"] == "string")
    pattern = re.compile(lot["pattern"])
    allowed = {chr(c) for c in range(32, 127) if pattern.fullmatch(chr(c))}
    assert allowed == set(CSET82)


V1 = VECTORS["vectors"][0]
V3 = VECTORS["vectors"][2]
KEYS = {v["key_tag"]: bytes.fromhex(v["public_key_hex"]) for v in VECTORS["vectors"]}
TODAY = date(2026, 1, 15)


# id, container, holder, addressee, issued at, manufacturer's region, open alerts (repeat sale, clone), recalls
_ROW_TAIL = (1, None, None, None, datetime(2026, 1, 2, tzinfo=UTC), "CN-31", False, False, False, True)  # last: signed


def _row(v: dict[str, Any], state: str = "in_supply_chain") -> UnitRow:
    return UnitRow(
        v["lot"],
        yymmdd_to_date(v["expiry"]),
        state,
        "Amoxicillin 500 mg capsules",
        "drug_rx",
        "Example Pharma Ltd",
        *_ROW_TAIL,
    )


def _judged(scan: UnitCode, row: UnitRow | None, today: date = TODAY) -> Verification:
    facts = UnitFacts(row.lot, row.expires_on, row.state) if row else None
    verdict = judge(scan, facts, KEYS, today)
    shown = row if verdict.kind not in ("invalid_signature", "unknown") else None
    return Verification(scan, verdict, shown, row.state if shown else None)


def _scan(v: dict[str, Any]) -> UnitCode:
    code = parse_code(v["uri"])
    assert isinstance(code, UnitCode)
    return code


def _samples() -> dict[str, dict[str, Any]]:
    scan1 = _scan(V1)
    authentic_row = UnitRow(
        "LOT42", date(2028, 12, 31), "in_supply_chain", "Amoxicillin 500 mg", "drug_rx", "Acme", *_ROW_TAIL
    )
    unsigned = UnitCode(gtin=scan1.gtin, serial=scan1.serial)
    return {
        "authentic_direct": Verification(
            scan1, Verdict("authentic", "valid"), authentic_row, authentic_row.state
        ).as_json(),
        "unknown_direct": Verification(
            UnitCode(gtin="09506000134352", serial="NOSUCHCODE"),
            Verdict("unknown", "absent", ("unknown_code",)),
            None,
        ).as_json(),
        "authentic_judged": _judged(scan1, _row(V1)).as_json(),
        "authentic_percent_encoded_lot": _judged(_scan(V3), _row(V3, "sold")).as_json(),
        "unknown_judged_signed": _judged(scan1, None).as_json(),
        "unsigned_authentic": _judged(unsigned, _row(V1, "dispensed")).as_json(),
        "invalid_signature": _judged(parse_code(V1["uri"].replace("17=281231", "17=291231")), _row(V1)).as_json(),
        "suspect_stolen": _judged(scan1, _row(V1, "stolen")).as_json(),
        "expired": _judged(_scan(V3), _row(V3), date(2026, 11, 1)).as_json(),
    }


SAMPLE_VERDICTS = {
    "authentic_direct": "authentic",
    "unknown_direct": "unknown",
    "authentic_judged": "authentic",
    "authentic_percent_encoded_lot": "authentic",
    "unknown_judged_signed": "unknown",
    "unsigned_authentic": "authentic",
    "invalid_signature": "invalid_signature",
    "suspect_stolen": "suspect",
    "expired": "expired",
}


@pytest.mark.parametrize("name", sorted(SAMPLE_VERDICTS))
def test_schema_accepts_verification_outputs(name: str) -> None:
    document = _samples()[name]
    assert document["verdict"] == SAMPLE_VERDICTS[name]
    # The answer is what goes over the wire: it must survive a JSON round trip unchanged.
    assert json.loads(json.dumps(document)) == document
    errors = [e.message for e in _validator().iter_errors(document)]
    assert errors == []


def test_schema_accepts_a_full_answer_with_recall_and_journey() -> None:
    document = _samples()["authentic_judged"]
    document |= {
        "verdict": "recalled",
        "reasons": ["recalled"],
        "recall": {
            "id": 17,
            "class": "II",
            "reason": "Mislabelled strength",
            "issued_at": "2026-01-10T08:00:00Z",
        },
        "journey": [
            {"step": "commissioned", "at": "2025-11-02T09:30:00Z", "region": "CN-31"},
            {"step": "shipped", "at": "2025-11-03T14:05:12.250000+00:00", "region": None},
        ],
    }
    assert list(_validator().iter_errors(document)) == []


def _bad_documents() -> dict[str, dict[str, Any]]:
    good = _samples()["authentic_judged"]
    unknown = _samples()["unknown_direct"]

    def changed(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
        document = copy.deepcopy(base)
        document.update(fields)
        return document

    missing = copy.deepcopy(good)
    del missing["journey"]
    return {
        "extra top-level key": changed(good, distributor="Example Wholesale"),
        "bad verdict": changed(good, verdict="genuine"),
        "bad signature value": changed(good, signature="ok"),
        "bad state": changed(good, state="lost"),
        "missing key": missing,
        "short gtin": changed(good, product={**good["product"], "gtin": "9506000134352"}),
        "bad category": changed(good, product={**good["product"], "category": "toy"}),
        "extra product key": changed(good, product={**good["product"], "price": "9.99"}),
        "lot too long": changed(good, lot="L" * 21),
        "lot with a space": changed(good, lot="LOT 42"),
        "expiry not a date": changed(good, expires_on="281231"),
        "bad recall class": changed(good, recall={"id": 1, "class": "IV", "reason": "x"}),
        "recall without reason": changed(good, recall={"id": 1, "class": "I"}),
        "journey with commercial detail": changed(
            good, journey=[{"step": "shipped", "at": "2025-11-03T14:05:12Z", "region": "CN-31", "to": "Acme"}]
        ),
        "journey without region": changed(good, journey=[{"step": "shipped", "at": "2025-11-03T14:05:12Z"}]),
        "reasons not strings": changed(good, reasons=[1]),
        "unknown showing the record": changed(unknown, product=good["product"]),
        "invalid_signature with a valid signature": changed(unknown, verdict="invalid_signature", signature="valid"),
        "authentic with reasons": changed(good, reasons=["lot_mismatch"]),
        "suspect without reasons": changed(good, verdict="suspect"),
    }


@pytest.mark.parametrize("name", sorted(_bad_documents()))
def test_schema_rejects(name: str) -> None:
    assert not _validator().is_valid(_bad_documents()[name])
