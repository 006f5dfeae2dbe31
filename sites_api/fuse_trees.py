"""The fuse trees of a page of sites: nodes and their connectors in two queries."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from sites_api.columns import SITE_IDS, json_value, raw_json
from sites_api.models import FuseNode, FuseNodeConnector

FN = FuseNode.__table__
FNC = FuseNodeConnector.__table__
METER_KEYS = ("is_producer", "producer_name", "producer_current", "is_consumer", "consumer_name",
              "max_possible_current", "fallback_value", "primary_transformer_ratio",
              "secondary_transformer_ratio", "mqtt_topic")


def _meter(value: Any) -> dict[str, Any] | None:
    meter = json_value(value)
    if meter is None:
        return None
    if len(meter) == len(METER_KEYS):
        return meter  # written complete by the write API
    return {k: meter.get(k) for k in METER_KEYS}


def _nodes_query() -> sa.Select[Any]:
    return (sa.select(FN.c.id, FN.c.site_id, FN.c.parent_id, FN.c.type, FN.c.name, FN.c.limit,
                      FN.c.inbound_limit, FN.c.outbound_limit, FN.c.fallback,
                      FN.c.pending_fallback_value, FN.c.fallback_status, FN.c.order,
                      FN.c.fuse_id, FN.c.firmware_version, FN.c.additional_comments,
                      raw_json(FN.c.meter))
            .where(FN.c.site_id.in_(SITE_IDS))
            .order_by(FN.c.site_id, FN.c.order, FN.c.id))


def _connectors_query() -> sa.Select[Any]:
    return (sa.select(FNC.c.id, FNC.c.node_id, FNC.c.name, FNC.c.station_id,
                      FNC.c.connector_id, FNC.c.priority, raw_json(FNC.c.charging_capability),
                      raw_json(FNC.c.discharge_capability), raw_json(FNC.c.phases))
            .where(FNC.c.site_id.in_(SITE_IDS))
            .order_by(FNC.c.node_id, FNC.c.id))


def load_fuse_trees(conn: sa.Connection, site_ids: list[int]
                    ) -> dict[int, list[dict[str, Any]]]:
    nodes = conn.execute(_NODES, {"site_ids": site_ids}).all()
    if not nodes:
        return {}
    by_node: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for (connector_id, node_id, name, station_id, ocpp_connector, priority, charging,
         discharging, phases) in conn.execute(_CONNECTORS, {"site_ids": site_ids}):
        by_node[node_id].append({
            "id": str(connector_id), "name": name, "connector_id": str(ocpp_connector),
            "charging_station_id": station_id, "priority": priority,
            "charging_capability": json_value(charging) or [],
            "discharge_capability": json_value(discharging) or [],
            "phases": json_value(phases),
        })
    built: dict[int, dict[str, Any]] = {}
    children: dict[int | None, list[int]] = defaultdict(list)
    site_of: dict[int, int] = {}
    for (node_id, site_id, parent_id, kind, name, limit, inbound, outbound, fallback, pending,
         fallback_status, order, fuse_id, firmware, comments, meter) in nodes:
        built[node_id] = {
            "id": str(node_id), "type": kind,
            "parameters": {
                "name": name, "limit": limit, "inbound_limit": inbound,
                "outbound_limit": outbound, "fallback": fallback,
                "pending_fallback_value": pending, "fallback_status": fallback_status,
                "order": order, "depth": "0", "fuse_id": fuse_id, "firmware_version": firmware,
                "additional_comments": comments,
                "meter": _meter(meter),
                "connectors": by_node.get(node_id, []),
            },
            "children": [],
        }
        children[parent_id].append(node_id)
        site_of[node_id] = site_id
    trees: dict[int, list[dict[str, Any]]] = defaultdict(list)
    # Iterative walk from the roots (siblings keep the query's order): depth is the level.
    stack = [(root, 0, None) for root in reversed(children.get(None, []))]
    while stack:
        node_id, depth, parent = stack.pop()
        node = built[node_id]
        node["parameters"]["depth"] = str(depth)
        if parent is None:
            trees[site_of[node_id]].append(node)
        else:
            parent["children"].append(node)
        stack.extend((child, depth + 1, node) for child in reversed(children.get(node_id, [])))
    return trees


_NODES = _nodes_query()
_CONNECTORS = _connectors_query()
