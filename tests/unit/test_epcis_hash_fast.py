"""The hash adapter's shortcuts (:mod:`app.services.epcis.hash_expansion`, the remembered value canonicalisation,
the ISO timestamp reader, no deep copy) against GS1's reference library run as it ships: the same set of
vocabulary IRIs as the whole-document JSON-LD expansion, the same pre-hash string for every event, byte for byte,
over every GS1 example document and over generated documents."""

from __future__ import annotations

import copy
import json
import logging
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import dateutil.parser
import pytest
from epcis_event_hash_generator import hash_generator, json_to_py
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyld import jsonld

from app.domain.epcis import EPCIS_CONTEXT_URLS
from app.domain.errors import InvalidInput
from app.services.epcis import hash as adapter
from app.services.epcis import hash_direct, hash_expansion
from tests.epcis_examples import capture_document, example_files

EPCIS = EPCIS_CONTEXT_URLS[0]
NS = "http://ns.example.com/epcis/"


def _prepared(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the adapter hands it to the library (standard context first, plain prefixes, ms times)."""
    return adapter._milliseconds(adapter._hashable(copy.deepcopy(document)))


def _reference_pre_hashes(document: dict[str, Any]) -> list[str]:
    """The library as it ships, on the prepared document: whole-document expansion, deep copy, its own value and
    timestamp canonicalisation."""
    doc = _prepared(document)
    json_to_py._namespaces = {}
    previous = jsonld.get_document_loader()
    jsonld.set_document_loader(adapter._offline_loader)
    try:
        assert hash_generator._canonize_value is adapter._reference_canonize_value
        assert hash_generator._fix_time_stamp_format is adapter._reference_fix_time_stamp_format
        return list(hash_generator.derive_prehashes_from_events(json_to_py.event_list_from_epcis_document_json(doc)))
    finally:
        jsonld.set_document_loader(previous)


def _reference_vocabulary(document: dict[str, Any]) -> set[str]:
    previous = jsonld.get_document_loader()
    jsonld.set_document_loader(adapter._offline_loader)
    try:
        values: list[str] = []
        json_to_py._find_expanded_values(jsonld.expand(_prepared(document)), values)
    finally:
        jsonld.set_document_loader(previous)
    return {v for v in values if v.startswith(hash_expansion.VOCABULARIES)}


def _ours_vocabulary(document: dict[str, Any]) -> set[str] | None:
    previous = jsonld.get_document_loader()
    jsonld.set_document_loader(adapter._offline_loader)
    try:
        return hash_expansion.vocabulary_iris(
            _prepared(document), EPCIS, adapter._standard_context(), adapter._expansion_rules()
        )
    finally:
        jsonld.set_document_loader(previous)


def _assert_same(document: dict[str, Any], *, shortcut: bool = True) -> None:
    ours = adapter.pre_hash_strings(copy.deepcopy(document))
    assert ours == _reference_pre_hashes(document)
    vocabulary = _ours_vocabulary(document)
    if shortcut:
        assert vocabulary == _reference_vocabulary(document)
    else:
        assert vocabulary is None


def test_the_shipped_context_is_read_as_the_shortcut_assumes():
    assert adapter._expansion_rules() is True
    standard = copy.deepcopy(adapter._standard_context())
    standard["eventTime"] = {"@id": "epcis:eventTime", "@type": "@vocab"}
    assert hash_expansion.rules_hold(standard) is False
    standard = copy.deepcopy(adapter._standard_context())
    standard["epcList"] = {**standard["epcList"], "@context": {"urn": "https://example.com/"}}
    assert hash_expansion.rules_hold(standard) is False


@pytest.mark.parametrize("path", example_files(), ids=[p.name for p in example_files()])
def test_every_gs1_example_has_the_references_pre_hash_strings(path):
    document = capture_document(json.loads(path.read_text()))
    if "EPCISQueryDocument" in path.name or "cbvmda" in path.read_text():  # redefine protected terms: see hash.py
        document["@context"] = [c for c in document["@context"] if not isinstance(c, dict)] + [
            {k: v for k, v in c.items() if k not in adapter._protected_terms()}
            for c in document["@context"]
            if isinstance(c, dict)
        ]
    _assert_same(document)


def test_a_bare_value_is_written_as_the_iri_another_event_expands_to():
    """The library's document-wide heuristic: ``"shipping"`` in an extension field becomes the BizStep IRI
    because another event's bizStep expands to it; the shortcut must see that bizStep."""
    first = _event(**{"example:note": "shipping"})
    del first["bizStep"]
    second = _event(epcList=["urn:epc:id:sgtin:0614141.107346.2018"])
    document = _document([first, second], {"example": NS})
    alone = _document([copy.deepcopy(first)], {"example": NS})
    assert adapter.pre_hash_strings(document)[0] != adapter.pre_hash_strings(alone)[0]
    assert "example.com/epcis/}note=https://ref.gs1.org/cbv/BizStep-shipping" in adapter.pre_hash_strings(document)[0]
    _assert_same(document)
    _assert_same(alone)


@pytest.mark.parametrize(
    "extra",
    [
        {"id": "urn:uuid:1"},  # a second alias of @id beside eventID
        {"@type": "ObjectEvent"},
        {"baseURL": "https://example.com/"},
    ],
)
def test_keywords_in_an_event_go_to_the_whole_expansion(extra):
    document = _document([_event(eventID="urn:uuid:2", **extra)])
    assert _ours_vocabulary(document) is None
    try:
        expected: Any = _reference_pre_hashes(document)
    except jsonld.JsonLdError:
        expected = jsonld.JsonLdError
    if expected is jsonld.JsonLdError:
        with pytest.raises(InvalidInput, match="JSON-LD"):
            adapter.pre_hash_strings(document)
    else:
        assert adapter.pre_hash_strings(document) == expected


def test_an_event_that_is_not_an_object_goes_to_the_whole_expansion():
    document = _document([_event(), "not an event"])
    assert _ours_vocabulary(document) is None


# ---- generated documents -------------------------------------------------------------------------------------

_IRI_VALUES = st.sampled_from(
    [
        "urn:epc:id:sgtin:0614141.107346.2017",
        "urn:epc:id:sgtin:0614141.107346.2018",
        "urn:epc:id:sscc:0614141.1234567890",
        "urn:epc:id:sgln:0614141.00888.0",
        "urn:epc:id:pgln:0614141.00000",
        "urn:epc:class:lgtin:4012345.012345.998877",
        "urn:epc:idpat:sgtin:4012345.012345.*",
        "https://id.gs1.org/01/09520123456788/21/12345",
        "https://id.gs1.org/414/9520123456788",
        "https://ref.gs1.org/cbv/BizStep-shipping",
        "https://gs1.org/voc/MeasurementType-Temperature",
        "cbv:BizStep-receiving",
        "gs1:MeasurementType-Humidity",
        "example:thing",
        "epcis:whatever",
        "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "ni:///sha-256;abc?ver=CBV2.0",
        "_:blank",
        "shipping",
        "in_transit",
        "relative/path",
        "has space:x",
        "",
    ]
)
_VOCAB_VALUES = st.sampled_from(
    [
        "shipping",
        "receiving",
        "in_transit",
        "active",
        "owning_party",
        "possessing_party",
        "po",
        "inv",
        "urn:epcglobal:cbv:bizstep:shipping",
        "urn:epcglobal:cbv:disp:in_transit",
        "https://ref.gs1.org/cbv/BizStep-shipping",
        "https://ref.gs1.org/cbv/Disp-in_progress",
        "cbv:Disp-active",
        "example:custom",
        "https://example.com/step",
        "unknown_term",
    ]
)
_TEXT = st.one_of(
    st.text(alphabet="abc:/-_.0123456789 ", max_size=12),
    _VOCAB_VALUES,
    _IRI_VALUES,
)
_NUMBER = st.one_of(st.integers(-1000, 10**6), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))


