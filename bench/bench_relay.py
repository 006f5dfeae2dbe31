"""Broker relay cost: Heartbeat round trips through the hub's relay vs straight to the upstream.

    python3 bench/bench_relay.py                      # 10 stations, 10 s per phase
    python3 bench/bench_relay.py --stations 50 --seconds 20 --json out.json

Two servers, each its own subprocess (bench/ocpp_bench/servers.py):

- the upstream: bench/baseline_ocpp_server.py, the ``ocpp`` package's canonical central system;
- the hub: ``python3 -m hub serve --dev`` on a fresh SQLite database, every bench station
  redirected (relay mode) to the upstream through ``POST /api/op_redirects``.

Phases (the same stations, OCPP 1.6, raw frames from ``websockets`` clients so that the generator
costs little): **direct** (stations -> upstream) and **relay** (stations -> hub -> upstream).
Each station loops Heartbeat -> answer back to back for ``--seconds``. Reported: round trips per
second, latency p50/p99/max, and CPU per round trip of each server process (user + system, from
psutil): the hub's CPU per relayed Heartbeat is what the relay costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_bench.servers import Server  # noqa: E402

HEARTBEAT = '[2,"{id}","Heartbeat",{{}}]'


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def station_loop(url: str, seconds: float, latencies: list[float]) -> int:
    async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=30,
                                  ping_interval=None) as ws:
        boot = ('[2,"boot","BootNotification",{"chargePointVendor":"Bench",'
                '"chargePointModel":"Relay"}]')
        await ws.send(boot)
        await ws.recv()
        deadline = time.perf_counter() + seconds
        count = 0
        while time.perf_counter() < deadline:
            unique_id = uuid.uuid4().hex[:16]
            started = time.perf_counter()
            await ws.send(HEARTBEAT.format(id=unique_id))
            answer = json.loads(await ws.recv())
            if answer[0] != 3 or answer[1] != unique_id:
                raise RuntimeError(f"unexpected answer {answer!r}")
            latencies.append(time.perf_counter() - started)
            count += 1
        return count


async def phase(name: str, base: str, ids: list[str], seconds: float,
                servers: list[Server]) -> dict[str, Any]:
    latencies: list[float] = []
    cpu_before = [s.cpu_seconds() or 0.0 for s in servers]
    started = time.perf_counter()
    counts = await asyncio.gather(*(station_loop(f"{base}/{i}", seconds, latencies)
                                    for i in ids))
    elapsed = time.perf_counter() - started
    cpu = [(s.cpu_seconds() or 0.0) - b for s, b in zip(servers, cpu_before, strict=True)]
    total = sum(counts)
    result = {
        "phase": name, "round_trips": total, "per_second": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "max_ms": round(max(latencies) * 1000, 3),
        "cpu_us_per_round_trip": {s.kind: round(c / total * 1e6, 1)
                                  for s, c in zip(servers, cpu, strict=True)},
    }
    print(json.dumps(result), flush=True)
    return result


def admin_token(hub: Server, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"Admin token \(dev\): (\S+)", hub.log_path.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise RuntimeError("the hub printed no admin token")


def redirect(hub: Server, token: str, station_id: str, target: str) -> None:
    body = json.dumps({"station_id": station_id, "target_url": target, "mode": "relay"})
    request = urllib.request.Request(
        f"http://127.0.0.1:{hub.port}/api/op_redirects", data=body.encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


async def register(base: str, ids: list[str]) -> None:
    """Connect each station to the hub once (--dev admits and records unknown stations), so
    that a redirect can be created for it."""
    for station_id in ids:
        async with websockets.connect(f"{base}/{station_id}", subprotocols=["ocpp1.6"]):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    ids = [f"RELAY-{n:04d}" for n in range(1, args.stations + 1)]
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        workdir = Path(tmp)
        upstream = Server("ocpp", workdir, cpu=None, hub_url=None)
        hub = Server("hub", workdir, cpu=None, hub_url=None)
        try:
            upstream.start()
            hub.start()
            token = admin_token(hub)
            asyncio.run(register(hub.ws_base, ids))
            for station_id in ids:
                redirect(hub, token, station_id, upstream.ws_base)
            results = [
                asyncio.run(phase("direct", upstream.ws_base, ids, args.seconds, [upstream])),
                asyncio.run(phase("relay", hub.ws_base, ids, args.seconds, [hub, upstream])),
            ]
        finally:
            hub.stop()
            upstream.stop()
    direct, relayed = results
    summary = {
        "stations": args.stations, "seconds": args.seconds, "results": results,
        "added_p50_ms": round(relayed["p50_ms"] - direct["p50_ms"], 3),
        "added_p99_ms": round(relayed["p99_ms"] - direct["p99_ms"], 3),
        "hub_cpu_us_per_relayed_round_trip": relayed["cpu_us_per_round_trip"]["hub"],
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
