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
"""

from __future__ import annotations

import copy
import json
import threading
from importlib import resources
from typing import Any

from epcis_event_hash_generator import hash_generator, json_to_py
from pyld import jsonld

from app.domain.errors import InvalidInput

EPCIS_CONTEXT_URLS = (
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    "https://gs1.github.io/EPCIS/epcis-context.jsonld",
)
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


def _protected_terms() -> frozenset[str]:
    return frozenset(_context(EPCIS_CONTEXT_URLS[0])["@context"].keys())


def _hashable(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the hash library should see it: the standard context first, no redefined terms."""
    doc = dict(document)
    context = doc.get("@context")
    entries = context if isinstance(context, list) else ([context] if context is not None else [])
    protected = _protected_terms()
    kept: list[Any] = [EPCIS_CONTEXT_URLS[0]]
    for entry in entries:
        if isinstance(entry, str):
            if entry not in EPCIS_CONTEXT_URLS:
                kept.append(entry)  # refused by the loader, with a message naming it
        elif isinstance(entry, dict):
            own = {k: v for k, v in entry.items() if k not in protected}
            if own:
                kept.append(own)
    doc["@context"] = kept
    return doc


def event_hashes(document: dict[str, Any]) -> list[str]:
    """The CBV 2.0 hash of each event of an EPCIS document (``epcisBody.eventList``), in order."""
    body = document.get("epcisBody") or {}
    if not body.get("eventList"):
        return []
    doc = copy.deepcopy(_hashable(document))
    with _lock:
        json_to_py._namespaces = {}
        previous = jsonld.get_document_loader()
        jsonld.set_document_loader(_offline_loader)
        try:
            events = json_to_py.event_list_from_epcis_document_json(doc)
            return list(hash_generator.epcis_hashes_from_events(events))
        except jsonld.JsonLdError as error:
            raise InvalidInput(
                f"the JSON-LD of the document cannot be processed: {error}", code="invalid_jsonld"
            ) from None
        finally:
            jsonld.set_document_loader(previous)
