"""Pausing Python's cyclic garbage collector while a large piece of work runs, for the whole process.

A list of thousands of codes (``record_events``) or a transaction of an EPCIS capture makes tens of thousands of
short-lived objects (rows, codes, records, ORM states), none of them cyclic garbage worth collecting before the work
ends; the collector, walking them again and again, ran 8-20 % of such a request. The collector is process-wide, so
the pauses are counted in one place: it runs again when the last holder leaves, whichever started first (two
separate counters let the end of one request turn it back on in the middle of another's). If someone else turned it
off before the first holder came, it is left alone.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_holders = 0
_lock = threading.Lock()


@contextmanager
def collector_paused(pause: bool = True) -> Iterator[None]:
    """The collector off while the block runs (``pause`` false: nothing is done)."""
    global _holders
    if pause:
        with _lock:
            if _holders == 0 and not gc.isenabled():  # someone else turned it off: leave it be
                pause = False
            else:
                _holders += 1
                gc.disable()
    try:
        yield
    finally:
        if pause:
            with _lock:
                _holders -= 1
                if _holders == 0:
                    gc.enable()
