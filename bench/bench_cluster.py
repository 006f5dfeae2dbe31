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
   The local nats-server's CPU is reported beside the cluster's figure (it does clustering's
   work too, but may serve other clients meanwhile, so it is not in the headline).
3. **Steady traffic** (``--steady`` seconds, after each storm, on the same hubs): every
   connected station sends a Heartbeat, a StatusNotification or a MeterValues every
   ``--steady-interval`` seconds, in turn; answered messages per server CPU-second, the same
   three kinds compared (what clustering costs once the stations are in, not only at boot).

Needs PostgreSQL and NATS (loopback): ``--postgres`` (an admin URL; a fresh database is made
and dropped) and ``--nats``. Bounded: at most 10,000 stations, every wait has a timeout.

    python3 bench/bench_cluster.py                            # 2,000 commands, 600 stations
    python3 bench/bench_cluster.py --storm 6000 --commands 5000
    python3 bench/bench_cluster.py --storm 6000 --commands 0 --steady 30   # no command part
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.auth import create_token  # noqa: E402
from hub.db import create_engine, session_factory  # noqa: E402
from tests.harness.process import HubProcess, free_port  # noqa: E402

MAX_STATIONS = 10_000
SETTLE_SECONDS = 3.0
CONNECT_ATTEMPTS = 100


class Node(HubProcess):
    """A hub of the bench (tests.harness.process: the same start and readiness poll as the
    tests), its output in a log file, its CPU read from the OS."""

    def __init__(self, database_url: str, env: dict[str, str]) -> None:
        log_path = Path(tempfile.mkdtemp(prefix="pnc-bench-")) / "hub.log"
        # Admission reads pile up in a storm: let them wait instead of 503s.
        super().__init__(database_url, free_port(), "--dev", log_path=log_path,
                         env={"PNC_HUB_OCPP__MAX_PENDING_HANDSHAKES": "20000", **env})

    def cpu(self) -> float:
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate(timeout=30)


def nats_server(url: str | None) -> psutil.Process | None:
    """The local nats-server listening at ``url``, to count its CPU too (None: not found, or
    not on this machine)."""
    if not url:
        return None
    port = sa.make_url(url.replace("nats://", "nats+x://", 1)).port or 4222
    for process in psutil.process_iter(["name"]):
        if "nats-server" not in (process.info["name"] or ""):
            continue
        with contextlib.suppress(psutil.Error):
            if any(c.laddr.port == port and c.status == psutil.CONN_LISTEN
                   for c in process.net_connections(kind="tcp")):
                return process
    return None


def process_cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


async def started(nodes: list[Node]) -> list[Node]:
    """Start the hubs side by side (a failed start stops the others)."""
    try:
        await asyncio.gather(*(node.start() for node in nodes))
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


@dataclass
class Tally:
    """What the bench's stations counted: answers to their boot messages, and to their steady
    messages while ``measuring``; ``flowing`` starts the steady messages (after the storm)."""

    booted: int = 0
    steady: int = 0
    flowing: bool = False
    measuring: bool = False


def steady_message(n: int) -> tuple[str, dict[str, Any]]:
    """The n-th steady message of a station: a heartbeat, a status change, a meter value."""
    kind = n % 3
    if kind == 0:
        return "Heartbeat", {}
    if kind == 1:
        return "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                      "status": ("Preparing", "Available")[n // 3 % 2]}
    return "MeterValues", {"connectorId": 1, "meterValue": [{
        "timestamp": datetime.now(UTC).isoformat(),
        "sampledValue": [{"value": str(1000 + n), "measurand": "Energy.Active.Import.Register",
                          "unit": "Wh"}]}]}


async def station(url: str, station_id: str, booted: asyncio.Event | None,
                  stop: asyncio.Event, tally: Tally, interval: float = 0.0) -> None:
    """A minimal OCPP 1.6 station: boots, answers every CALL with Accepted and, once
    ``tally.flowing``, sends a steady message every ``interval`` seconds (0: none). A refused
    handshake (503 while the hub admits a storm) is retried after a random pause, as chargers
    do."""
    for _ in range(CONNECT_ATTEMPTS):
        try:
            await _live(url, station_id, booted, stop, tally, interval)
            return
        except (websockets.InvalidStatus, OSError, TimeoutError):
            await asyncio.sleep(random.uniform(0.5, 3.0))


