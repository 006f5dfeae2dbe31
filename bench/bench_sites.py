"""Sites API latency over real HTTP on SQLite, at 10,000 sites x 5 chargers x 2 ports.

    python3 bench/bench_sites.py [--sites 10000] [--list-requests 300] [--detail-requests 1000]

Seeds a fresh SQLite database with bulk inserts (stations with boot data and connector status,
a running session with live readings on every tenth port, a local controller and a small fuse
tree per site), starts ``pnc-hub serve`` on it in a separate process, and prints p50/p99 of
``GET /sites?limit=100`` (random cursors) and ``GET /sites/{id}`` (random sites) measured by a
client in this process, one request at a time over a kept-alive connection. Targets: p99 <= 50 ms
for the page of 100 sites (1,000 ports), p99 <= 10 ms for one site.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.auth import create_token  # noqa: E402
from hub.db import create_engine, session_factory  # noqa: E402
from hub.db.migrate import upgrade_database  # noqa: E402
from sites_api import MIGRATIONS  # noqa: E402

CHARGERS_PER_SITE = 5
PORTS_PER_CHARGER = 2
LIVE_EVERY = 10  # one port in ten has a running session


def ts(value: datetime) -> str:
    """How SQLAlchemy stores a UTCDateTime on SQLite (naive UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def seed(path: Path, sites: int) -> None:
    now = datetime.now(UTC)
    t = ts(now)
    earlier = ts(now - timedelta(minutes=30))
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA foreign_keys=OFF")  # the rows below are consistent by construction
    orgs = 10
    db.executemany("INSERT INTO organisations (id, key, name, created_at) VALUES (?,?,?,?)",
                   [(i, f"org-{i}", f"Organisation {i}", t) for i in range(1, orgs + 1)])
    db.executemany(
        "INSERT INTO sites (id, organisation_id, name, reference_id, status, timezone, street,"
        " house_number, postal_code, city, country, latitude, longitude, version, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(s, s % orgs + 1, f"Site {s}", f"ref-{s}", "ACTIVE", "Europe/Berlin", "Hauptstr.",
          str(s % 200), "10115", "Berlin", "DEU", 52.5 + s / 1e5, 13.4, 1, t, t)
         for s in range(1, sites + 1)])
    db.executemany("INSERT INTO local_controllers (site_id, name, serial_no, device_id) "
                   "VALUES (?,?,?,?)",
                   [(s, f"LC {s}", f"LC-{s}", f"dev-{s}") for s in range(1, sites + 1)])
    stations, chargers, connectors, ports, txs, readings, socs = [], [], [], [], [], [], []
    nodes, node_connectors = [], []
    charger_id = port_id = tx_id = node_id = 0
    for s in range(1, sites + 1):
        node_id += 1
        root = node_id
        nodes.append((root, s, None, "fuse", "Main", 250.0, 0, None))
        for child in range(2):
            node_id += 1
            nodes.append((node_id, s, root, "charging_station", f"Group {child}", 63.0, child,
                          {"is_producer": False, "producer_name": None,
                           "producer_current": None, "is_consumer": True,
                           "consumer_name": "chargers", "max_possible_current": 63,
                           "fallback_value": 16, "primary_transformer_ratio": None,
                           "secondary_transformer_ratio": None}))
        for _ in range(CHARGERS_PER_SITE):
            charger_id += 1
            station = f"ST-{charger_id:06d}"
            stations.append((station, "Accepted", "1.6", "ABB", "Terra 184", f"SN-{charger_id}",
                             "1.5.4", "Accepted", t, t, 1, t, t))
            chargers.append((charger_id, s, f"Charger {charger_id}", station, "DCFC", t))
            node_connectors.append((node_id, s, station, 1, 1))
            for number in range(1, PORTS_PER_CHARGER + 1):
                port_id += 1
                live = port_id % LIVE_EVERY == 0
                current = None
                if live:
                    tx_id += 1
                    current = tx_id
                    txs.append((tx_id, station, number, f"TAG{tx_id}", 1000, earlier, "active",
                                earlier, t))
                    for measurand, value, unit in (("Power.Active.Import", 50000, "W"),
                                                   ("Current.Import", 120, "A"),
                                                   ("SoC", 55, "Percent"),
                                                   ("Voltage", 410, "V"),
                                                   ("Energy.Active.Import.Register", 9000, "Wh")):
                        readings.append((station, number, measurand, "", "", str(value), value,
                                         unit, t, tx_id))
                    socs.append((station, number, tx_id, earlier, "20", 20.0, "SoC", "Percent"))
                connectors.append((station, number, "Charging" if live else "Available",
                                   "NoError", t, "Operative", current, t))
                ports.append((port_id, charger_id, f"Port {number}", number, 150.0, "CCS2",
                              "DC", f"DE*ABC*E{port_id}"))
    import json

    db.executemany(
        "INSERT INTO stations (id, registration_status, ocpp_version, vendor, model,"
        " serial_number, firmware_version, boot_status, last_boot_at, last_seen_at, connected,"
        " connected_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", stations)
    db.executemany("INSERT INTO connectors (station_id, connector_id, status, error_code,"
                   " status_timestamp, availability, current_transaction_id, updated_at)"
                   " VALUES (?,?,?,?,?,?,?,?)", connectors)
    db.executemany("INSERT INTO transactions (id, station_id, connector_id, id_tag, meter_start,"
                   " start_timestamp, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                   txs)
    db.executemany("INSERT INTO latest_readings (station_id, connector_id, measurand, phase,"
                   " location, value, numeric_value, unit, timestamp, transaction_id)"
                   " VALUES (?,?,?,?,?,?,?,?,?,?)", readings)
    db.executemany("INSERT INTO meter_values (station_id, connector_id, transaction_id,"
                   " timestamp, value, numeric_value, measurand, unit, source)"
                   " VALUES (?,?,?,?,?,?,?,?,'MeterValues')", socs)
    db.executemany("INSERT INTO chargers (id, site_id, name, station_id, type, created_at)"
                   " VALUES (?,?,?,?,?,?)", chargers)
    db.executemany("INSERT INTO ports (id, charger_id, name, port_number, maximum_power_kw,"
                   " connector_type, power_type, evse_id, created_at)"
                   f" VALUES (?,?,?,?,?,?,?,?,'{t}')", ports)
    db.executemany('INSERT INTO fuse_nodes (id, site_id, parent_id, type, name, "limit",'
                   ' "order", meter) VALUES (?,?,?,?,?,?,?,?)',
                   [(*n[:7], None if n[7] is None else json.dumps(n[7])) for n in nodes])
    db.executemany("INSERT INTO fuse_node_connectors (node_id, site_id, station_id,"
                   " connector_id, priority, charging_capability, discharge_capability)"
                   " VALUES (?,?,?,?,?,'[6, 16, 32]','[]')", node_connectors)
    db.commit()
    db.execute("ANALYZE")
    db.close()


async def prepare(url: str) -> str:
    engine = create_engine(url)
    try:
        await upgrade_database(engine, [MIGRATIONS])
        return await create_token(session_factory(engine), "bench")
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * len(ordered))) - 1)]
    return statistics.median(ordered), p99