@st.composite
def _times(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)))
    digits = draw(st.sampled_from([0, 1, 2, 3, 4, 6, 7]))
    offset = draw(st.sampled_from(["Z", "+00:00", "-00:00", "+05:30", "-08:00", "+14:00"]))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}{draw(st.integers(0, 9))}"[:digits]
    return text + offset


def _entries(kind: str, key: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.fixed_dictionaries({"type": _VOCAB_VALUES, key: _IRI_VALUES}), max_size=2)


_QUANTITY = st.fixed_dictionaries(
    {"epcClass": _IRI_VALUES},
    optional={"quantity": st.one_of(_NUMBER, st.sampled_from(["5", "x"])), "uom": st.sampled_from(["KGM", "CEL"])},
)
_EXTENSION = st.recursive(
    st.one_of(_TEXT, _NUMBER, st.booleans()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["example:a", "example:b", "example:c", "type", "plain"]), inner, max_size=3),
    ),
    max_leaves=6,
)
_OPTIONAL_FIELDS = {
    "recordTime": _times(),
    "eventID": _IRI_VALUES,
    "parentID": _IRI_VALUES,
    "epcList": st.lists(_IRI_VALUES, max_size=3),
    "childEPCs": st.lists(_IRI_VALUES, max_size=2),
    "inputEPCList": st.lists(_IRI_VALUES, max_size=2),
    "outputEPCList": st.lists(_IRI_VALUES, max_size=2),
    "quantityList": st.lists(_QUANTITY, max_size=2),
    "childQuantityList": st.lists(_QUANTITY, max_size=2),
    "inputQuantityList": st.lists(_QUANTITY, max_size=1),
    "action": st.sampled_from(["OBSERVE", "ADD", "DELETE"]),
    "bizStep": _VOCAB_VALUES,
    "disposition": _VOCAB_VALUES,
    "persistentDisposition": st.fixed_dictionaries({}, optional={"set": st.lists(_VOCAB_VALUES, max_size=2)}),
    "readPoint": st.fixed_dictionaries({"id": _IRI_VALUES}),
    "bizLocation": st.fixed_dictionaries({"id": _IRI_VALUES}),
    "bizTransactionList": st.lists(
        st.fixed_dictionaries({"bizTransaction": _IRI_VALUES}, optional={"type": _VOCAB_VALUES}), max_size=2
    ),
    "sourceList": _entries("type", "source"),
    "destinationList": _entries("type", "destination"),
    "ilmd": st.dictionaries(st.sampled_from(["example:lot", "example:best"]), _EXTENSION, max_size=2),
    "example:ext": _EXTENSION,
    "example:other": _TEXT,
    "certificationInfo": st.sampled_from(["https://example.com/cert", "urn:uuid:1"]),
}


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": draw(st.sampled_from(["ObjectEvent", "AggregationEvent", "TransformationEvent", "AssociationEvent"])),
        "eventTime": draw(_times()),
        "eventTimeZoneOffset": draw(st.sampled_from(["+00:00", "-05:00", "+05:30"])),
    }
    for key in draw(st.lists(st.sampled_from(sorted(_OPTIONAL_FIELDS)), unique=True, max_size=8)):
        event[key] = draw(_OPTIONAL_FIELDS[key])
    return event


