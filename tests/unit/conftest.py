"""Unit tests' shared fixtures, and the guards that keep one mutant of a mutation run (scripts/mutate) from running
away with the shared machine."""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from app.domain.identifiers import check_digit

# Under a mutant (mutmut sets MUTANT_UNDER_TEST to its name, e.g. app.domain.merkle.x_node_hash__mutmut_3), a test
# process may grow its memory by this much over what it had when mutmut forked it, and a test may use this much CPU
# time beyond ten times what it used in mutmut's unmutated stats run. A mutant that loops without end (`while fn or
# not fn & 1`, a split that never shrinks the range) then fails its test within seconds, counted killed like one of
# mutmut's own timeouts, instead of running for mutmut's timeout (15 times the summed time of every test that reaches
# the function, minutes for merkle) and growing past 10 GB. docs/mutation-testing.md, "Runaway mutants".
MUTANT_MEMORY_BYTES = int(os.environ.get("MUTATE_MEMORY_MB", "2048")) << 20
MUTANT_CPU_SECONDS = float(os.environ.get("MUTATE_TEST_CPU_SECONDS", "10"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "large_tree: a Merkle test over trees larger than 32 leaves; the small-tree tests kill every mutant it does, so "
        "mutation runs deselect it (pyproject.toml, [tool.mutmut]) to keep each mutant fast",
    )


def _mutant_under_test() -> str:
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if "__mutmut_" in name else ""  # not "", "stats" or "fail": mutmut's clean, stats and check runs


def _stats_seconds(nodeid: str) -> float:
    """The test's CPU time in mutmut's unmutated stats run (the forked process holds mutmut's state), 0 if unknown."""
    try:
        from mutmut.state import state  # present only in a mutation run's process
    except ImportError:  # pragma: no cover - mutmut is in the test extra
        return 0.0
    try:
        return float(state().duration_by_test.get(nodeid, 0.0))
    except Exception:  # pragma: no cover - another mutmut version: fall back to the fixed allowance
        return 0.0


def _vm_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise pytest.fail.Exception("the mutant ran past its CPU allowance (MUTATE_TEST_CPU_SECONDS)")


@pytest.fixture(autouse=True)
def _mutant_guards(request: pytest.FixtureRequest) -> Iterator[None]:
    """Inactive outside mutation runs. Under a mutant: cap the process's address space (RLIMIT_AS) once, and give each
    test a CPU allowance (ITIMER_PROF) that fails the test when spent."""
    if not _mutant_under_test():
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY and Path("/proc/self/statm").exists():
        limit = _vm_bytes() + MUTANT_MEMORY_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    allowance = MUTANT_CPU_SECONDS + 10 * _stats_seconds(request.node.nodeid)
    previous = signal.signal(signal.SIGPROF, _out_of_time)
    signal.setitimer(signal.ITIMER_PROF, allowance)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


@pytest.fixture(autouse=True)
def _fresh_check_digit_cache() -> Iterator[None]:
    """``check_digit`` memoises its sums (bulk lists name few GTINs). Each test starts with an empty cache, so a test
    computes every digit it asks for: its outcome never depends on the tests before it, and mutation testing sees
    which tests reach the sum (mutmut records a function's callers; a cache hit hides the call)."""
    check_digit.cache_clear()
    yield
