"""What the load manager knows of a site right now, per fuse node and per connector.

One source for both views: ``GET /sites/{id}/load`` lists these figures, and the Sites API's
fuse tree carries them as each node's ``parameters.live`` and each tree connector's ``live``
(null when the manager holds no plan of the site). Live values are never stored: the site's
version (its ETag) moves with writes only, not with readings.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from hub.services.timestamps import format_timestamp
from sites_api.load.planner import node_loads
from sites_api.load.runner import LoadManager, SiteState
from sites_api.load.site_data import Key


@dataclass(frozen=True)
class SiteLive:
    """A site's live figures: per node id and per connector key, as the API shows them."""

    planned_at: str | None
    nodes: dict[Any, dict[str, Any]]
    connectors: dict[Key, dict[str, Any]]
    queue: list[str]


def cap(value: float) -> float | None:
    return None if math.isinf(value) else value


def meter_reading(manager: LoadManager, state: SiteState, node_id: Any
                  ) -> dict[str, Any] | None:
    reading = manager.meter_readings.get(node_id)
    if reading is None:
        return None
    value = reading.value if isinstance(reading.value, float | int) else list(reading.value)
    return {"value": value, "received_at": format_timestamp(reading.received),
            "source": reading.source,
            "age_seconds": round(max(time.monotonic() - reading.at, 0.0), 3),
            "stale": node_id not in (state.readings or {})}


def site_live(manager: LoadManager, state: SiteState) -> SiteLive:
    plan = state.plan
    assert plan is not None
    compiled = state.compiled
    measured_nodes: dict[Any, list[float | None]] = {
        node.id: [None, None, None] for node in compiled.tree.nodes}
    connectors: dict[Key, dict[str, Any]] = {}
    for key, item in plan.connectors.items():
        sent = manager.sent.get(key)
        seen = manager.measured.get(key)
        measured = list(seen.amps) if seen is not None else [None, None, None]
        connectors[key] = {
            "state": item.state, "phases": list(item.phases), "planned": item.amps,
            "limit_sent": sent.amps if sent else None,
            "acknowledged": bool(sent and sent.status == "Accepted"),
            "status": sent.status if sent else None,
            "sent_at": format_timestamp(sent.at) if sent else None, "measured": measured,
            "demand": manager.demands.get(key)}
        node = compiled.connectors[key].node
        for j in compiled.lineage[compiled.node_index[node]]:
            totals = measured_nodes[compiled.tree.nodes[j].id]
            for p in range(3):
                if measured[p] is not None:
                    totals[p] = (totals[p] or 0.0) + measured[p]
    planned = node_loads(compiled, plan, state.readings)
    nodes = {node.id: {"planned": list(planned[node.id]), "measured": measured_nodes[node.id],
                       "meter": meter_reading(manager, state, node.id)}
             for node in compiled.tree.nodes}
    return SiteLive(format_timestamp(state.planned_at) if state.planned_at else None,
                    nodes, connectors,
                    [f"{station}/{connector}" for station, connector in plan.queue])


def current_live(manager: LoadManager | None, site_id: int) -> SiteLive | None:
    """The site's live figures if the manager holds a plan of it (no round is started)."""
    state = manager.sites.get(site_id) if manager is not None else None
    if state is None or state.plan is None:
        return None
    return site_live(manager, state)  # type: ignore[arg-type]


def add_live_to_tree(nodes: list[dict[str, Any]], live: SiteLive | None) -> None:
    """Set ``parameters.live`` on every node of a served fuse tree and ``live`` on its
    connectors (null where the manager has nothing for them)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        params = node["parameters"]
        params["live"] = live.nodes.get(int(node["id"])) if live is not None else None
        for connector in params["connectors"]:
            key = (connector["charging_station_id"], int(connector["connector_id"]))
            connector["live"] = live.connectors.get(key) if live is not None else None
        stack.extend(node["children"])
