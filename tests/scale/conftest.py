"""Fixtures for the scale and fault tests: in-process hubs (protections) and the hub as a real
child process (faults)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.hub.harness import RunningHub, start_hub


@pytest.fixture
async def hub_factory(database_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Start hubs on the test database; all are stopped at the end of the test."""
    started: list[RunningHub] = []

    async def factory(**overrides: Any) -> RunningHub:
        running = await start_hub(database_url, **overrides)
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        await running.stop()
