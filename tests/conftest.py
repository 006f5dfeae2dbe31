"""Shared fixtures: a real hub on a real port and a real database (SQLite always; PostgreSQL
when PNC_HUB_TEST_POSTGRES_URL is set), and real `ocpp` 1.6 clients over WebSockets."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_URL = os.environ.get("PNC_HUB_TEST_POSTGRES_URL")


def dump_asyncio_tasks(file: Any = None) -> None:
    """Every pending task of every open event loop, with its stack (where a hang waits)."""
    out = file or sys.stderr
    for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
        if loop.is_closed():
            continue
        for task in asyncio.all_tasks(loop):
            print(f"--- {task!r}", file=out)
            task.print_stack(file=out)
    out.flush()


# `kill -USR1 <pytest pid>` prints them while a run hangs.
signal.signal(signal.SIGUSR1, lambda *_: dump_asyncio_tasks())

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not POSTGRES_URL, reason="PNC_HUB_TEST_POSTGRES_URL is not set"))]


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"


async def _fresh_postgres_database() -> tuple[str, str]:
    assert POSTGRES_URL
    name = f"pnc_hub_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    return url, name


async def _drop_postgres_database(name: str) -> None:
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
        return
    url, name = await _fresh_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    if not POSTGRES_URL:
        pytest.skip("PNC_HUB_TEST_POSTGRES_URL is not set")
    url, name = await _fresh_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


@pytest.fixture
async def hub_factory(database_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Start hubs on the test database (``start_hub`` overrides); all are stopped at the end
    of the test, last started first."""
    from tests.hub.harness import start_hub

    started: list[Any] = []

    async def factory(**overrides: Any) -> Any:
        running = await start_hub(database_url, **overrides)
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        await running.stop()


@pytest.fixture
async def hub(hub_factory: Callable[..., Any]) -> Any:
    """A hub in dev mode (unknown stations accepted)."""
    return await hub_factory(dev=True)
