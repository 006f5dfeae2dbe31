"""OICP benchmark: webhook-to-charger latency and outbox drain throughput.

    python3 bench/bench_oicp.py [--stations 20] [--starts 200] [--transactions 100]
                                [--status-changes 2000] [--database-url URL]

Runs a real hub (SQLite in a temporary folder unless --database-url), real `ocpp` 1.6 chargers
over WebSockets and the mock Hubject from the tests (its OpenAPI validation off, so that the
figures are the hub's). Prints:

- remote start: Hubject webhook POST -> RemoteStartTransaction arriving at the charger (p50,
  p99), and the webhook's full round trip (answered after the charger accepted);
- outbox drain: Hubject is down while the chargers produce status changes and sessions
  (notifications and CDRs), then comes back; rows drained per second and requests per second
  until the outbox is empty (Hubject's per-minute rate limits are lifted for the measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
from ocpp.v16 import call, call_result  # noqa: E402

from oicp import OICP  # noqa: E402
from oicp.config import DEFAULT_RATE_LIMITS  # noqa: E402
from oicp.mock_hubject import MockHubject  # noqa: E402
from tests.harness import connect_station, now, start_hub, wait_for  # noqa: E402

PROVIDER = "DE*8EO"
EVCO = "DE-8EO-CAB12345C-7"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def main(args: argparse.Namespace) -> None:
    mock = await MockHubject(spec=None).start()
    evses = [{"evse_id": f"DE*ABC*E{s:04d}*{c}", "station_id": f"CP-{s}", "connector_id": c}
             for s in range(args.stations) for c in (1, 2)]
    settings = {
        "operator_id": "DE*ABC", "operator_name": "Bench", "base_url": mock.url,
        "poll_interval": 0.2, "retry_initial": 0.05, "retry_max": 0.5, "retry_attempts": 2,
        "request_timeout": 2.0, "providers": [PROVIDER], "evses": evses,
        "hotline_phone_number": "+4930123456", "progress_interval": 0,
        "rate_limits": {name: 1_000_000 for name in DEFAULT_RATE_LIMITS},
    }
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        running = await start_hub(url, dev=True, oicp=settings, ocpp={"call_timeout": 10},
                                  message_log={"enabled": False})
        try:
            await run(running, mock, evses, args)
        finally:
            await running.stop()
            await mock.stop()


async def run(running: Any, mock: MockHubject, evses: list[dict[str, Any]],
              args: argparse.Namespace) -> None:
    arrivals: dict[str, float] = {}

    def remote_start(**kw: Any) -> Any:
        arrivals[kw["id_tag"]] = time.perf_counter()
        return call_result.RemoteStartTransaction(status="Accepted")

    stations = {}
    contexts = []
    for s in range(args.stations):
        ctx = connect_station(running, f"CP-{s}")
        station = await ctx.__aenter__()
        contexts.append(ctx)
        station.answers["RemoteStartTransaction"] = remote_start
        await station.boot()
        for c in (1, 2):
            await station.call(call.StatusNotification(connector_id=c, error_code="NoError",
                                                       status="Available"))
        stations[f"CP-{s}"] = station
    await wait_for(lambda: len(mock.latest_status()) == len(evses), timeout=60)

    # -- webhook -> charger latency -------------------------------------------------------
    start_path = f"{running.http_url}/api/oicp/charging/v21/providers/{PROVIDER}"
    to_charger, round_trip = [], []
    async with aiohttp.ClientSession() as http:
        for i in range(args.starts):
            evse = evses[i % len(evses)]
            sid = str(uuid.uuid4())
            # a distinct contract per start, so that each arrival is told apart
            evco = f"DE-8EO-C{i:08d}-{i % 10}"
            body = {"SessionID": sid, "ProviderID": PROVIDER, "EvseID": evse["evse_id"],
                    "Identification": {"RemoteIdentification": {"EvcoID": evco}}}
            sent = time.perf_counter()
            async with http.post(f"{start_path}/authorize-remote/start", json=body) as r:
                ack = await r.json()
            answered = time.perf_counter()
            assert ack["Result"], ack
            to_charger.append(arrivals[evco.upper()] - sent)
            round_trip.append(answered - sent)
            async with http.post(f"{start_path}/authorize-remote/stop", json={
                    "SessionID": sid, "ProviderID": PROVIDER, "EvseID": evse["evse_id"]}) as r:
                ack = await r.json()
                assert ack["Result"], ack
    ms = 1000
    print(f"remote start webhook -> RemoteStartTransaction at the charger ({args.starts} "
          f"starts): p50 {percentile(to_charger, .5) * ms:.2f} ms, "
          f"p99 {percentile(to_charger, .99) * ms:.2f} ms, "
          f"mean {statistics.mean(to_charger) * ms:.2f} ms")
    print(f"remote start webhook round trip (answer after the charger accepted): "
          f"p50 {percentile(round_trip, .5) * ms:.2f} ms, "
          f"p99 {percentile(round_trip, .99) * ms:.2f} ms")

    # -- outbox drain -----------------------------------------------------------------------
    rt = running.app[OICP]
    await wait_for(lambda: rt.worker.stats()["active"], timeout=10)

    async def depth() -> int:
        return (await rt.metrics())["outbox"]["depth"]

    mock.mode = "5xx"
    requests_before = len(mock.accepted())
    produced_started = time.perf_counter()
    cycle = ["Preparing", "Charging", "SuspendedEV", "Charging", "Finishing", "Available"]
    changes = 0
    while changes < args.status_changes:
        for station in stations.values():
            for c in (1, 2):
                await station.call(call.StatusNotification(
                    connector_id=c, error_code="NoError", status=cycle[changes % len(cycle)]))
                changes += 1
    for i in range(args.transactions):
        station = stations[f"CP-{i % args.stations}"]
        sid = str(uuid.uuid4())
        evse = f"DE*ABC*E{i % args.stations:04d}*1"
        evco = f"DE-8EO-C9{i:07d}-{i % 10}"
        body = {"SessionID": sid, "ProviderID": PROVIDER, "EvseID": evse,
                "Identification": {"RemoteIdentification": {"EvcoID": evco}}}
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                   status="Available"))
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{start_path}/authorize-remote/start", json=body) as r:
                ack = await r.json()
                assert ack["Result"], ack
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag=evco.upper(), meter_start=0, timestamp=now()))
        await station.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                            meter_value=[{"timestamp": now(), "sampled_value": [
                                                {"value": "1000", "unit": "Wh"}]}]))
        await station.call(call.StopTransaction(meter_stop=2000, timestamp=now(),
                                                transaction_id=started.transaction_id))
    produced = time.perf_counter() - produced_started
    backlog = (await rt.metrics())["outbox"]
    rows = backlog["depth"]
    print(f"backlog while Hubject was down: {rows} rows ({backlog['lanes']['status']['depth']} "
          f"status, {backlog['lanes']['notification']['depth']} notifications, "
          f"{backlog['lanes']['cdr']['depth']} CDRs), produced in {produced:.1f} s")
    mock.mode = "ok"
    drain_started = time.perf_counter()
    rt.worker.wake()
    while await depth():  # noqa: ASYNC110 - polling the database is what is measured
        await asyncio.sleep(0.02)
    drained = time.perf_counter() - drain_started
    requests = len(mock.accepted()) - requests_before
    print(f"outbox drain: {rows} rows in {drained:.2f} s = {rows / drained:.0f} rows/s, "
          f"{requests} Hubject requests = {requests / drained:.0f} requests/s "
          f"(statuses coalesced: {rt.worker.coalesced})")
    assert len(mock.accepted("ChargeDetailRecord")) == args.transactions
    for ctx in contexts:
        await ctx.__aexit__(None, None, None)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)  # the planned outage's retry warnings are noise
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--starts", type=int, default=200)
    parser.add_argument("--transactions", type=int, default=100)
    parser.add_argument("--status-changes", type=int, default=2000)
    parser.add_argument("--database-url")
    asyncio.run(main(parser.parse_args()))
