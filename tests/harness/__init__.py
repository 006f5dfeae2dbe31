"""The test harness: a real hub (in the test's process, or as a child process in
``tests.harness.process``) and real `ocpp` stations of every version talking to it.

``connect_station(running, station_id, version=...)`` is the one way in for a station of
either version: ``"1.6"`` gives a ``TestStation`` (``ocpp.v16``), ``"2.0.1"`` a
``TestStation201`` and ``"2.1"`` the same station speaking 2.1 (``TestStation201On21``). Each
answers every command the hub sends (``station.answers[action]`` overrides an answer) and
records what it received in ``station.received``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from tests.harness.hub import (
    SHUTDOWN_LIMIT,
    Received,
    RunningHub,
    basic_auth,
    now,
    running_charge_point,
    start_hub,
    wait_for,
)
from tests.harness.station16 import TestStation, connect_station16
from tests.harness.station201 import (
    DEVICE_MODEL,
    TestStation201,
    TestStation201On21,
    connect_station201,
    report_data,
)

__all__ = ["DEVICE_MODEL", "SHUTDOWN_LIMIT", "Received", "RunningHub", "TestStation",
           "TestStation201", "TestStation201On21", "basic_auth", "connect_station",
           "connect_station16", "connect_station201", "now", "report_data",
           "running_charge_point", "start_hub", "wait_for"]


@contextlib.asynccontextmanager
async def connect_station(running: RunningHub, station_id: str, *, version: str = "1.6",
                          password: str | None = None, **options: Any) -> AsyncIterator[Any]:
    """A station of ``version`` connected to ``running`` for as long as the block runs;
    ``options`` are the version's own (1.6: ``subprotocol``, ``ssl_context``, ``bare``)."""
    if version == "1.6":
        async with connect_station16(running, station_id, password=password, **options) as cp:
            yield cp
    else:
        async with connect_station201(running, station_id, password=password,
                                      version=version, **options) as cp:
            yield cp