def _shortcut_or_same_failure(document: dict[str, Any]) -> None:
    """The same pre-hash strings, or the same failure (a JSON-LD error is the adapter's InvalidInput; the
    library's own errors on shapes it cannot read, e.g. a bizTransaction without a type, pass through)."""
    try:
        expected: Any = _reference_pre_hashes(document)
    except jsonld.JsonLdError:
        with pytest.raises(InvalidInput, match="JSON-LD"):
            adapter.pre_hash_strings(copy.deepcopy(document))
        return
    except Exception as error:
        with pytest.raises(type(error)):
            adapter.pre_hash_strings(copy.deepcopy(document))
        return
    assert adapter.pre_hash_strings(copy.deepcopy(document)) == expected
    vocabulary = _ours_vocabulary(document)
    assert vocabulary is None or vocabulary == _reference_vocabulary(document)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=st.lists(_events(), min_size=1, max_size=4), prefixes=st.booleans())
def test_generated_documents_have_the_references_pre_hash_strings(events, prefixes):
    inline = ({"example": NS},) if prefixes else ()
    _shortcut_or_same_failure(_document(events, *inline))


@settings(max_examples=300, deadline=None)
@given(text=_times())
@example(text="2020-12-31T23:59:59.9996Z")
@example(text="2020-02-30T10:00:00Z")
@example(text="2020-01-01T10:00:00.5+24:00")
def test_timestamps_read_as_dateutil_reads_them(text):
    assert _outcome(adapter._fix_time_stamp_format, text) == _outcome(adapter._reference_fix_time_stamp_format, text)


