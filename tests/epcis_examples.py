"""GS1's EPCIS 2.0 example documents for the tests: the copies in tests/data, plus any in ../shared/data."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
_OWN = _HERE / "data" / "epcis-examples"
_SHARED = _HERE.parents[1] / "shared" / "data" / "epcis-examples"


def example_files() -> list[Path]:
    """Every example document by name; the shared copy wins where both have one."""
    files = {p.name: p for p in _OWN.glob("*.jsonld")}
    if _SHARED.is_dir():
        files.update({p.name: p for p in _SHARED.glob("*.jsonld")})
    assert files, f"no EPCIS example documents in {_OWN}"
    return [files[name] for name in sorted(files)]


def example(name: str) -> Path:
    return next(p for p in example_files() if p.name == name)
