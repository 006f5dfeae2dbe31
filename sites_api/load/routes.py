"""``GET /sites/{id}/load``: what the load manager planned for a site, sent and measured."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from hub.auth import requires_scope
from hub.errors import ApiError
from hub.openapi import operation
from hub.services.timestamps import format_timestamp
from sites_api.load.planner import node_loads
from sites_api.load.runner import LOAD, LoadManager, SiteState
from sites_api.reader import READER
from sites_api.readmodel import load_site
from sites_api.routes import READ, SITE_PATH, json_response, scope_of, site_id_of

NUMBERS = {"type": "array", "items": {"type": ["number", "null"]}, "minItems": 3, "maxItems": 3,
           "examples": [[16.0, 16.0, 16.0]], "description": "per phase L1, L2, L3 (A)"}
NODE = {"type": "object", "required": ["id", "limit", "planned", "measured"], "properties": {
    "id": {"type": "string"}, "name": {"type": ["string", "null"]},
    "limit": {"type": ["number", "null"], "description": "inbound cap per phase (A)"},
    "outbound_limit": {"type": ["number", "null"]},
    "planned": NUMBERS, "measured": NUMBERS,
    "meter": {"type": ["object", "null"], "description": "the node meter's last reading",
              "properties": {
                  "value": {"type": ["number", "array"], "items": {"type": "number"},
                            "description": "A (raw, before the transformer ratio)"},
                  "received_at": {"type": "string"}, "source": {"type": "string"},
                  "stale": {"type": "boolean",
                            "description": "older than [load] meter_max_age: the meter's "
                                           "fallback_value is planned instead"}}}}}
CONNECTOR = {"type": "object", "required": ["station_id", "connector_id", "state", "planned"],
             "properties": {
                 "station_id": {"type": "string"}, "connector_id": {"type": "integer"},
                 "state": {"type": "string", "enum": ["charging", "queued", "idle", "fixed"]},
                 "phases": {"type": "array", "items": {"type": "integer"}},
                 "planned": {"type": "number"}, "limit_sent": {"type": ["number", "null"]},
                 "acknowledged": {"type": "boolean"}, "status": {"type": ["string", "null"]},
                 "sent_at": {"type": ["string", "null"]}, "measured": NUMBERS,
                 "demand": {"type": ["number", "null"],
                            "description": "what the car settled at plus the margin (A); "
                                           "null: as much as it may get"}}}
LOAD_VIEW = {"type": "object", "required": ["site_id", "nodes", "connectors", "queue"],
             "properties": {"site_id": {"type": "string"},
                            "planned_at": {"type": ["string", "null"]},
                            "nodes": {"type": "array", "items": NODE},
                            "connectors": {"type": "array", "items": CONNECTOR},
                            "queue": {"type": "array", "items": {"type": "string"}}}}


def _cap(value: float) -> float | None:
    return None if math.isinf(value) else value


def _meter_view(manager: LoadManager, state: SiteState, node_id: Any) -> dict[str, Any] | None:
    reading = manager.meter_readings.get(node_id)
    if reading is None:
        return None
    value = reading.value if isinstance(reading.value, float | int) else list(reading.value)
    return {"value": value, "received_at": format_timestamp(reading.received),
            "source": reading.source, "stale": node_id not in (state.readings or {})}


def load_view(manager: LoadManager, state: SiteState) -> dict[str, Any]:
    plan = state.plan
    assert plan is not None
    planned = node_loads(state.compiled, plan, state.readings)
    connectors, measured_nodes = [], {}
    for node in state.compiled.tree.nodes:
        measured_nodes[node.id] = [None, None, None]
    for key, item in plan.connectors.items():
        sent = manager.sent.get(key)
        seen = manager.measured.get(key)
        measured = list(seen.amps) if seen is not None else [None, None, None]
        connectors.append({
            "station_id": key[0], "connector_id": key[1], "state": item.state,
            "phases": list(item.phases), "planned": item.amps,
            "limit_sent": sent.amps if sent else None,
            "acknowledged": bool(sent and sent.status == "Accepted"),
            "status": sent.status if sent else None,
            "sent_at": format_timestamp(sent.at) if sent else None, "measured": measured,
            "demand": manager.demands.get(key)})
        node = state.compiled.connectors[key].node
        for j in state.compiled.lineage[state.compiled.node_index[node]]:
            totals = measured_nodes[state.compiled.tree.nodes[j].id]
            for p in range(3):
                if measured[p] is not None:
                    totals[p] = (totals[p] or 0.0) + measured[p]
    nodes = [{"id": str(node.id), "name": state.site.names.get(node.id),
              "limit": _cap(node.inbound_cap), "outbound_limit": _cap(node.outbound_cap),
              "planned": list(planned[node.id]), "measured": measured_nodes[node.id],
              "meter": _meter_view(manager, state, node.id)}
             for node in state.compiled.tree.nodes]
    return {"site_id": str(state.site_id),
            "planned_at": format_timestamp(state.planned_at) if state.planned_at else None,
            "nodes": nodes, "connectors": connectors,
            "queue": [f"{station}/{connector}" for station, connector in plan.queue]}


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
