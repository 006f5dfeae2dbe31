#!/usr/bin/env python3
"""Cluster bench: what clustering costs, against one node, in the same run.

1. **Commands**: ``--commands`` Resets through the management API (``POST /api/reset``) to
   stations connected to node B, sent to B itself (same node) and to node A (routed over NATS
   to B), ``--concurrency`` at a time: p50 / p99 latency and commands per second.
2. **Boot storm**: ``--storm`` stations connect at once and send BootNotification and
   StatusNotification, to one node without ``[cluster]`` (the baseline), spread over three
   independent hubs on the same database (no NATS: what splitting alone costs, smaller commit
   batches and three processes), then over three cluster nodes; answered messages per server
   CPU-second (the CPU of every hub process, user + system), so that the cost of clustering
   per message shows even on 2 shared cores. The storms alternate for ``--rounds`` rounds and
   each kind's median is compared (one round each moves by more than clustering costs).

Needs PostgreSQL and NATS (loopback): ``--postgres`` (an admin URL; a fresh database is made
and dropped) and ``--nats``. Bounded: at most 10,000 stations, every wait has a timeout.

    python3 bench/bench_cluster.py                            # 2,000 commands, 600 stations
    python3 bench/bench_cluster.py --storm 6000 --commands 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import psutil
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.auth import create_token  # noqa: E402
from hub.db import create_engine, session_factory  # noqa: E402

MAX_STATIONS = 10_000
SETTLE_SECONDS = 3.0
CONNECT_ATTEMPTS = 100


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, database_url: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "--log-level", "WARNING", "serve", "--host",
             "127.0.0.1", "--port", str(self.port), "--database-url", database_url, "--dev"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PNC_HUB_FILES__DATA_DIR": f"/tmp/pnc-bench-{uuid.uuid4().hex}",
                 # Admission reads pile up in a storm: let them wait instead of 503s.
                 "PNC_HUB_OCPP__MAX_PENDING_HANDSHAKES": "20000", **env})
        self.ps = psutil.Process(self.proc.pid)

    async def ready(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/healthCheck-01") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError("hub did not start")

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


async def station(url: str, station_id: str, booted: asyncio.Event | None,
                  stop: asyncio.Event, answered: list[int]) -> None:
    """A minimal OCPP 1.6 station: boots, then answers every CALL with Accepted. A refused
    handshake (503 while the hub admits a storm) is retried after a random pause, as chargers
    do."""
    for _ in range(CONNECT_ATTEMPTS):
        try:
            await _live(url, station_id, booted, stop, answered)
            return
        except (websockets.InvalidStatus, OSError, TimeoutError):
            await asyncio.sleep(random.uniform(0.5, 3.0))


async def _live(url: str, station_id: str, booted: asyncio.Event | None, stop: asyncio.Event,
                answered: list[int]) -> None:
    async with websockets.connect(f"{url}/ocpp/{station_id}", subprotocols=["ocpp1.6"],
                                  open_timeout=120, ping_interval=None) as ws:
        for action, payload in (("BootNotification", {"chargePointVendor": "Bench",
                                                      "chargePointModel": "B1"}),
                                ("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                        "status": "Available"})):
            await ws.send(json.dumps([2, uuid.uuid4().hex, action, payload]))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if frame[0] == 3:
                    answered[0] += 1
                    break
        if booted is not None:
            booted.set()
        while not stop.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except TimeoutError:
                continue
            if frame[0] == 2:
                await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))


async def fresh_database(admin_url: str) -> tuple[str, str]:
    name = f"pnc_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hub", "db", "upgrade", "--database-url", url],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    if upgrade.returncode != 0:
        raise RuntimeError(upgrade.stderr)
    return url, name


async def drop_database(admin_url: str, name: str) -> None:
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def commands_bench(url: str, nats: str, total: int, concurrency: int,
                         stations: int) -> dict[str, dict[str, float]]:
    name = f"bench{uuid.uuid4().hex[:8]}"
    cluster = {"PNC_HUB_CLUSTER__NATS_URL": nats, "PNC_HUB_CLUSTER__NAME": name}
    a = Node(url, {**cluster, "PNC_HUB_CLUSTER__NODE_ID": "A"})
    b = Node(url, {**cluster, "PNC_HUB_CLUSTER__NODE_ID": "B"})
    stop, answered = asyncio.Event(), [0]
    tasks: list[asyncio.Task[None]] = []
    try:
        await a.ready()
        await b.ready()
        engine = create_engine(url)
        token = await create_token(session_factory(engine), "bench")
        await engine.dispose()
        ids = [f"BENCH-CMD-{i:04d}" for i in range(stations)]
        booted = [asyncio.Event() for _ in ids]
        b_url = f"ws://127.0.0.1:{b.port}"
        tasks = [asyncio.create_task(station(b_url, sid, ev, stop, answered))
                 for sid, ev in zip(ids, booted, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in booted)), 120)
        results = {}
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            for label, node in (("same node", b), ("cross node", a)):
                await _until_routable(http, node.port, ids)
                results[label] = await _fire(http, node.port, ids, total, concurrency, [a, b])
        return results
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        a.stop()
        b.stop()


async def _until_routable(http: aiohttp.ClientSession, port: int, ids: list[str]) -> None:
    for _ in range(300):
        async with http.get(f"http://127.0.0.1:{port}/api/cluster/stations/{ids[-1]}") as r:
            if (await r.json()).get("connected"):
                return
        await asyncio.sleep(0.1)
    raise TimeoutError("the station never showed up in presence")


async def _fire(http: aiohttp.ClientSession, port: int, ids: list[str], total: int,
                concurrency: int, nodes: list[Node]) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    queue = list(range(total))

    async def worker(w: int) -> None:
        nonlocal errors
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            async with http.post(f"http://127.0.0.1:{port}/api/reset",
                                 json={"station_id": ids[(i + w) % len(ids)]}) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    cpu0 = sum(n.cpu() for n in nodes)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - t0
    cpu = sum(n.cpu() for n in nodes) - cpu0
    latencies.sort()
    return {"commands": total, "errors": errors, "per_second": total / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "per_server_cpu_second": total / cpu if cpu else 0.0}


async def storm_bench(url: str, nats: str | None, count: int, nodes_n: int) -> dict[str, float]:
    env = {}
    if nats:
        env = {"PNC_HUB_CLUSTER__NATS_URL": nats,
               "PNC_HUB_CLUSTER__NAME": f"bench{uuid.uuid4().hex[:8]}"}
    nodes = [Node(url, {**env, "PNC_HUB_CLUSTER__NODE_ID": f"N{i}"} if nats else env)
             for i in range(nodes_n)]
    stop, answered = asyncio.Event(), [0]
    tasks: list[asyncio.Task[None]] = []
    try:
        for node in nodes:
            await node.ready()
        await asyncio.sleep(SETTLE_SECONDS)  # start-up work done (both modes alike)
        prefix = uuid.uuid4().hex[:6]
        booted = [asyncio.Event() for _ in range(count)]
        cpu0 = sum(n.cpu() for n in nodes)
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(station(f"ws://127.0.0.1:{nodes[i % nodes_n].port}",
                                             f"S{prefix}-{i:05d}", booted[i], stop, answered))
                 for i in range(count)]
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in booted)), 600)
        elapsed = time.perf_counter() - t0
        cpu = sum(n.cpu() for n in nodes) - cpu0
        return {"stations": count, "nodes": nodes_n, "seconds": elapsed,
                "messages": answered[0], "server_cpu_seconds": cpu,
                "messages_per_server_cpu_second": answered[0] / cpu if cpu else 0.0}
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for node in nodes:
            node.stop()


async def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get(
        "PNC_HUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--nats", default=os.environ.get("PNC_HUB_TEST_NATS_URL",
                                                         "nats://127.0.0.1:4222"))
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--command-stations", type=int, default=20)
    parser.add_argument("--storm", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3,
                        help="boot storms of each kind, alternating (the median is reported)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    if args.storm > MAX_STATIONS:
        parser.error(f"--storm is at most {MAX_STATIONS}")
    if not 1 <= args.rounds <= 9:
        parser.error("--rounds is 1 to 9")
    figures: dict[str, object] = {}
    storms = ("storm one node", "storm three plain nodes", "storm three nodes")
    runs: dict[str, list[dict[str, float]]] = {part: [] for part in storms}
    # The storms alternate, round after round: on a shared machine the load of the moment
    # moves one storm's rate by more than clustering costs; the median of each is reported.
    for part in ("commands", *storms * args.rounds):
        url, name = await fresh_database(args.postgres)
        try:
            if part == "commands":
                figures[part] = await commands_bench(url, args.nats, args.commands,
                                                     args.concurrency, args.command_stations)
            elif part == "storm one node":
                runs[part].append(await storm_bench(url, None, args.storm, 1))
            elif part == "storm three plain nodes":
                runs[part].append(await storm_bench(url, None, args.storm, 3))
            else:
                runs[part].append(await storm_bench(url, args.nats, args.storm, 3))
        finally:
            await drop_database(args.postgres, name)
    for part, rows in runs.items():
        by_round = [row["messages_per_server_cpu_second"] for row in rows]
        rows.sort(key=lambda row: row["messages_per_server_cpu_second"])
        figures[part] = {**rows[len(rows) // 2],
                         "rounds": [row["messages_per_server_cpu_second"] for row in rows],
                         "by_round": by_round}
    _report(figures)
    return {"json": args.json, **figures}


def _report(figures: dict[str, object]) -> None:
    commands = figures["commands"]
    assert isinstance(commands, dict)
    print("Commands through POST /api/reset (node B holds the stations):")
    print(f"{'':12} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'per srv CPU-s':>14} {'errors':>7}")
    for label, row in commands.items():
        print(f"{label:12} {row['per_second']:8.0f} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
              f"{row['per_server_cpu_second']:14.0f} {row['errors']:7d}")
    print("\nBoot storm (BootNotification + StatusNotification per station), the median of "
          "each kind's rounds:")
    print(f"{'':24} {'stations':>8} {'seconds':>8} {'srv CPU-s':>10} {'msgs per srv CPU-s':>19}")
    rate = {}
    for label in ("storm one node", "storm three plain nodes", "storm three nodes"):
        row = figures[label]
        assert isinstance(row, dict)
        rate[label] = row["messages_per_server_cpu_second"]
        print(f"{label:24} {row['stations']:8d} {row['seconds']:8.1f} "
              f"{row['server_cpu_seconds']:10.1f} {row['messages_per_server_cpu_second']:19.0f}"
              f"   rounds: {', '.join(f'{r:.0f}' for r in row['rounds'])}")

    def cost(label: str, base: str) -> str:
        return f"{(1 - rate[label] / rate[base]) * 100:.1f} %" if rate[base] else "n/a"

    print("\nfewer messages per server CPU-second than one node: three cluster nodes "
          f"{cost('storm three nodes', 'storm one node')}; three independent hubs (no NATS: "
          f"what splitting alone costs) {cost('storm three plain nodes', 'storm one node')}")
    print("the cluster's own cost (presence, events), three cluster nodes against three "
          f"independent hubs: {cost('storm three nodes', 'storm three plain nodes')} "
          "(target: at most 10 %)")
    _report_paired(figures)


def _report_paired(figures: dict[str, object]) -> None:
    """Each round's cost (the storms of one round ran back to back, under the same load of
    the moment) and the median of those: less exposed to one slow storm than the medians'
    ratio above."""
    rounds = {label: figures[label]["by_round"]  # type: ignore[index]
              for label in ("storm one node", "storm three plain nodes", "storm three nodes")}
    for base in ("storm one node", "storm three plain nodes"):
        costs = [(1 - c / b) * 100 for c, b in zip(rounds["storm three nodes"], rounds[base],
                                                    strict=True) if b]
        if costs:
            print(f"round by round, three cluster nodes against {base.removeprefix('storm ')}: "
                  + ", ".join(f"{c:.1f} %" for c in costs)
                  + f"; median {statistics.median(costs):.1f} %")


if __name__ == "__main__":
    result = asyncio.run(main())
    target = result.pop("json")
    if target:
        Path(str(target)).write_text(json.dumps(result, indent=2))
