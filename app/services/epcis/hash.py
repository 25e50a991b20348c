"""The CBV 2.0 event hash (``ni:///sha-256;…?ver=CBV2.0``), computed by GS1's reference implementation.

``epcis-event-hash-generator`` is the algorithm's reference code (CBV 2.0 §8.9 points to it); re-writing its
canonicalisation rules (field order, timestamp and number normalisation, Digital Link normalisation of EPC URNs,
sorting of user extensions) by hand would only add a second, subtly different answer. Three things are wrapped
around it here:

- it keeps the namespaces of the last document in a module global and uses PyLD's global document loader, so
  calls are serialised and the global is reset for each document;
- JSON-LD contexts are never fetched: the EPCIS 2.0 context ships with the library, any other remote context is
  refused (a document names its own prefixes inline);
- a document that redefines a term the standard context protects (``cbvmda``, as one of GS1's own examples
  does) is a JSON-LD error but valid EPCIS JSON; such inline entries are dropped for hashing, where the standard
  meaning wins anyway.

The library's own steps run in its order; four of them are made cheaper without changing an answer, and for a
document of plain ObjectEvents they are not run at all (each proven against the library as it ships, byte for byte
on the pre-hash strings, by ``tests/unit/test_epcis_hash_fast.py`` over GS1's examples and generated documents):

- a document naming no prefix of its own whose events are all plain ObjectEvents (time, EPCs, action, bizStep,
  disposition, locations, source and destination lists) gets its pre-hash strings from :mod:`.hash_direct`, which
  writes what the library's tree walk writes for that one shape; any other document takes the steps below;

- the whole-document JSON-LD expansion, used only for the set of CBV/GS1 vocabulary IRIs it contains, is
  replaced by :mod:`.hash_expansion` (the same set, property by property, remembered), or done whole where that
  module cannot tell;
- ``_canonize_value`` (a pure function of the text) is remembered, so a value repeated across events runs the
  Digital Link normaliser's regular expressions once;
- ``_fix_time_stamp_format`` reads the one timestamp shape EPCIS sends with ``datetime.fromisoformat`` instead of
  ``dateutil`` (anything else still goes to the library's function);
- the pre-hash loop skips the library's deep copy of events built for this call only.

An adapter, not domain: it holds a lock and a cache, reads the library's package files and patches PyLD's global
document loader; it lives beside the capture it serves.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from epcis_event_hash_generator import hash_generator, json_to_py
from pyld import jsonld

from app.domain.epcis import EPCIS_CONTEXT_URLS
from app.domain.epcis_fields import check_context
from app.domain.errors import InvalidInput
from app.services.epcis import hash_direct, hash_expansion

log = logging.getLogger(__name__)

_CONTEXT_FILES = {
    EPCIS_CONTEXT_URLS[0]: "e532647e8eb371379b8b0e8602d8981c8566bc60f7351f22c76a5bc865962008.jsonld",
    EPCIS_CONTEXT_URLS[1]: "14b10c9d3e92d35f577bfc610fe5ec15aa2941124987919389d7cd9998516861.jsonld",
}
_lock = threading.Lock()
_contexts: dict[str, Any] = {}


def _context(url: str) -> Any:
    if url not in _contexts:
        text = resources.files("epcis_event_hash_generator").joinpath(_CONTEXT_FILES[url]).read_text("utf-8")
        _contexts[url] = json.loads(text)
    return _contexts[url]


def _offline_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    if url not in _CONTEXT_FILES:
        raise jsonld.JsonLdError(
            f"remote JSON-LD context {url} is not fetched; define extension prefixes inline in @context",
            "jsonld.LoadDocumentError",
            code="loading document failed",
        )
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url, "document": _context(url)}


def _standard_context() -> dict[str, Any]:
    context: dict[str, Any] = _context(EPCIS_CONTEXT_URLS[0])["@context"]
    return context


def _protected_terms() -> frozenset[str]:
    return frozenset(_standard_context().keys())


def _split_iri(iri: str) -> tuple[str, str]:
    """An absolute IRI as (namespace, local name), cut after its last '#' or '/' as XML namespaces are."""
    cut = max(iri.rfind("#"), iri.rfind("/")) + 1
    return iri[:cut], iri[cut:]


class _Terms:
    """The inline ``@context`` entries of a document, read as the hash library can use them.

    The library knows one kind of definition, ``"prefix": "namespace IRI"``, and concatenates whatever else it
    finds (``{"@type": "@id"}``, ``{"@id": ..., "@type": "xsd:integer"}``, ``null``, ``"@protected": true``),
    failing on valid JSON-LD. Here a definition object whose ``@id`` is a namespace (ends in '/' or '#', or
    says ``"@prefix": true``) becomes that prefix; one whose ``@id`` names a single IRI makes its term an alias,
    and the events' keys spelt with the alias are written as the compact IRI it stands for (``prefix:local``,
    with a prefix of its own if the document has none for that namespace), so the field is hashed under its
    namespace as the algorithm wants; a type coercion alone (``"ex:temp": {"@type": "xsd:integer"}``) changes
    no name and is dropped, and so are keywords and ``null`` (un)definitions."""

    def __init__(self) -> None:
        self.prefixes: dict[str, str] = {}
        self.aliases: dict[str, str] = {}  # term -> absolute IRI

    def read(self, entries: list[Any]) -> None:
        protected = _protected_terms()
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            for term, definition in entry.items():
                if term in protected or term.startswith("@"):
                    continue  # the standard meaning wins (see the module docstring); keywords name nothing
                iri = definition.get("@id") if isinstance(definition, dict) else definition
                if not isinstance(iri, str):
                    continue
                prefix = isinstance(definition, dict) and definition.get("@prefix") is True
                if isinstance(definition, str) or prefix or iri.endswith(("/", "#")):
                    self.prefixes[term] = iri
                elif ":" not in term:
                    self.aliases[term] = iri

    def _absolute(self, iri: str) -> str:
        head, _, rest = iri.partition(":")
        known = {**{k: v for k, v in _standard_context().items() if isinstance(v, str)}, **self.prefixes}
        return known[head] + rest if head in known and not rest.startswith("//") else iri

    def compact_names(self) -> dict[str, str]:
        """alias -> ``prefix:local`` (adding prefixes for namespaces the document did not name)."""
        names: dict[str, str] = {}
        for term, iri in self.aliases.items():
            namespace, local = _split_iri(self._absolute(iri))
            if not namespace or not local:
                continue
            prefix = next((p for p, ns in self.prefixes.items() if ns == namespace), None)
            if prefix is None:
                prefix = f"ext{len(self.prefixes)}"
                while prefix in self.prefixes:
                    prefix += "_"
                self.prefixes[prefix] = namespace
            names[term] = f"{prefix}:{local}"
        return names


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    if isinstance(value, dict):
        return {names.get(k, k): _renamed(v, names) for k, v in value.items()}
    return value


def _entries(context: Any) -> list[Any]:
    return context if isinstance(context, list) else [context]


def _hashable(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the hash library can read it: the standard context first, then only plain prefix
    definitions (no redefined standard terms, see :class:`_Terms`), aliased keys written as compact IRIs, and
    no event-level ``@context`` (read into the prefixes: it is JSON-LD processing, not event data)."""
    check_context(document)
    terms = _Terms()
    terms.read(_entries(document.get("@context")))
    body = dict(document.get("epcisBody") or {})
    events = []
    for event in body.get("eventList") or []:
        if isinstance(event, dict) and "@context" in event:
            terms.read(_entries(event["@context"]))
            event = {k: v for k, v in event.items() if k != "@context"}
        events.append(event)
    names = terms.compact_names()
    body["eventList"] = _renamed(events, names) if names else events
    kept: list[Any] = [EPCIS_CONTEXT_URLS[0]]
    if terms.prefixes:
        kept.append(dict(terms.prefixes))
    return {**document, "@context": kept, "epcisBody": body}


