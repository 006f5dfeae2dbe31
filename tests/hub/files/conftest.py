"""Fixtures for hub.files: a running hub with the FTP server on an ephemeral port, an HTTP
client, and a real `ocpp` 1.6 station that uploads to the location it is given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from hub.files.models import StoredFile
from tests.harness import RunningHub, TestStation, connect_station, wait_for

STATION = "CP-FILES"
FILES = {"ftp_enabled": True, "ftp_host": "127.0.0.1", "ftp_port": 0,
         "max_upload_bytes": 64 * 1024, "sweep_interval": 0.1}


@pytest.fixture
def hub_factory(hub_factory: Callable[..., Any]) -> Callable[..., Any]:
    """The shared factory with ``[files]`` set for these tests (FTP on, small limits)."""

    async def factory(**files: Any) -> RunningHub:
        return await hub_factory(dev=True, files={**FILES, **files})

    return factory


@pytest.fixture
async def hub(hub_factory: Callable[..., Any]) -> RunningHub:
    return await hub_factory()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def station(hub: RunningHub) -> AsyncIterator[TestStation]:
    async with connect_station(hub, STATION) as cp:
        await wait_for(lambda: STATION in hub.hub.stations)
        await cp.boot()
        yield cp


class Background:
    """Work a station starts from inside a (synchronous) command answer, awaited by the test."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def start(self, coro: Any) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def wait(self) -> list[Any]:
        return await asyncio.gather(*self.tasks)


@pytest.fixture
def background() -> Background:
    return Background()


async def api(running: RunningHub, http: aiohttp.ClientSession, method: str, path: str,
              status: int = 200, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    async with http.request(method, running.http_url + path,
                            headers={**running.auth, **(headers or {})}, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else \
            await resp.read()
        assert resp.status == status, (resp.status, body)
        return body


async def request_state(running: RunningHub, http: aiohttp.ClientSession, kind: str,
                        request_id: int, *states: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll the request until it is in one of ``states``."""
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        seen.update(await api(running, http, "GET", f"/api/{kind}/requests/{request_id}"))
        return seen["state"] in states

    try:
        await wait_for(reached, timeout=timeout, interval=0.05)
    except AssertionError:
        raise AssertionError(f"request stayed {seen.get('state')}: {seen}") from None
    return seen


def files_on_disk(running: RunningHub) -> list[Path]:
    root = Path(running.hub.config.files.data_dir)
    return sorted(p for p in root.rglob("*") if p.is_file())


async def stored_count(running: RunningHub) -> int:
    async with running.hub.sessions() as session:
        return (await session.execute(sa.select(sa.func.count()).select_from(StoredFile))
                ).scalar_one()
