"""Health checks: the only HTTP routes that answer without credentials.

Anonymous callers learn only that the hub is alive. The number of connected stations is in the
answer for a caller with a valid bearer token (any scope), or for everyone with
``[server] health_details = true``.
"""

from __future__ import annotations

from aiohttp import web

from hub.auth import TOKEN_VERIFIER, public
from hub.context import HUB
from hub.openapi import operation


async def _may_see_details(request: web.Request) -> bool:
    hub = request.app.get(HUB)
    if hub is None:
        return False
    if hub.config.server.health_details:
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    verifier = request.app.get(TOKEN_VERIFIER)
    if scheme.lower() != "bearer" or not token.strip() or verifier is None:
        return False
    return await verifier.verify(token.strip()) is not None


@public
@operation("Health check: whether the hub is alive; the connected-station count only with a "
           "bearer token (or [server] health_details)", tags=["health"],
           response={"type": "object", "required": ["status"], "properties": {
               "status": {"type": "string", "enum": ["ok", "starting"]},
               "connected_stations": {"type": "integer"}}})
async def health(request: web.Request) -> web.Response:
    hub = request.app.get(HUB)
    answer: dict[str, object] = {"status": "ok" if hub is not None else "starting"}
    if hub is not None and await _may_see_details(request):
        answer["connected_stations"] = len(hub.stations)
    return web.json_response(answer)


@public
@operation("Disallow crawlers", tags=["health"], response={"type": "string"},
           response_type="text/plain", response_example="User-agent: *\nDisallow: /\n")
async def robots(request: web.Request) -> web.Response:
    return web.Response(text="User-agent: *\nDisallow: /\n")


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthCheck-01", health)
    app.router.add_get("/", health)
    app.router.add_get("/robots.txt", robots)
