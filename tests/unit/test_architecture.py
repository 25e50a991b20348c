"""The layering of docs/architecture.md, kept by import-linter: api/web/cli -> services -> db -> domain, domain pure.
The tests' own house rule: test modules share code through tests/helpers.py and tests/strategies.py and fixtures
through conftest.py files, never by importing one another. And every document the code or the docs point to exists."""

from __future__ import annotations

import ast
import re
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


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, relative imports made absolute."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found += [(node.lineno, module)] + [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _is_test_module(module: str) -> bool:
    """A test module or a conftest.py under tests/ (pytest imports those itself; importing them again is a bug)."""
    parts = module.split(".")
    return parts[0] == "tests" and any(p.startswith("test_") or p == "conftest" for p in parts[1:])


def test_no_test_module_imports_another():
    offences: dict[tuple[Path, int], str] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for line, module in _imported_modules(path):
            if _is_test_module(module):
                offences.setdefault((path, line), f"{path.relative_to(ROOT)}:{line}: {module}")
    assert not offences, "share through tests/helpers.py, tests/strategies.py or a conftest.py:\n" + "\n".join(
        offences.values()
    )


def test_the_import_check_sees_what_it_should():
    assert _is_test_module("tests.api.test_custody_journey.ok")
    assert _is_test_module("tests.conftest.GTIN")
    assert _is_test_module("tests.e2e.conftest")
    assert not _is_test_module("tests.helpers.ok")
    assert not _is_test_module("tests.strategies")
    assert not _is_test_module("app.services.test_mode")


_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CITED = re.compile(r"\b((?:docs|passport_schema)/[\w.-]+\.(?:md|json))\b")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "passport_schema").glob("*.md"))]


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for doc in _markdown_files():
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.DOTALL)  # code is not links
        for target in _LINK.findall(text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
                continue  # absolute (https:, mailto:) or within the page
            path = target.split("#", 1)[0].split("?", 1)[0]
            if path and not (doc.parent / path).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == [], "links to files that do not exist:\n" + "\n".join(broken)


def test_every_document_the_code_cites_exists():
    cited = {
        (path.relative_to(ROOT), name)
        for folder in ("app", "tests", "scripts", "migrations")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in _CITED.findall(path.read_text(encoding="utf-8"))
    }
    missing = sorted(f"{path}: {name}" for path, name in cited if not (ROOT / name).exists())
    assert missing == [], "cited documents that do not exist:\n" + "\n".join(missing)


def test_the_link_check_sees_what_it_should():
    text = '[a](docs/api.md) ![img](x.png) [b](https://example.com) [c](#top) [d](<log.md> "title") [e](rules.md#undo)'
    assert _LINK.findall(text) == ["docs/api.md", "https://example.com", "#top", "log.md", "rules.md#undo"]
    assert _CITED.findall("see docs/audit-replay.md, and passport_schema/event-leaf.schema.json.") == [
        "docs/audit-replay.md",
        "passport_schema/event-leaf.schema.json",
    ]
