"""GS1's EPCIS 2.0 example documents for the tests: the copies in tests/data (see its SOURCE.txt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.services.epcis.hash import _protected_terms

_OWN = Path(__file__).resolve().parent / "data" / "epcis-examples"


def example_files() -> list[Path]:
    """Every example document, by name."""
    files = sorted(_OWN.glob("*.jsonld"), key=lambda p: p.name)
    assert files, f"no EPCIS example documents in {_OWN}"
    return files


def example(name: str) -> Path:
    return next(p for p in example_files() if p.name == name)


_XML = Path(__file__).resolve().parent / "data" / "epcis-xml"


def xml_example_files() -> list[Path]:
    """GS1's XML example documents (EPCIS 2.0 and 1.2), by name."""
    files = sorted(_XML.glob("*.xml"), key=lambda p: p.name)
    assert files, f"no EPCIS XML example documents in {_XML}"
    return files


def xml_example(name: str) -> Path:
    return _XML / name


def capture_document(document: dict[str, Any]) -> dict[str, Any]:
    """An EPCISQueryDocument's events as the EPCISDocument capture hashes them."""
    body = document["epcisBody"]
    if "queryResults" in body:
        events = body["queryResults"]["resultsBody"]["eventList"]
        return {**document, "type": "EPCISDocument", "epcisBody": {"eventList": events}}
    return document


def without_redefined_standard_terms(document: dict[str, Any]) -> dict[str, Any]:
    """What the reference library can read of a document that redefines a protected term (a JSON-LD error)."""
    protected = _protected_terms()
    context = [
        {k: v for k, v in c.items() if k not in protected} if isinstance(c, dict) else c for c in document["@context"]
    ]
    return {**document, "@context": context}
