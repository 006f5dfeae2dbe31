"""Cyclic garbage collector settings for the serving process.

CPython's default young-generation threshold (700 allocations) collects in the middle of every
request that builds a large response (a page of 100 sites is ~50,000 containers): everything the
request still holds is promoted, and every few requests a full collection walks the whole heap
(10,000 connected stations' sessions included) while the event loop waits. Measured on the
Sites page (bench/bench_sites.py): p99 70 ms -> 29 ms at 20,000, and with 1,000,000 long-lived
objects on the heap, 159 ms -> 28 ms. Freezing the start-up heap (modules, routes, SQLAlchemy
metadata) takes it out of every later full collection.

Only ``pnc-hub serve`` applies this: it is process-wide state, not the app factory's business
(tests build hundreds of apps in one interpreter).
"""

from __future__ import annotations

import gc

from aiohttp import web


def tune_collector(young_threshold: int) -> None:
    """Raise the young-generation threshold (0 keeps CPython's default)."""
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)


async def freeze_startup_heap(_app: web.Application) -> None:
    """on_startup, after every resource exists: collect once, then freeze what survived."""
    gc.collect()
    gc.freeze()
