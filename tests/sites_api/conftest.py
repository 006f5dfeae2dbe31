"""Fixtures for the Sites API: a running hub (SQLite and PostgreSQL) and HTTP clients holding
admin or organisation tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from hub.auth import create_token
from sites_api.writes import ensure_organisation
from tests.harness import RunningHub


class Api:
    """A small JSON client bound to one hub and one bearer token."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http = http
        self.base = base
        self.token = token

    async def call(self, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        kwargs: dict[str, Any] = {"headers": all_headers}
        if body is not None:
            kwargs["json"] = body
        async with self.http.request(method, self.base + path, **kwargs) as resp:
            data = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, data, resp.headers

    async def get(self, path: str, **kw: Any) -> tuple[int, Any, Any]:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any, Any]:
        return await self.call("POST", path, body, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> tuple[int, Any, Any]:
        return await self.call("PUT", path, body, **kw)

    async def patch(self, path: str, body: Any, **kw: Any) -> tuple[int, Any, Any]:
        return await self.call("PATCH", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any, Any]:
        return await self.call("DELETE", path, **kw)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


#: Organisations the tests' sites belong to; created by an admin before any site, as
#: organisations are created explicitly (``PUT /organisations/{key}``).
ORGANISATIONS = ("acme", "org-a", "org-b")


@pytest.fixture
async def admin(hub: RunningHub, http: aiohttp.ClientSession) -> Api:
    api = Api(http, hub.http_url, hub.admin_token)
    for key in ORGANISATIONS:
        status, body, _ = await api.put(f"/organisations/{key}", {"name": key.upper()})
        assert status == 200, body
    return api


@pytest.fixture
def token_api(hub: RunningHub, http: aiohttp.ClientSession) -> Callable[..., Any]:
    """``await token_api(org, *scopes)`` -> an Api holding a new organisation token (the
    organisation is created first, as an admin would before handing out its tokens)."""

    async def make(org: str | None, *scopes: str) -> Api:
        if org is not None:
            async with hub.hub.engine.begin() as conn:
                await ensure_organisation(conn, org, None)
        token = await create_token(hub.hub.sessions, f"{org} {' '.join(scopes)}",
                                   list(scopes), org)
        return Api(http, hub.http_url, token)

    return make
