"""Shared fixtures: a real hub on a real port and a real database (SQLite always; PostgreSQL
when PNC_HUB_TEST_POSTGRES_URL is set), and real `ocpp` 1.6 clients over WebSockets."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests import hangdump

POSTGRES_URL = os.environ.get("PNC_HUB_TEST_POSTGRES_URL")


# A test phase (setup, call or teardown) running longer than this fails with every pending
# task's stack instead of stalling the run. The slowest tests take under a minute on a loaded
# machine; a hang is a bug, and this only bounds how long it costs.
HANG_LIMIT = float(os.environ.get("PNC_HUB_TEST_HANG_LIMIT", "300"))


def pytest_configure(config: pytest.Config) -> None:
    hangdump.install(config)  # kill -USR1 <pytest pid>: where the run waits, on the terminal


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    with hangdump.hang_guard(item.config, f"setup of {item.nodeid}", HANG_LIMIT):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    with hangdump.hang_guard(item.config, item.nodeid, HANG_LIMIT):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Any:
    with hangdump.hang_guard(item.config, f"teardown of {item.nodeid}", HANG_LIMIT):
        return (yield)


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
    from tests.harness import start_hub

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
