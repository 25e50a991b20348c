"""Children die with their parent: a process the service starts (signing worker, scan writer, uvicorn worker)
ends when the process that started it is gone, even after ``kill -9``, instead of living on as an orphan.

Each such child calls :func:`die_with_parent` first thing: a daemon thread compares ``os.getppid()`` with the
parent it started under and ends the process (``os._exit``) once it was re-parented, within
:data:`POLL_SECONDS`. Why not ``prctl(PR_SET_PDEATHSIG)``: Linux sends that signal when the *thread* that forked
the child ends, and the pools here are started lazily from worker threads (anyio ends an idle one after 10 s),
so it would kill healthy workers. Ending a child ends its own children the same way (a uvicorn worker's pools),
and the multiprocessing resource tracker ends by itself once every process holding its pipe is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

POLL_SECONDS = 0.25


def die_with_parent(parent: int | None = None) -> None:
    """End this process soon after its parent (``parent``, or the multiprocessing parent, or the current
    parent process) is gone. Safe to call twice."""
    if parent is None:
        started_by = multiprocessing.parent_process()
        parent = started_by.pid if started_by is not None and started_by.pid else os.getppid()
    if os.getppid() != parent:  # gone already, before this child got here
        os._exit(1)
    if any(t.name == "passport-parent-watch" for t in threading.enumerate()):
        return
    threading.Thread(target=_watch, args=(parent,), name="passport-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)  # no cleanup: the parent is gone, and whatever this process was doing goes with it
