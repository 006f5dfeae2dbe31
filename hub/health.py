"""Health checks: the only HTTP routes that answer without credentials."""

from __future__ import annotations

from aiohttp import web

from hub.auth import public
from hub.context import HUB
from hub.openapi import operation


@public
@operation("Health check", tags=["health"], response={"type": "object"})
async def health(request: web.Request) -> web.Response:
    hub = request.app.get(HUB)
    return web.json_response({
        "status": "ok" if hub is not None else "starting",
        "connected_stations": len(hub.stations) if hub else 0,
    })


@public
@operation("Disallow crawlers", tags=["health"], response={"type": "string"},
           response_type="text/plain", response_example="User-agent: *\nDisallow: /\n")
async def robots(request: web.Request) -> web.Response:
    return web.Response(text="User-agent: *\nDisallow: /\n")


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthCheck-01", health)
    app.router.add_get("/", health)
    app.router.add_get("/robots.txt", robots)