def _outcome(function: Any, text: str) -> tuple[str, Any]:
    """What the function returns, or the type of what it raises (the library drops an event whose time raises)."""
    try:
        return "value", function(text)
    except Exception as error:
        return "raises", type(error)


def test_the_timestamp_reader_agrees_with_dateutil_on_its_shape():
    moment = datetime(2021, 3, 28, 1, 59, 59, 999400, tzinfo=timezone(timedelta(hours=2)))
    text = moment.isoformat()
    assert datetime.fromisoformat(text) == dateutil.parser.parse(text)
    assert adapter._fix_time_stamp_format(text) == "2021-03-27T23:59:59.999Z"
    assert adapter._fix_time_stamp_format("not a time") == adapter._reference_fix_time_stamp_format("not a time")
    assert moment.astimezone(UTC).tzinfo is UTC


# ---- helpers ------------------------------------------------------------------------------------------------


def _event(**fields: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2020-01-01T10:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
        "action": "OBSERVE",
        "bizStep": "shipping",
        **fields,
    }


def _document(events: list[Any], *inline: Any) -> dict[str, Any]:
    return {
        "@context": [EPCIS, *inline],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2020-01-01T10:00:00Z",
        "epcisBody": {"eventList": events},
    }


def test_large_values_are_hashed_the_same_and_not_remembered():
    """What the shortcuts remember is bounded in size, not only in entries: a client's large unique extension
    values are expanded and normalised every time (same pre-hash strings), and only short ones are kept."""
    hash_expansion._expanded.clear()
    adapter._canonical.clear()
    big = "x" * 5_000
    event = _event(**{"example:note": {"example:text": big}, "example:ref": f"https://example.com/{big}"})
    document = _document([event], {"example": NS})
    _assert_same(document)
    assert hash_expansion._expanded  # the event's short values were remembered ...
    assert all(len(text) <= hash_expansion._REMEMBERED_CHARS for _, text in hash_expansion._expanded)
    assert adapter._canonical and all(len(text) <= adapter._CANONICAL_CHARS for text in adapter._canonical)
    assert not any(big in text for _, text in hash_expansion._expanded)  # ... the large ones not
    assert not any(big in text for text in adapter._canonical)


