"""Every benchmark script (scripts/bench_*.py) imports and parses its arguments: ``--help`` exits 0 with a usage line.

The benchmarks are not run by the test suite (they measure, they do not assert); this guards their imports (of
scripts/bench_common.py and of one another) and their argument parsers, which a shared helper moved or renamed
would break silently. The scripts start in parallel, so the whole test takes about as long as the slowest one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "scripts").glob("bench_*.py"))
MAIN_SCRIPTS = [path for path in SCRIPTS if path.name != "bench_common.py"]


def test_there_are_benchmark_scripts():
    assert len(MAIN_SCRIPTS) >= 10


def test_every_benchmark_script_answers_help():
    started = {
        path.name: subprocess.Popen(
            [sys.executable, str(path.relative_to(ROOT)), "--help"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in MAIN_SCRIPTS
    }
    failures = []
    for name, proc in started.items():
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            failures.append(f"{name}: no answer to --help within 60 s")
            continue
        if proc.returncode != 0 or f"usage: {name}" not in out:
            failures.append(f"{name}: exit {proc.returncode}\n{out[-1000:]}{err[-2000:]}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in SCRIPTS])
def test_benchmark_script_compiles(path: Path):
    compile(path.read_text(), str(path), "exec")