async def _live(url: str, station_id: str, booted: asyncio.Event | None, stop: asyncio.Event,
                tally: Tally, interval: float) -> None:
    async with websockets.connect(f"{url}/ocpp/{station_id}", subprotocols=["ocpp1.6"],
                                  open_timeout=120, ping_interval=None) as ws:
        for action, payload in (("BootNotification", {"chargePointVendor": "Bench",
                                                      "chargePointModel": "B1"}),
                                ("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                        "status": "Available"})):
            await _call(ws, action, payload)
            tally.booted += 1
        if booted is not None:
            booted.set()
        loop = asyncio.get_running_loop()
        next_send, sent = math.inf, 0
        while not stop.is_set():
            if interval and tally.flowing and next_send == math.inf:
                next_send = loop.time() + random.uniform(0, interval)  # spread over the period
            if loop.time() >= next_send:
                await _call(ws, *steady_message(sent))
                sent += 1
                if tally.measuring:
                    tally.steady += 1
                next_send += interval
                continue
            try:
                wait = min(0.5, next_send - loop.time())
                await _answer(ws, json.loads(await asyncio.wait_for(ws.recv(), wait)))
            except TimeoutError:
                continue


async def _call(ws: Any, action: str, payload: dict[str, Any]) -> None:
    """Send a CALL and wait for its answer, answering the hub's own CALLs meanwhile."""
    message_id = uuid.uuid4().hex
    await ws.send(json.dumps([2, message_id, action, payload]))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
        if frame[0] in (3, 4) and frame[1] == message_id:
            return
        await _answer(ws, frame)


async def _answer(ws: Any, frame: list[Any]) -> None:
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
    a, b = await started([Node(url, {**cluster, "PNC_HUB_CLUSTER__NODE_ID": node_id})
                          for node_id in ("A", "B")])
    stop, tally = asyncio.Event(), Tally()
    tasks: list[asyncio.Task[None]] = []
    try:
        engine = create_engine(url)
        token = await create_token(session_factory(engine), "bench")
        await engine.dispose()
        ids = [f"BENCH-CMD-{i:04d}" for i in range(stations)]
        booted = [asyncio.Event() for _ in ids]
        b_url = f"ws://127.0.0.1:{b.port}"
        tasks = [asyncio.create_task(station(b_url, sid, ev, stop, tally))
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


Row = dict[str, float]


async def storm_bench(url: str, nats: str | None, count: int, nodes_n: int,
                      steady_seconds: float, interval: float) -> tuple[Row, Row | None]:
    """The boot storm's figures, then (``steady_seconds``) those of steady traffic on the same
    hubs: every station sends a message every ``interval`` seconds."""
    env = {}
    if nats:
        env = {"PNC_HUB_CLUSTER__NATS_URL": nats,
               "PNC_HUB_CLUSTER__NAME": f"bench{uuid.uuid4().hex[:8]}"}
    nodes = await started([Node(url, {**env, "PNC_HUB_CLUSTER__NODE_ID": f"N{i}"} if nats
                                else env) for i in range(nodes_n)])
    stop, tally = asyncio.Event(), Tally()
    tasks: list[asyncio.Task[None]] = []
    broker = nats_server(nats)
    try:
        await asyncio.sleep(SETTLE_SECONDS)  # start-up work done (both modes alike)
        prefix = uuid.uuid4().hex[:6]
        booted = [asyncio.Event() for _ in range(count)]
        cpu0, nats0 = sum(n.cpu() for n in nodes), process_cpu(broker)
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(station(f"ws://127.0.0.1:{nodes[i % nodes_n].port}",
                                             f"S{prefix}-{i:05d}", booted[i], stop, tally,
                                             interval))
                 for i in range(count)]
        await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in booted)), 600)
        elapsed = time.perf_counter() - t0
        cpu = sum(n.cpu() for n in nodes) - cpu0
        storm = {"stations": count, "nodes": nodes_n, "seconds": elapsed,
                 "messages": tally.booted, "server_cpu_seconds": cpu,
                 "messages_per_server_cpu_second": tally.booted / cpu if cpu else 0.0,
                 "nats_cpu_seconds": process_cpu(broker) - nats0}
        steady = await _steady(nodes, broker, tally, steady_seconds) if steady_seconds \
            else None
        return storm, steady
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for node in nodes:
            node.stop()