_FRACTION = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{4,}(Z|[+-]\d\d:\d\d)$")


def _milliseconds(value: Any) -> Any:
    """A copy with timestamps finer than a millisecond rounded to one, with the carry. The hash is defined at
    millisecond precision; the library rounds 59.9996 s to an impossible 1,000,000 microseconds and drops
    the event."""
    if isinstance(value, dict):
        return {k: _milliseconds(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_milliseconds(v) for v in value]
    if isinstance(value, str) and _FRACTION.match(value):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        rounded = moment.replace(microsecond=0) + timedelta(microseconds=round(moment.microsecond, -3))
        return rounded.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


class _DebugOnlyJson:
    """What ``json_to_py`` is given as its ``json`` module while this adapter calls it: the library formats the
    whole document, its expansion and its rewrite with ``json.dumps(..., indent=2)`` three times per call only to
    pass them to ``logging.debug``, eagerly (a sixth of the hash's time for a large document); that text is skipped
    unless debug logging is on. ``json_to_py`` uses its ``json`` for nothing else the adapter calls (``loads``
    only reads a string the adapter never gives it), so the hashes are the same, byte for byte."""

    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(value: Any, **options: Any) -> str:
        return json.dumps(value, **options) if logging.getLogger().isEnabledFor(logging.DEBUG) else ""


class _QuietLogging:
    """What the library's modules are given as their ``logging`` while this adapter calls them with debug logging
    off: ``debug`` does nothing, everything else is :mod:`logging`'s. The library calls ``logging.debug`` some
    forty times an event (each child list, each element, each value), each call checking the root logger's level
    to say nothing; their arguments are plain references (the library formats lazily, with ``%s``), so skipping
    the calls changes nothing but the time (about a sixth of the library's own part of the hash)."""

    @staticmethod
    def debug(*args: Any, **kwargs: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(logging, name)


_QUIET_LOGGING = _QuietLogging()
_rules: list[bool] = []


def _expansion_rules() -> bool:
    if not _rules:
        _rules.append(hash_expansion.rules_hold(_standard_context()))
    return _rules[0]


def _direct_pre_hashes(doc: dict[str, Any], values: set[str]) -> list[str] | None:
    """Every event's pre-hash string written by :mod:`.hash_direct`, when the document names no prefix (the
    library's namespace replacement then changes nothing) and every event is a plain ObjectEvent; else None."""
    if doc["@context"] != [EPCIS_CONTEXT_URLS[0]]:
        return None
    replace = hash_direct.Replacements(values)
    result = []
    try:
        for event in doc["epcisBody"]["eventList"]:
            text = hash_direct.pre_hash(event, replace, _canonize_value, _fix_time_stamp_format)
            if text is None:
                return None
            result.append(text)
    except Exception:  # the library's own steps decide what such an event becomes
        return None
    return result


def _event_pre_hashes(doc: dict[str, Any]) -> list[str]:
    """The events' pre-hash strings: ``json_to_py.event_list_from_epcis_document_json`` with its whole-document
    JSON-LD expansion replaced by :mod:`.hash_expansion` where that module can tell the same set of vocabulary IRIs
    (else the library's own function, expansion and all), the steps after the expansion the library's, called in
    its order, or, for a document of plain ObjectEvents, :mod:`.hash_direct`'s strings."""
    values = hash_expansion.vocabulary_iris(doc, EPCIS_CONTEXT_URLS[0], _standard_context(), _expansion_rules())
    if values is None:
        return _pre_hashes(json_to_py.event_list_from_epcis_document_json(doc))
    direct = _direct_pre_hashes(doc, values)
    if direct is not None:
        return direct
    doc = json_to_py._replace_bare_string_values(doc, values)
    json_to_py._collect_namespaces_from_jsonld_context(doc["@context"])
    events = doc["epcisBody"]["eventList"]
    return _pre_hashes(
        (
            "EventList",
            "",
            [
                json_to_py.json_xml_model_mismatch_correction.deep_structure_correction(json_to_py._json_to_py(e))
                for e in events
            ],
        )
    )


_canonical: dict[str, str] = {}
_CANONICAL_LIMIT = 50_000
_CANONICAL_CHARS = 512  # longer texts are normalised every time, not remembered (memory bounded, not just entries)
_reference_canonize_value = hash_generator._canonize_value
_reference_fix_time_stamp_format = hash_generator._fix_time_stamp_format
_ISO_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _canonize_value(text: str) -> str:
    """The library's ``_canonize_value`` (CBV URN to web vocabulary, numbers, Digital Link normalisation: a pure
    function of the text), remembered: a value repeated across events (bizStep, disposition, a party) runs the
    normaliser's forty-odd regular expressions once."""
    value = _canonical.get(text)
    if value is None:
        value = _reference_canonize_value(text)
        if len(text) <= _CANONICAL_CHARS:
            if len(_canonical) >= _CANONICAL_LIMIT:
                _canonical.clear()
            _canonical[text] = value
    return value


def _fix_time_stamp_format(timestamp: str) -> str:
    """The library's ``_fix_time_stamp_format`` with ``datetime.fromisoformat`` reading what ``dateutil`` would
    for the one shape EPCIS sends (``YYYY-MM-DDThh:mm:ss[.f{1,6}]`` with ``Z`` or ``±hh:mm``), then the library's
    own steps (to UTC, microseconds rounded to milliseconds, ``Z``); anything else, or a text ``fromisoformat``
    refuses, goes to the library's function."""
    if not _ISO_MOMENT.fullmatch(timestamp):
        return str(_reference_fix_time_stamp_format(timestamp))
    try:
        moment = datetime.fromisoformat(timestamp).astimezone(UTC)
    except ValueError:
        return str(_reference_fix_time_stamp_format(timestamp))
    moment = moment.replace(microsecond=round(moment.microsecond, -3))
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def _pre_hashes(events: Any) -> list[str]:
    """``hash_generator.derive_prehashes_from_events`` without its defensive deep copy (the events are built for
    this call only) and its per-event log lines: the same pre-hash string per event, an event the library cannot
    read skipped as it skips it."""
    result = []
    for event in events[2]:
        try:
            result.append(
                "eventType="
                + event[0]
                + hash_generator._recurse_through_children_in_order(event[2], hash_generator.PROP_ORDER)
                + hash_generator._gather_elements_not_in_order(event[2], hash_generator.PROP_ORDER)
            )
        except Exception:  # the library logs and skips such an event; the caller counts the hashes
            log.warning("the CBV 2.0 hash library could not read an event", exc_info=True)
    return result


def pre_hash_strings(document: dict[str, Any]) -> list[str]:
    """The CBV 2.0 pre-hash string of each event the library can read (an event it cannot read is left out)."""
    doc = _milliseconds(_hashable(document))
    with _lock:
        json_to_py._namespaces = {}
        previous = jsonld.get_document_loader()
        jsonld.set_document_loader(_offline_loader)
        json_to_py.json = _DebugOnlyJson  # type: ignore[assignment]
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            hash_generator.logging = json_to_py.logging = _QUIET_LOGGING  # type: ignore[assignment]
        hash_generator.JOIN_BY = ""
        hash_generator._canonize_value = _canonize_value
        hash_generator._fix_time_stamp_format = _fix_time_stamp_format
        try:
            return _event_pre_hashes(doc)
        except jsonld.JsonLdError as error:
            raise InvalidInput(
                f"the JSON-LD of the document cannot be processed: {error}", code="invalid_jsonld"
            ) from None
        finally:
            hash_generator._canonize_value = _reference_canonize_value
            hash_generator._fix_time_stamp_format = _reference_fix_time_stamp_format
            json_to_py.json = json
            hash_generator.logging = json_to_py.logging = logging
            jsonld.set_document_loader(previous)


def event_hashes(document: dict[str, Any]) -> list[str]:
    """The CBV 2.0 hash of each event of an EPCIS document (``epcisBody.eventList``), in order."""
    body = document.get("epcisBody") or {}
    if not body.get("eventList"):
        return []
    hashes: list[str] = hash_generator.calculate_hashes_from_pre_hashes(pre_hash_strings(document))
    if len(hashes) != len(body["eventList"]):  # the library skips, with a log line, an event it cannot read
        raise InvalidInput("the CBV 2.0 hash of an event cannot be computed", code="invalid_event")
    return hashes
