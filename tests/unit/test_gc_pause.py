"""The process-wide pause of Python's collector (app/services/gc_pause.py): counted across holders and threads."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from app.services.gc_pause import collector_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def test_nested_holders_enable_it_again_only_when_the_last_one_leaves() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer one still holds it
    assert gc.isenabled()


def test_overlapping_holders_in_two_threads_the_first_to_start_ending_first() -> None:
    """A large /v1/events list started before a capture ends while the capture runs: the capture keeps it off."""
    entered, first_left, done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def capture() -> None:
        entered.wait()
        with collector_paused():
            seen["capture started"] = gc.isenabled()
            first_left.set()
            done.wait()
            seen["after the list ended"] = gc.isenabled()
        seen["capture ended"] = gc.isenabled()

    worker = threading.Thread(target=capture)
    worker.start()
    with collector_paused():  # the list
        entered.set()
        assert first_left.wait(10)
    seen["list ended"] = gc.isenabled()
    done.set()
    worker.join(10)
    assert seen == {
        "capture started": False,
        "list ended": False,
        "after the list ended": False,
        "capture ended": True,
    }


def test_an_exception_inside_still_enables_it_again() -> None:
    with pytest.raises(RuntimeError), collector_paused(), collector_paused():
        raise RuntimeError("the request failed")
    assert gc.isenabled()
    with collector_paused():  # and the count went back to zero: the next pause ends as it should
        assert not gc.isenabled()
    assert gc.isenabled()


def test_no_pause_asked_leaves_it_alone() -> None:
    with collector_paused(False):
        assert gc.isenabled()
    assert gc.isenabled()


def test_turned_off_by_someone_else_it_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