def cpu_seconds(pid: int) -> float:
    """CPU time the hub process has used (user + system, all threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> int:
    """The hub process's peak resident memory (VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return -1


async def measure(base: str, token: str, sites: int, list_n: int, detail_n: int,
                  flipturn_n: int, server_pid: int) -> None:
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as http:
        deadline = time.monotonic() + 60
        while True:
            try:
                async with http.get("/healthCheck-01") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the hub did not start")
            await asyncio.sleep(0.2)

        async def timed(path: str) -> tuple[float, bytes]:
            start = time.perf_counter()
            async with http.get(path) as resp:
                body = await resp.read()
                assert resp.status == 200, (path, resp.status, body[:200])
            return (time.perf_counter() - start) * 1000, body

        for _ in range(20):  # warm-up: connection pool, statement caches, page cache
            await timed(f"/sites?limit=100&starting_after={rng.randrange(sites - 100)}")
            await timed(f"/sites/{rng.randrange(1, sites + 1)}")

        page_ms, size = [], 0
        cpu = cpu_seconds(server_pid)
        for _ in range(list_n):
            ms, body = await timed(f"/sites?limit=100&starting_after={rng.randrange(sites - 100)}")
            page_ms.append(ms)
            size = len(body)
        page_cpu = (cpu_seconds(server_pid) - cpu) * 1000 / list_n
        cpu = cpu_seconds(server_pid)
        detail_ms = [(await timed(f"/sites/{rng.randrange(1, sites + 1)}"))[0]
                     for _ in range(detail_n)]
        detail_cpu = (cpu_seconds(server_pid) - cpu) * 1000 / detail_n
        flipturn_ms, flipturn_size = [], 0
        for _ in range(flipturn_n):
            ms, body = await timed("/api/sites")
            flipturn_ms.append(ms)
            flipturn_size = len(body)

    # Wall-clock latency depends on what else the machine runs; the hub's CPU time per request
    # (its own process, all threads) does much less.
    p50, p99 = percentiles(page_ms)
    print(f"GET /sites?limit=100   n={list_n:5d}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
          f"hub CPU {page_cpu:5.1f} ms/request  (target p99 <= 50 ms; {size // 1024} KiB/page)")
    p50, p99 = percentiles(detail_ms)
    print(f"GET /sites/{{id}}        n={detail_n:5d}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
          f"hub CPU {detail_cpu:5.1f} ms/request  (target p99 <= 10 ms)")
    if flipturn_ms:
        p50 = statistics.median(flipturn_ms)
        print(f"GET /api/sites         n={flipturn_n:5d}  p50 {p50:6.0f} ms"
              f"  max {max(flipturn_ms):6.0f} ms  (all {sites} sites, "
              f"{flipturn_size // (1024 * 1024)} MiB); hub peak RSS {peak_rss_mib(server_pid)} MiB")
    print(f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--list-requests", type=int, default=300)
    parser.add_argument("--detail-requests", type=int, default=1000)
    parser.add_argument("--flipturn-requests", type=int, default=3,
                        help="GET /api/sites (every site, unpaginated) requests")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        started = time.monotonic()
        token = asyncio.run(prepare(url))
        seed(path, args.sites)
        print(f"seeded {args.sites} sites x {CHARGERS_PER_SITE} chargers x {PORTS_PER_CHARGER} "
              f"ports in {time.monotonic() - started:.1f} s "
              f"(a running session on every {LIVE_EVERY}th port)", flush=True)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [sys.executable, "-m", "hub", "--log-level", "WARNING", "serve", "--database-url",
             url, "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        try:
            asyncio.run(measure(f"http://127.0.0.1:{port}", token, args.sites,
                                args.list_requests, args.detail_requests,
                                args.flipturn_requests, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
