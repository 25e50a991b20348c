"""GS1's EPCIS 2.0 example documents for the tests: the copies in tests/data (see its SOURCE.txt)."""

from __future__ import annotations

from pathlib import Path

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
