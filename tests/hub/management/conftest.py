"""Fixtures for the management API: a running hub, an HTTP client holding the admin token, and
a real `ocpp` 1.6 station connected to the hub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jsonschema
import pytest

from hub.openapi import build_document
from tests.harness import RunningHub, TestStation, connect_station, wait_for

STATION = "CP-1"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


class Api:
    """HTTP against the running hub; ``check`` validates an answer against the route's own
    response schema in the OpenAPI document, so the documented shape is the tested shape."""

    def __init__(self, running: RunningHub, http: aiohttp.ClientSession) -> None:
        self.running = running
        self.http = http
        self.document = build_document(running.app)

    async def call(self, method: str, path: str, *, json: Any = None,
                   params: dict[str, Any] | None = None, auth: bool = True,
                   headers: dict[str, str] | None = None, data: Any = None) -> Reply:
        all_headers = {**(self.running.auth if auth else {}), **(headers or {})}
        async with self.http.request(method, self.running.http_url + path, json=json,
                                     params=params, headers=all_headers, data=data,
                                     allow_redirects=False) as resp:
            if resp.content_type == "application/json":
                body = await resp.json()
            else:
                body = await resp.text()
            return Reply(resp.status, body, resp.headers)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, json=json, **kw)

    def schema(self, method: str, route: str, status: int = 200) -> dict[str, Any] | None:
        op = self.document["paths"][route][method.lower()]
        content = op["responses"].get(str(status), {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            return None
        return {**schema, "components": self.document["components"]}

    async def ok(self, method: str, path: str, route: str | None = None, status: int = 200,
                 **kw: Any) -> Any:
        """Call, expect ``status``, validate the body against the documented schema."""
        reply = await self.call(method, path, **kw)
        assert reply.status == status, (reply.status, reply.body)
        schema = self.schema(method, route or path, status)
        if schema is not None:
            jsonschema.validate(reply.body, schema)
        return reply.body

    async def error(self, method: str, path: str, status: int, error: str | None = None,
                    **kw: Any) -> dict[str, Any]:
        """Call, expect the one JSON error shape with ``status`` (and ``error`` code)."""
        reply = await self.call(method, path, **kw)
        assert reply.status == status, (reply.status, reply.body)
        assert isinstance(reply.body, dict) and {"error", "detail"} <= set(reply.body), reply.body
        if error is not None:
            assert reply.body["error"] == error, reply.body
        return reply.body


@pytest.fixture
def hub_factory(hub_factory: Callable[..., Any]) -> Callable[..., Any]:
    """The shared factory, in dev mode unless a test says otherwise."""

    async def factory(**overrides: Any) -> RunningHub:
        return await hub_factory(**{"dev": True, **overrides})

    return factory


@pytest.fixture
async def hub(hub_factory: Callable[..., Any]) -> RunningHub:
    return await hub_factory()


@pytest.fixture
async def api(hub: RunningHub) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(hub, http)


@pytest.fixture
async def station(hub: RunningHub) -> AsyncIterator[TestStation]:
    """CP-1, connected and booted."""
    async with connect_station(hub, STATION) as cp:
        await wait_for(lambda: STATION in hub.hub.stations)
        await cp.boot()
        yield cp
