"""Where a stuck test waits, and a bound on how long it may.

``dump_asyncio_tasks`` prints every pending asyncio task with its whole await chain.
``install(config)`` makes ``kill -USR1 <pytest pid>`` print it on the terminal (past pytest's
output capture), and ``hang_guard`` fails a test phase (setup, call, teardown) that runs longer
than its limit instead of letting it stall the run, after printing the same dump.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import signal
import sys
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import Any, TextIO


class TestHung(Exception):
    """A test phase ran past its limit."""

    __test__ = False


def event_loops() -> list[asyncio.AbstractEventLoop]:
    """Every event loop alive in the process. ``type()`` rather than ``isinstance``: a weak
    proxy to a collected object raises ReferenceError when asked for its ``__class__``."""
    return [o for o in gc.get_objects() if issubclass(type(o), asyncio.AbstractEventLoop)]


def _frame(coro: Any) -> FrameType | None:
    return getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) \
        or getattr(coro, "ag_frame", None)


def _await_chain(coro: Any) -> list[str]:
    """The frames a coroutine waits in, outermost first (``Task.print_stack`` shows only the
    outermost one, which says nothing about where a shutdown is stuck)."""
    lines: list[str] = []
    for _ in range(100):
        frame = _frame(coro)
        if frame is not None:
            lines.extend(traceback.format_stack(frame, limit=1))
        inner = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) \
            or getattr(coro, "ag_await", None)
        if inner is None:
            break
        if _frame(inner) is None:
            lines.append(f"    awaiting {inner!r}\n")
            break
        coro = inner
    return lines


def dump_asyncio_tasks(out: TextIO | None = None) -> None:
    """Every pending task of every open event loop, with its await chain."""
    out = out or sys.stderr
    for loop in event_loops():
        if loop.is_closed():
            continue
        for task in asyncio.all_tasks(loop):
            print(f"--- {task!r}", file=out)
            out.writelines(_await_chain(task.get_coro()))
    out.flush()


def report(config: Any, headline: str) -> None:
    """``headline``, every thread's stack and every pending task, on the terminal even while
    pytest captures the test's output (where a report written to stderr would be lost)."""
    capman = config.pluginmanager.getplugin("capturemanager") if config else None
    suspended = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
    with suspended:
        print(f"\n=== {headline}", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        print("=== pending asyncio tasks:", file=sys.stderr)
        dump_asyncio_tasks(sys.stderr)


def install(config: Any) -> None:
    """``kill -USR1 <pytest pid>`` prints where the run waits."""
    signal.signal(signal.SIGUSR1, lambda *_: report(config, "SIGUSR1: where the run waits"))


@contextlib.contextmanager
def hang_guard(config: Any, what: str, limit: float) -> Iterator[None]:
    """Fail ``what`` with TestHung after ``limit`` seconds (SIGALRM; the main thread only).
    The exception is raised where the test waits, usually inside the event loop, which ends
    the phase. The alarm is re-armed while the phase unwinds, so a finalizer that hangs as
    well is stopped too."""

    def expired(signum: int, frame: FrameType | None) -> None:
        signal.setitimer(signal.ITIMER_REAL, limit)
        report(config, f"{what} has run for {limit:.0f} s; failing it. Where it waits:")
        raise TestHung(f"{what} ran past {limit:.0f} s (stacks and tasks printed above)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
