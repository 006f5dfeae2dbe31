"""Fixtures: hubs with Plug&Charge on each database backend, and the OPCP doubles."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import RunningHub
from tests.pnc.doubles import Opcp
from tests.pnc.harness import start_pnc_hub


@pytest.fixture
async def opcp(tmp_path: Path) -> AsyncIterator[Opcp]:
    double = await Opcp().start(tmp_path)
    yield double
    await double.stop()


@pytest.fixture
async def pnc_hub_factory(database_url: str, tmp_path: Path
                          ) -> AsyncIterator[Callable[..., Any]]:
    started: list[RunningHub] = []

    async def factory(**overrides: Any) -> RunningHub:
        running = await start_pnc_hub(database_url, tmp_path, **overrides)
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        await running.stop()
