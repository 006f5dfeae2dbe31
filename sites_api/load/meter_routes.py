"""``PUT /sites/{id}/fuse-tree/nodes/{node_id}/meter-reading``: a site meter's reading.

The reading (A, raw: before the meter's transformer ratio; one number for every phase, or three
for L1..L3) goes to the load manager, which re-plans the site (at most once per
``[load] replan_interval``). Readings are kept in memory: one older than ``[load]
meter_max_age``, or none since the hub started, counts as missing and the meter's
``fallback_value`` is planned instead. MQTT readings (``sites_api.load.mqtt_meters``) take the
same way in.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web

from hub.auth import requires_scope
from hub.errors import ApiError, bad_request
from hub.feature_api import HUB
from hub.json_body import read_json
from hub.openapi import operation
from hub.services.timestamps import format_timestamp
from sites_api.load.measurements import meter_value
from sites_api.load.runner import LOAD
from sites_api.models import FuseNode, Organisation, Site
from sites_api.readmodel import Scope
from sites_api.routes import SITE_PATH, json_response, scope_of, site_id_of

WRITE = "sites:write"
NODE_PATH = SITE_PATH + r"/fuse-tree/nodes/{node_id:\d{1,18}}"
VALUE = {"oneOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"},
                                          "minItems": 3, "maxItems": 3}],
         "description": "A per phase (raw, before the transformer ratio): one number for "
                        "every phase, or three for L1, L2, L3", "examples": [20.0]}
READING_BODY = {"type": "object", "required": ["value"], "additionalProperties": False,
                "properties": {"value": VALUE}}
READING = {"type": "object", "required": ["node_id", "value", "received_at", "source"],
           "properties": {"node_id": {"type": "string"}, "value": VALUE,
                          "received_at": {"type": "string"}, "source": {"type": "string"},
                          "max_age": {"type": "number", "description": "s ([load] "
                                      "meter_max_age): older, the fallback_value applies"}}}


def parse_reading(body: Any) -> float | tuple[float, float, float]:
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    for name in body:
        if name != "value":
            raise bad_request(name, "unknown field")
    if "value" not in body:
        raise bad_request("value", "is required")
    value = meter_value(body["value"])
    if value is None:
        raise bad_request("value", "must be a finite number or an array of three")
    return value


async def metered_node(conn: Any, scope: Scope, site_id: int, node_id: int) -> dict[str, Any]:
    """The node's meter, if the node is on the site and the site is the caller's (else 404)."""
    visible = Site.__table__.c.organisation_id.in_(
        sa.select(Organisation.__table__.c.id).where(scope.condition()))
    node = FuseNode.__table__
    row = (await conn.execute(
        sa.select(node.c.meter).select_from(node.join(Site.__table__,
                                                      Site.__table__.c.id == node.c.site_id))
        .where(node.c.id == node_id, node.c.site_id == site_id, visible))).first()
    if row is None:
        raise ApiError(404, "not_found", f"node {node_id} of site {site_id} does not exist")
    meter = row[0] if isinstance(row[0], dict) else None
    if not meter or not (meter.get("is_producer") or meter.get("is_consumer")):
        raise ApiError(409, "no_meter", f"node {node_id} has no producer or consumer meter",
                       field="meter")
    return meter


@requires_scope(WRITE)
@operation("Report a site meter's reading (the load manager plans with it until it is older "
           "than [load] meter_max_age)", tags=["sites"], body=READING_BODY, response=READING,
           responses={"404": {"description": "no such site or node (or not yours)"},
                      "409": {"description": "the node has no producer or consumer meter"}})
async def put_meter_reading(request: web.Request) -> web.Response:
    value = parse_reading(await read_json(request))
    site_id, node_id = site_id_of(request), int(request.match_info["node_id"])
    async with request.app[HUB].engine.connect() as conn:
        await metered_node(conn, scope_of(request), site_id, node_id)
    manager = request.app[LOAD]
    reading = manager.record_meter_reading(site_id, node_id, value, "api")
    return json_response({
        "node_id": str(node_id), "value": value if isinstance(value, float | int) else
        list(value), "received_at": format_timestamp(reading.received), "source": "api",
        "max_age": manager.settings.meter_max_age})


def add_meter_routes(app: web.Application) -> None:
    app.router.add_put(NODE_PATH + "/meter-reading", put_meter_reading)
