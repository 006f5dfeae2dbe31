"""Fixtures for OCPP 2.0.1: a running hub (dev mode) on each database backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.hub.harness import RunningHub, start_hub


@pytest.fixture
async def hub_factory(database_url: str) -> AsyncIterator[Callable[..., Any]]:
    started: list[RunningHub] = []

    async def factory(**overrides: Any) -> RunningHub:
        running = await start_hub(database_url, **overrides)
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        await running.stop()


@pytest.fixture
async def hub(hub_factory: Callable[..., Any]) -> RunningHub:
    """A hub in dev mode (unknown stations accepted)."""
    return await hub_factory(dev=True)
