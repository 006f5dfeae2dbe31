"""Prometheus text exposition (format 0.0.4) at /metrics, written by hand: the figures already
live in the hub's own counters, so a client library would only copy them around."""

from __future__ import annotations

import time
from collections.abc import Iterable

from aiohttp import web

from hub.auth import requires_scope
from hub.context import Hub
from hub.management.common import hub_of
from hub.management.monitoring import connections, db_pool, open_file_descriptors
from hub.metrics import MetricFamily, collect, percentile
from hub.openapi import operation

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUANTILES = (0.5, 0.9, 0.99)
# Well below Prometheus's default scrape timeout (10 s): a slow feature costs its own figures,
# not the whole scrape.
PROVIDER_TIMEOUT = 2.0
Labels = dict[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | int | None) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[Labels, float | int | None]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{label_text}}} {_number(value)}" if label_text
                              else f"{name} {_number(value)}")

    def one(self, name: str, kind: str, help_text: str, value: float | int | None) -> None:
        self.family(name, kind, help_text, [({}, value)])

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(hub: Hub, provided: Iterable[MetricFamily] = (), provider_failures: int = 0) -> str:
    """The core's figures, then the families of ``hub.metric_providers`` (``provided``)."""
    out = Exposition()
    out.one("pnc_hub_uptime_seconds", "gauge", "Seconds since the hub started.",
            round(time.time() - hub.started_at.timestamp(), 3))

    conns = connections(hub)
    out.one("pnc_hub_websocket_connections", "gauge", "Open charger WebSocket connections.",
            conns["active"])
    out.family("pnc_hub_stations_connected", "gauge", "Connected stations by OCPP version.",
               [({"ocpp_version": v}, n) for v, n in sorted(conns["by_ocpp_version"].items())])
    out.one("pnc_hub_station_connects_total", "counter", "Accepted station connections.",
            conns["connects_total"])
    out.one("pnc_hub_station_disconnects_total", "counter", "Closed station connections.",
            conns["disconnects_total"])
    out.one("pnc_hub_station_replaced_connections_total", "counter",
            "Connections closed because the station connected again.", conns["replaced_total"])

    items = hub.metrics.items()
    messages: list[tuple[Labels, int]] = []
    latencies: list[tuple[Labels, float | None]] = []
    for direction, action, stats in items:
        base = {"direction": direction, "action": action}
        messages.append(({**base, "result": "ok"}, stats.success))
        messages.append(({**base, "result": "error"}, stats.errors))
        values = sorted(stats.latencies)
        for q in QUANTILES:
            latencies.append(({**base, "quantile": str(q)}, percentile(values, q)))
    out.family("pnc_hub_ocpp_messages_total", "counter",
               "OCPP calls handled (in) and sent (out), by action and result.", messages)
    out.family("pnc_hub_ocpp_latency_seconds", "gauge",
               "Latency quantiles over recent OCPP calls, by action.", latencies)

    mlog = hub.message_log
    out.one("pnc_hub_message_log_queue_depth", "gauge", "OCPP log rows waiting to be written.",
            mlog.size)
    out.one("pnc_hub_message_log_queue_capacity", "gauge", "Capacity of the OCPP log queue.",
            mlog.maxsize)
    out.one("pnc_hub_message_log_written_total", "counter", "OCPP log rows written.",
            mlog.written)
    out.one("pnc_hub_message_log_dropped_total", "counter",
            "OCPP log rows dropped (queue full or failed batch).", mlog.dropped)

    committer = hub.committer
    out.one("pnc_hub_group_commit_queue_depth", "gauge",
            "Units of work waiting for the group committer.", committer.queue_depth)
    out.one("pnc_hub_group_commit_batches_total", "counter", "Group-commit transactions.",
            committer.batches)
    out.one("pnc_hub_group_commit_units_total", "counter", "Units of work committed.",
            committer.units)
    out.one("pnc_hub_group_commit_failures_total", "counter", "Units of work that failed.",
            committer.failures)
    out.one("pnc_hub_group_commit_seconds_total", "counter", "Time spent in group commits.",
            round(committer.commit_seconds_total, 6))

    out.family("pnc_hub_security_events_total", "counter",
               "Security events the hub detected (e.g. CsrRejected), by event and reason.",
               [({"event": e, "reason": r}, n) for e, r, n in hub.security_events.items()])

    out.one("pnc_hub_events_published_total", "counter", "Domain events published.",
            hub.bus.published)
    out.one("pnc_hub_event_handler_errors_total", "counter", "Failed event subscribers.",
            hub.bus.handler_errors)

    pool = db_pool(hub)
    backend = {"backend": pool["backend"]}
    for name, key, help_text in (
            ("size", "pool_size", "Configured pool size."),
            ("checked_out", "checked_out", "Connections in use."),
            ("checked_in", "checked_in", "Idle connections in the pool."),
            ("overflow", "overflow", "Connections beyond the pool size (negative: unused).")):
        out.family(f"pnc_hub_db_pool_{name}", "gauge", help_text, [(backend, pool[key])])

    fds = open_file_descriptors()
    if fds is not None:
        out.one("pnc_hub_process_open_fds", "gauge", "Open file descriptors.", fds)

    out.one("pnc_hub_metric_provider_failures", "gauge",
            "Metric providers that failed or timed out in this scrape (their figures are left "
            "out).", provider_failures)
    for family in provided:
        out.family(family.name, family.kind, family.help, family.samples)
    return out.text()


@requires_scope("metrics:read", "read")
@operation("Prometheus metrics (text exposition format); a metrics:read token suffices",
           tags=["monitoring"], response={"type": "string"}, response_type="text/plain",
           response_example="# TYPE pnc_hub_connected_stations gauge\n"
                            "pnc_hub_connected_stations 12\n")
async def metrics(request: web.Request) -> web.Response:
    hub = hub_of(request)
    provided, failures = await collect(hub.metric_providers, PROVIDER_TIMEOUT)
    return web.Response(body=render(hub, provided, failures).encode(),
                        headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
