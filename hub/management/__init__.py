"""The management and monitoring API: every operator endpoint of the seed, behind the admin
token (the auth middleware requires it for every route not marked public).

Core routes, wired by ``hub.app.create_app`` (not a Feature): the OCPP server's command and
monitoring routes, the broker's operational routes, the REST API's data and wallbox routes,
Prometheus text at /metrics, and /op_api_docs pointing at the OpenAPI page.
"""

from __future__ import annotations

from aiohttp import web

from hub.management import (
    api_token_routes,
    broker_routes,
    charging_profile_routes,
    cluster_routes,
    data_routes,
    firmware_routes,
    monitoring,
    ocpp_command_routes,
    ocpp_routes,
    privacy_routes,
    prometheus,
    redirect_routes,
    station_block_routes,
    station_routes,
    tariff_routes,
    wallbox_routes,
)
from hub.management.route_policy import add_post_forms, grant_scopes
from hub.management.tracker import TRACKER, WATCHER, ConnectionTracker, TransactionWatcher, tracking
from hub.openapi import operation


@operation("The seed dashboard's API viewer: redirects to /api/docs", tags=["docs"],
           status=302)
async def op_api_docs(request: web.Request) -> web.Response:
    raise web.HTTPFound("/api/docs")


def add_management_routes(app: web.Application) -> None:
    app[TRACKER] = ConnectionTracker()
    app[WATCHER] = TransactionWatcher()
    app.cleanup_ctx.append(tracking)
    for module in (monitoring, ocpp_routes, ocpp_command_routes, charging_profile_routes,
                   firmware_routes, broker_routes, redirect_routes, data_routes, wallbox_routes,
                   station_routes, station_block_routes, privacy_routes,
                   tariff_routes, cluster_routes, prometheus):
        before = set(app.router.routes())
        module.add_routes(app)
        if module is redirect_routes:
            continue  # admin only: even its GETs (/setRedirect) change where stations go
        grant_scopes([r for r in app.router.routes() if r not in before],
                     commands=module in (ocpp_routes, ocpp_command_routes,
                                         charging_profile_routes, firmware_routes))
    add_post_forms(app)
    api_token_routes.add_routes(app)  # admin only
    app.router.add_get("/op_api_docs", op_api_docs)


__all__ = ["add_management_routes"]