def test_the_library_says_its_debug_lines_only_when_debug_logging_is_on(caplog):
    """With debug logging off the library's modules get a ``logging`` whose ``debug`` does nothing (hash.py's
    ``_QuietLogging``); on, they log as they ship. The same hashes either way; :mod:`logging` is theirs again after."""
    document = json.loads(example_files()[0].read_text())
    with caplog.at_level(logging.DEBUG):
        loud = adapter.event_hashes(capture_document(document))
    assert any(r.getMessage().startswith("pre hash string element") for r in caplog.records)  # hash_generator.py
    caplog.clear()
    with caplog.at_level(logging.INFO):
        quiet = adapter.event_hashes(capture_document(document))
    assert quiet == loud
    assert not [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert hash_generator.logging is logging and json_to_py.logging is logging


# ---- plain ObjectEvents, written directly (hash_direct) -------------------------------------------------------

_PLAIN_TEXT = st.one_of(
    _VOCAB_VALUES,
    _IRI_VALUES,
    st.sampled_from([" shipping", "in_transit ", "{", "/}", "BizStep-shipping", "cbv/Disp-active", "007", "+1.50"]),
    st.text(alphabet="ab-/:_ {}", max_size=6),
)


@st.composite
def _party_entry(draw: st.DrawFn, field: str) -> dict[str, Any]:
    pairs = [("type", draw(_PLAIN_TEXT)), (field, draw(_PLAIN_TEXT))]
    return dict(pairs if draw(st.booleans()) else pairs[::-1])  # the library keeps the event's field order


@st.composite
def _plain_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "ObjectEvent", "eventTime": draw(_times()), "action": draw(_PLAIN_TEXT)}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "eventTimeZoneOffset": st.sampled_from(["+00:00", "-05:00", " +01:00"]),
        "epcList": st.lists(_PLAIN_TEXT, min_size=1, max_size=4),
        "bizStep": _PLAIN_TEXT,
        "disposition": _PLAIN_TEXT,
        "readPoint": st.fixed_dictionaries({"id": _PLAIN_TEXT}),
        "bizLocation": st.fixed_dictionaries({"id": _PLAIN_TEXT}),
        "sourceList": st.lists(_party_entry("source"), min_size=1, max_size=3),
        "destinationList": st.lists(_party_entry("destination"), min_size=1, max_size=3),
        "eventID": _IRI_VALUES,
        "recordTime": _times(),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        event[key] = draw(optional[key])
    return dict(sorted(event.items(), key=lambda _: draw(st.integers(0, 9))))  # any key order


def _direct(document: dict[str, Any]) -> list[str | None]:
    """What hash_direct writes for each event of the document as the adapter prepares it (None: not plain)."""
    doc = _prepared(document)
    previous = jsonld.get_document_loader()
    jsonld.set_document_loader(adapter._offline_loader)
    try:
        values = hash_expansion.vocabulary_iris(doc, EPCIS, adapter._standard_context(), adapter._expansion_rules())
    finally:
        jsonld.set_document_loader(previous)
    assert values is not None
    replace = hash_direct.Replacements(values)
    return [
        hash_direct.pre_hash(e, replace, adapter._canonize_value, adapter._fix_time_stamp_format)
        for e in doc["epcisBody"]["eventList"]
    ]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=st.lists(_plain_events(), min_size=1, max_size=4))
def test_plain_object_events_are_written_as_the_library_writes_them(events):
    """Every plain ObjectEvent the direct writer accepts gets the library's pre-hash string, byte for byte; the
    adapter's answer for the whole document (direct or the library's steps) is the reference's, or its failure."""
    document = _document(events)
    _shortcut_or_same_failure(document)
    try:
        expected = _reference_pre_hashes(document)
    except Exception:
        return
    direct = _direct(document)
    if None not in direct:
        assert direct == expected
    elif len(expected) == len(events):
        assert all(d == e for d, e in zip(direct, expected, strict=True) if d is not None)


def test_the_bench_journeys_events_are_written_directly(monkeypatch):
    events = [
        {
            "type": "ObjectEvent",
            "eventTime": f"2026-12-06T01:00:00.{i:03d}+00:00",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [f"https://id.gs1.org/01/09506000134352/21/S{i}?17=261231&10=L1"],
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00000"}],
            "readPoint": {"id": "urn:epc:id:sgln:0614141.00888.0"},
        }
        for i in range(3)
    ]
    document = _document(events)
    direct = _direct(document)
    assert None not in direct

    def library_walk(*_: object) -> object:
        raise AssertionError("the library's steps ran for a document of plain events")

    with monkeypatch.context() as patched:  # the adapter itself takes the direct path for this document
        patched.setattr(json_to_py, "_replace_bare_string_values", library_walk)
        answered = adapter.pre_hash_strings(copy.deepcopy(document))
    assert direct == _reference_pre_hashes(document) == answered


