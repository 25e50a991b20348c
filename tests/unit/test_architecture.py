"""The layering of STYLE.md, kept by import-linter: api/web/cli -> services -> db -> domain, domain pure."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = _contracts()
    assert f"{len(contracts)} kept, 0 broken" in result.stdout


def _contracts() -> list[dict[str, Any]]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        found: list[dict[str, Any]] = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    return found


def test_every_router_is_in_the_router_contracts():
    # A contract names its modules; a router added later must be named too, or nothing would keep it honest.
    routers = {f"app.api.{path.stem}" for path in (ROOT / "app" / "api").glob("routes_*.py")}
    for contract in _contracts():
        if contract["name"].startswith("Routers "):
            named = set(contract.get("modules", contract.get("source_modules", [])))
            assert routers <= named, f"{contract['name']!r} misses {sorted(routers - named)}"


def test_lint_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", "app", "tests", "migrations", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
