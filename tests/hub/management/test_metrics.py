"""Prometheus text at /metrics: well-formed exposition, and the figures follow real traffic."""

from __future__ import annotations

import asyncio
import math
import re

from hub.management import prometheus
from hub.metrics import MetricFamily
from tests.harness import RunningHub, TestStation, wait_for
from tests.hub.management.conftest import STATION, Api

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
                    r',?)*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A strict reader of the text format: every sample belongs to a family declared once
    with HELP and TYPE before its samples; counters end in _total."""
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    types: dict[str, str] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in families, f"{name} declared twice"
            families[name] = []
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped")
            assert kind != "counter" or name.endswith("_total"), name
            types[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, f"malformed sample line: {line!r}"
            name = match.group(1)
            assert name in families and name in types, f"undeclared family {name}"
            labels = dict(LABEL.findall(match.group(3) or ""))
            families[name].append((labels, float(match.group(4))))
    return families


def value(families: dict[str, list[tuple[dict[str, str], float]]], name: str,
          **labels: str) -> float:
    for sample_labels, sample_value in families[name]:
        if all(sample_labels.get(k) == v for k, v in labels.items()):
            return sample_value
    raise AssertionError(f"no sample {name}{labels}")


async def test_metrics_exposition(hub: RunningHub, api: Api, station: TestStation) -> None:
    await api.ok("POST", "/api/reset", json={"station_id": STATION})
    await wait_for(lambda: hub.hub.message_log.written >= 4)
    reply = await api.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = parse(reply.body)

    assert value(families, "pnc_hub_websocket_connections") == 1
    assert value(families, "pnc_hub_stations_connected", ocpp_version="1.6") == 1
    assert value(families, "pnc_hub_station_connects_total") == 1
    assert value(families, "pnc_hub_ocpp_messages_total", direction="in",
                 action="BootNotification", result="ok") == 1
    assert value(families, "pnc_hub_ocpp_messages_total", direction="out", action="Reset",
                 result="ok") == 1
    assert value(families, "pnc_hub_ocpp_messages_total", direction="out", action="Reset",
                 result="error") == 0
    latency = value(families, "pnc_hub_ocpp_latency_seconds", direction="out", action="Reset",
                    quantile="0.5")
    assert 0 < latency < 10
    assert value(families, "pnc_hub_message_log_queue_capacity") == 5000
    assert value(families, "pnc_hub_message_log_written_total") >= 4
    assert value(families, "pnc_hub_group_commit_queue_depth") >= 0
    assert value(families, "pnc_hub_group_commit_batches_total") >= 1
    backend = hub.hub.engine.url.get_backend_name()
    assert value(families, "pnc_hub_db_pool_size", backend=backend) == hub.hub.engine.pool.size()
    assert not math.isnan(value(families, "pnc_hub_db_pool_checked_out", backend=backend))
    assert value(families, "pnc_hub_process_open_fds") > 0


async def test_metrics_need_a_token(api: Api) -> None:
    assert (await api.get("/metrics", auth=False)).status == 401


async def test_label_values_are_escaped(hub: RunningHub, api: Api) -> None:
    hub.hub.metrics.record("in", 'Weird"Action\\\n', 0.001, error="X")
    families = parse((await api.get("/metrics")).body)
    assert value(families, "pnc_hub_ocpp_messages_total", direction="in",
                 action='Weird\\"Action\\\\\\n', result="error") == 1


async def test_features_contribute_through_metric_providers(hub: RunningHub, api: Api,
                                                            monkeypatch) -> None:
    monkeypatch.setattr(prometheus, "PROVIDER_TIMEOUT", 0.2)

    async def queue() -> list[MetricFamily]:
        return [MetricFamily("pnc_hub_test_queue_depth", "gauge", "Rows waiting, by lane.",
                             [({"lane": "a"}, 3), ({"lane": "b"}, 0)]),
                MetricFamily("pnc_hub_test_sent_total", "counter", "Rows sent.", [({}, 7)])]

    async def broken() -> list[MetricFamily]:
        raise RuntimeError("database gone")

    async def slow() -> list[MetricFamily]:
        await asyncio.sleep(30)
        return [MetricFamily("pnc_hub_test_slow", "gauge", "Never shown.", [({}, 1)])]

    families = parse((await api.get("/metrics")).body)
    assert value(families, "pnc_hub_metric_provider_failures") == 0
    hub.hub.metric_providers.extend([broken, queue, slow])
    reply = await api.get("/metrics")
    assert reply.status == 200
    families = parse(reply.body)
    assert value(families, "pnc_hub_test_queue_depth", lane="a") == 3
    assert value(families, "pnc_hub_test_queue_depth", lane="b") == 0
    assert value(families, "pnc_hub_test_sent_total") == 7
    assert "pnc_hub_test_slow" not in families
    assert value(families, "pnc_hub_metric_provider_failures") == 2
    assert value(families, "pnc_hub_websocket_connections") == 0  # the core's figures stay
