"""The load manager's Prometheus figures (``/metrics``, through ``Hub.metric_providers``)."""

from __future__ import annotations

import math

from hub.metrics import MetricFamily
from sites_api.load.planner import node_loads
from sites_api.load.runner import LoadManager


async def load_metric_families(manager: LoadManager) -> list[MetricFamily]:
    limits, queued, headroom, stale = [], [], [], []
    for site_id, state in list(manager.sites.items()):
        if state.plan is None:
            continue
        site = str(site_id)
        for (station, connector), item in state.plan.connectors.items():
            limits.append(({"site": site, "station": station, "connector": str(connector),
                            "state": item.state}, item.amps))
        queued.append(({"site": site}, len(state.plan.queue)))
        loads = node_loads(state.compiled, state.plan, state.readings)
        for node in state.compiled.tree.nodes:
            if math.isfinite(node.inbound_cap):
                headroom.append(({"site": site, "node": str(node.id)},
                                 node.inbound_cap - max(loads[node.id])))
        for node_id, _, _ in state.compiled.meters:
            stale.append(({"site": site, "node": str(node_id)},
                          int(node_id not in (state.readings or {}))))
    return [
        MetricFamily("pnc_hub_load_rounds_total", "counter", "load planning rounds",
                     [({}, manager.rounds)]),
        MetricFamily("pnc_hub_load_profiles_sent_total", "counter",
                     "charging profiles the load manager sent, by the station's answer",
                     [({"status": status}, n) for status, n in sorted(manager.answers.items())]),
        MetricFamily("pnc_hub_load_connector_limit_amps", "gauge",
                     "planned limit per connector and phase (A)", limits),
        MetricFamily("pnc_hub_load_queued_sessions", "gauge",
                     "sessions waiting for their minimum current", queued),
        MetricFamily("pnc_hub_load_node_headroom_amps", "gauge",
                     "a fuse node's limit less its most loaded phase as planned (A)", headroom),
        MetricFamily("pnc_hub_load_meter_fallback", "gauge",
                     "1 while a site meter has no fresh reading (its fallback_value applies)",
                     stale),
    ]
