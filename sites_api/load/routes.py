"""``GET /sites/{id}/load``: what the load manager planned for a site, sent and measured."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth import requires_scope
from hub.errors import ApiError
from hub.openapi import operation
from sites_api.load.live import cap, site_live
from sites_api.load.runner import LOAD, LoadManager, SiteState
from sites_api.reader import READER
from sites_api.readmodel import load_site
from sites_api.routes import READ, SITE_PATH, json_response, scope_of, site_id_of
from sites_api.schemas import CONNECTOR_LIVE, NODE_LIVE

NODE = {"type": "object", "required": ["id", "limit", "planned", "measured"], "properties": {
    "id": {"type": "string"}, "name": {"type": ["string", "null"]},
    "limit": {"type": ["number", "null"], "description": "inbound cap per phase (A)"},
    "outbound_limit": {"type": ["number", "null"]}, **NODE_LIVE["properties"]}}
CONNECTOR = {"type": "object", "required": ["station_id", "connector_id", "state", "planned"],
             "properties": {"station_id": {"type": "string"}, "connector_id": {"type": "integer"},
                            **CONNECTOR_LIVE["properties"]}}
LOAD_VIEW = {"type": "object", "required": ["site_id", "nodes", "connectors", "queue"],
             "properties": {"site_id": {"type": "string"},
                            "planned_at": {"type": ["string", "null"]},
                            "nodes": {"type": "array", "items": NODE},
                            "connectors": {"type": "array", "items": CONNECTOR},
                            "queue": {"type": "array", "items": {"type": "string"}}}}


def load_view(manager: LoadManager, state: SiteState) -> dict[str, Any]:
    live = site_live(manager, state)
    nodes = [{"id": str(node.id), "name": state.site.names.get(node.id),
              "limit": cap(node.inbound_cap), "outbound_limit": cap(node.outbound_cap),
              **live.nodes[node.id]}
             for node in state.compiled.tree.nodes]
    connectors = [{"station_id": station, "connector_id": connector, **values}
                  for (station, connector), values in live.connectors.items()]
    return {"site_id": str(state.site_id), "planned_at": live.planned_at,
            "nodes": nodes, "connectors": connectors, "queue": live.queue}


@requires_scope(*READ)
@operation("Load management of a site: per node limit, planned and measured current; per "
           "connector the limit planned, sent and acknowledged", tags=["sites"],
           response=LOAD_VIEW,
           responses={"404": {"description": "no such site (or not your organisation's)"}})
async def get_site_load(request: web.Request) -> web.Response:
    site_id = site_id_of(request)
    if await request.app[READER].run(load_site, scope_of(request), site_id) is None:
        raise ApiError(404, "not_found", f"site {site_id} does not exist")
    manager = request.app[LOAD]
    state = manager.sites.get(site_id)
    if state is None or state.plan is None:
        await manager.replan(site_id)
        state = manager.sites[site_id]
    return json_response(load_view(manager, state))


def add_load_routes(app: web.Application) -> None:
    app.router.add_get(SITE_PATH + "/load", get_site_load)