async def _steady(nodes: list[Node], broker: psutil.Process | None, tally: Tally,
                  seconds: float) -> Row:
    """Steady traffic from every connected station, measured after a period to get going
    (the storm's tail and the first, unevenly spread, messages are not counted)."""
    tally.flowing = True
    await asyncio.sleep(SETTLE_SECONDS * 2)
    cpu0, nats0 = sum(n.cpu() for n in nodes), process_cpu(broker)
    t0 = time.perf_counter()
    tally.measuring = True
    await asyncio.sleep(seconds)
    tally.measuring = False
    elapsed = time.perf_counter() - t0
    cpu = sum(n.cpu() for n in nodes) - cpu0
    return {"seconds": elapsed, "messages": tally.steady, "per_second": tally.steady / elapsed,
            "server_cpu_seconds": cpu,
            "messages_per_server_cpu_second": tally.steady / cpu if cpu else 0.0,
            "nats_cpu_seconds": process_cpu(broker) - nats0}


KINDS = ("one node", "three plain nodes", "three nodes")
PHASES = {"storm": "Boot storm (BootNotification + StatusNotification per station)",
          "steady": "Steady traffic (connected stations: Heartbeat, StatusNotification, "
                    "MeterValues in turn)"}


async def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get(
        "PNC_HUB_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--nats", default=os.environ.get("PNC_HUB_TEST_NATS_URL",
                                                         "nats://127.0.0.1:4222"))
    parser.add_argument("--commands", type=int, default=2000, help="0: no command part")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--command-stations", type=int, default=20)
    parser.add_argument("--storm", type=int, default=600)
    parser.add_argument("--steady", type=float, default=20.0, metavar="SECONDS",
                        help="steady traffic measured for this long after each storm (0: none)")
    parser.add_argument("--steady-interval", type=float, default=10.0, metavar="SECONDS",
                        help="each station sends a steady message this often")
    parser.add_argument("--rounds", type=int, default=3,
                        help="storms of each kind, alternating (the median is reported)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    if args.storm > MAX_STATIONS:
        parser.error(f"--storm is at most {MAX_STATIONS}")
    if not 1 <= args.rounds <= 9:
        parser.error("--rounds is 1 to 9")
    if not 0 <= args.steady <= 600 or args.steady_interval < 1:
        parser.error("--steady is 0 to 600 s, --steady-interval at least 1 s")
    figures: dict[str, object] = {}
    if args.commands:
        url, name = await fresh_database(args.postgres)
        try:
            figures["commands"] = await commands_bench(url, args.nats, args.commands,
                                                       args.concurrency, args.command_stations)
        finally:
            await drop_database(args.postgres, name)
    runs: dict[str, dict[str, list[Row]]] = {phase: {kind: [] for kind in KINDS}
                                             for phase in PHASES}
    # The kinds alternate, round after round: on a shared machine the load of the moment
    # moves one storm's rate by more than clustering costs; the median of each is reported.
    for _ in range(args.rounds):
        for kind in KINDS:
            url, name = await fresh_database(args.postgres)
            try:
                storm, steady = await storm_bench(
                    url, args.nats if kind == "three nodes" else None, args.storm,
                    1 if kind == "one node" else 3, args.steady, args.steady_interval)
            finally:
                await drop_database(args.postgres, name)
            runs["storm"][kind].append(storm)
            if steady is not None:
                runs["steady"][kind].append(steady)
    for phase, kinds in runs.items():
        for kind, rows in kinds.items():
            if rows:
                figures[f"{phase} {kind}"] = _median_row(rows)
    _report(figures)
    return {"json": args.json, **figures}


def _median_row(rows: list[Row]) -> dict[str, Any]:
    by_round = [row["messages_per_server_cpu_second"] for row in rows]
    ordered = sorted(rows, key=lambda row: row["messages_per_server_cpu_second"])
    return {**ordered[len(ordered) // 2], "rounds": sorted(by_round), "by_round": by_round}


def _report(figures: dict[str, Any]) -> None:
    commands = figures.get("commands")
    if commands:
        print("Commands through POST /api/reset (node B holds the stations):")
        print(f"{'':12} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'per srv CPU-s':>14} "
              f"{'errors':>7}")
        for label, row in commands.items():
            print(f"{label:12} {row['per_second']:8.0f} {row['p50_ms']:8.1f} "
                  f"{row['p99_ms']:8.1f} {row['per_server_cpu_second']:14.0f} "
                  f"{row['errors']:7d}")
    for phase, title in PHASES.items():
        if f"{phase} one node" in figures:
            _report_phase(figures, phase, title)


def _report_phase(figures: dict[str, Any], phase: str, title: str) -> None:
    print(f"\n{title}, the median of each kind's rounds:")
    print(f"{'':24} {'messages':>8} {'seconds':>8} {'srv CPU-s':>10} {'msgs per srv CPU-s':>19}")
    rate = {}
    for kind in KINDS:
        row = figures[f"{phase} {kind}"]
        rate[kind] = row["messages_per_server_cpu_second"]
        print(f"{phase + ' ' + kind:24} {row['messages']:8d} {row['seconds']:8.1f} "
              f"{row['server_cpu_seconds']:10.1f} {rate[kind]:19.0f}"
              f"   rounds: {', '.join(f'{r:.0f}' for r in row['rounds'])}")

    def cost(kind: str, base: str) -> str:
        return f"{(1 - rate[kind] / rate[base]) * 100:.1f} %" if rate[base] else "n/a"

    print("fewer messages per server CPU-second than one node: three cluster nodes "
          f"{cost('three nodes', 'one node')}; three independent hubs (no NATS: what "
          f"splitting alone costs) {cost('three plain nodes', 'one node')}")
    print("the cluster's own cost (presence, events), three cluster nodes against three "
          f"independent hubs: {cost('three nodes', 'three plain nodes')} "
          "(target: at most 10 %)")
    cluster = figures[f"{phase} three nodes"]
    if cluster.get("nats_cpu_seconds"):
        # The broker's work is clustering's too; the local server may serve others meanwhile.
        rate["with NATS"] = cluster["messages"] / (cluster["server_cpu_seconds"]
                                                   + cluster["nats_cpu_seconds"])
        print(f"counting the nats-server's CPU as well ({cluster['nats_cpu_seconds']:.1f} s, "
              f"anything else it served meanwhile included): {rate['with NATS']:.0f} msgs per "
              f"CPU-s, {cost('with NATS', 'three plain nodes')} fewer than three independent "
              "hubs")
    _report_paired(figures, phase)


def _report_paired(figures: dict[str, Any], phase: str) -> None:
    """Each round's cost (the kinds of one round ran back to back, under the same load of
    the moment) and the median of those: less exposed to one slow storm than the medians'
    ratio above."""
    rounds = {kind: figures[f"{phase} {kind}"]["by_round"] for kind in KINDS}
    for base in ("one node", "three plain nodes"):
        costs = [(1 - c / b) * 100 for c, b in zip(rounds["three nodes"], rounds[base],
                                                    strict=True) if b]
        if costs:
            print(f"round by round, three cluster nodes against {base}: "
                  + ", ".join(f"{c:.1f} %" for c in costs)
                  + f"; median {statistics.median(costs):.1f} %")


if __name__ == "__main__":
    result = asyncio.run(main())
    target = result.pop("json")
    if target:
        Path(str(target)).write_text(json.dumps(result, indent=2))
