"""Console fixtures: a hub with console users (admin, operator, viewer, an organisation's)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from hub.console.users import add_user
from tests.harness import RunningHub, start_hub

PASSWORD = "correct horse battery"


@pytest.fixture
async def console_hub(database_url: str) -> AsyncIterator[RunningHub]:
    running = await start_hub(database_url, dev=True, ocpp={"call_timeout": 5})
    sessions = running.hub.sessions
    await add_user(sessions, "alice", PASSWORD, "admin")
    await add_user(sessions, "olga", PASSWORD, "operator")
    await add_user(sessions, "victor", PASSWORD, "viewer")
    await add_user(sessions, "orgy", PASSWORD, "operator", "ORG-A")
    try:
        yield running
    finally:
        await running.stop()


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        match = CSRF.search(await response.text())
    assert match, f"no CSRF token on {url}"
    return match.group(1)


async def login(http: aiohttp.ClientSession, running: RunningHub, username: str,
                password: str = PASSWORD) -> Any:
    token = await csrf_of(http, running.http_url + "/console/")
    async with http.post(running.http_url + "/console/login", allow_redirects=False, data={
            "csrf": token, "username": username, "password": password}) as response:
        await response.read()
        return response