@pytest.mark.parametrize(
    "change",
    [
        {"type": "AggregationEvent"},
        {"example:ext": "x"},
        {"bizStep": ""},
        {"bizStep": 5},
        {"epcList": []},
        {"readPoint": {"id": "urn:epc:id:sgln:0614141.00888.0", "example:x": "y"}},
        {"destinationList": [{"type": "owning_party"}]},
        {"destinationList": [{"type": "owning_party", "destination": "/}"}]},
        {"eventID": {"not": "text"}},
    ],
)
def test_other_events_go_to_the_librarys_steps(change):
    event = {**_event(), **change}
    assert hash_direct.pre_hash(event, str, adapter._canonize_value, adapter._fix_time_stamp_format) is None
    _shortcut_or_same_failure(_document([event], {"example": NS}))


@settings(max_examples=300, deadline=None)
@given(vocabulary=st.sets(_VOCAB_VALUES | _IRI_VALUES, max_size=6), text=_PLAIN_TEXT)
def test_bare_word_replacement_is_the_librarys(vocabulary, text):
    expected = json_to_py._find_replacement_string_values(text, vocabulary) or text
    assert hash_direct.Replacements(vocabulary)(text) == expected


def test_bare_word_replacement_is_the_librarys_for_texts_and_iris_full_of_separators():
    """Every text against every IRI of small alphabets rich in ``-`` and ``/`` (texts with separators of their own,
    IRIs ending in one, several IRIs ending alike), exhaustively, against the library's own lookup."""
    pieces = ["", "a", "b", "-", "/", "a-", "a/", "-a", "/a", "b/a", "a-b", "x/a-b", "-/"]
    iris = {f"https://ref.gs1.org/cbv/{p}{q}" for p in pieces for q in pieces}
    replace = hash_direct.Replacements(iris)
    for text in {p + q for p in pieces for q in pieces}:
        expected = json_to_py._find_replacement_string_values(text, iris) or text
        assert replace(text) == expected, text
        assert replace(text) == expected  # the remembered answer too


def test_a_long_iri_full_of_separators_costs_memory_linear_in_its_length():
    """A client can put such a value in a document's vocabulary set: a table of every suffix after every separator
    took ~200 MB for 20,000 slashes (the memory grows with the square of the length)."""
    iri = "https://gs1.org/voc/" + "/" * 20_000
    tracemalloc.start()
    try:
        replace = hash_direct.Replacements({iri, "https://ref.gs1.org/cbv/BizStep-shipping"})
        answers = (replace("shipping"), replace("/" * 10), replace(""))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert answers == ("https://ref.gs1.org/cbv/BizStep-shipping", iri, iri)
    assert peak < 1_000_000  # the IRI itself is 20 KB


@pytest.mark.parametrize("path", example_files(), ids=[p.name for p in example_files()])
def test_gs1_examples_plain_object_events_are_written_as_the_library_writes_them(path):
    document = capture_document(json.loads(path.read_text()))
    if document.get("@context") != [EPCIS] and document.get("@context") != EPCIS:
        document["@context"] = [EPCIS]  # the direct writer needs no prefix; the library, given the same, agrees
    try:
        expected = _reference_pre_hashes(document)
    except Exception:
        return
    direct = _direct(document)
    if len(expected) == len(direct):
        assert all(d == e for d, e in zip(direct, expected, strict=True) if d is not None)


def test_a_property_is_remembered_per_document_by_its_exact_json_value():
    frozen = hash_expansion._frozen
    values = [1, 1.0, True, "1", None, [1], {"a": 1}, {"a": "1"}, [[1]], ["[", [1]]]
    assert len({frozen(v) for v in values}) == len(values)
    assert frozen({"a": 1, "b": [2, "x"]}) == frozen({"b": [2, "x"], "a": 1})  # as json.dumps(sort_keys=True)
    assert frozen([[[[["deep"]]]]]) is None  # not remembered: expanded each time
