"""``GET /api/cluster``: this node's place in the cluster (hub.cluster); ``GET
/api/cluster/stations/{station_id}``: which node holds a station's socket, as this node sees it.
On a single node both answer too (``clustered: false``, every station held here)."""

from __future__ import annotations

from aiohttp import web

from hub.management import schemas as s
from hub.management.common import hub_of
from hub.openapi import operation

TAGS = ["cluster"]
CLUSTER = s.obj(["node", "clustered"], node=s.STRING, clustered=s.BOOLEAN, name=s.STRING,
                nats_connected=s.BOOLEAN, nodes_alive=s.array(s.STRING),
                stations_held=s.INTEGER, commands_routed=s.INTEGER, commands_served=s.INTEGER,
                takeovers=s.INTEGER, events_forwarded=s.INTEGER, events_received=s.INTEGER,
                connects_heard=s.INTEGER, disconnects_heard=s.INTEGER,
                leases=s.array(s.STRING))
HOLDER = s.obj(["station_id", "connected", "node"], station_id=s.STRING, connected=s.BOOLEAN,
               node=s.NULLABLE_STRING, ocpp_version=s.NULLABLE_STRING)


@operation("This hub node in its cluster: NATS link, nodes alive, routed commands, leases",
           tags=TAGS, response=CLUSTER)
async def cluster_state(request: web.Request) -> web.Response:
    return web.json_response(hub_of(request).cluster.stats())


@operation("Which node holds a station's connection (as this node sees it)", tags=TAGS,
           parameters=[s.STATION_PATH], response=HOLDER)
async def station_holder(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = request.match_info["station_id"]
    node = None
    if station_id in hub.stations:
        node = hub.cluster.node_id
    elif hub.commands.is_connected(station_id):
        node = hub.cluster.holder_of(station_id)
    return web.json_response({"station_id": station_id, "connected": node is not None,
                              "node": node,
                              "ocpp_version": hub.commands.ocpp_version(station_id)})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/cluster", cluster_state)
    r.add_get("/api/cluster/stations/{station_id}", station_holder)
