"""The console's stations page at 10,000 stations: server time of the first page.

A real hub (in this process, on a real port and database) serves ``/console/stations`` to a
logged-in user. The server time is measured by a middleware around the console's handler
(the ``Server-Timing`` header the console's guard sets: session check, queries, rendering),
and the client round trip is printed beside it.
Baseline in the same run: the same page with 10 stations. Target: first page under 300 ms.

    PYTHONPATH=. python3 bench/bench_console.py [--stations 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from typing import Any

import aiohttp
import sqlalchemy as sa

from hub.console.users import add_user
from hub.db.models import Connector, Station
from hub.db.models_console import ConsoleUser
from tests.harness import start_hub

PASSWORD = "bench password 123"
QUERIES = {"first page": "", "page 100": "?page=100", "search 'CP-00042'": "?q=CP-00042",
           "offline only": "?online=no"}


async def clear(running: Any) -> None:
    """A --database-url database serves both runs: start each from no stations."""
    async with running.hub.engine.begin() as conn:
        await conn.execute(sa.delete(Connector))
        await conn.execute(sa.delete(Station))
        await conn.execute(sa.delete(ConsoleUser).where(ConsoleUser.username == "bench"))


async def fill(running: Any, count: int) -> None:
    rows = [{"id": f"CP-{i:05d}", "vendor": "ACME", "model": "Wallbox 2",
             "connected": i % 3 == 0, "organisation_key": None,
             "registration_status": "Accepted"} for i in range(count)]
    connectors = [{"station_id": r["id"], "connector_id": c, "status": "Available",
                   "availability": "Operative"} for r in rows for c in (1, 2)]
    async with running.hub.engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            await conn.execute(sa.insert(Station), rows[start:start + 2000])
        for start in range(0, len(connectors), 4000):
            await conn.execute(sa.insert(Connector), connectors[start:start + 4000])


async def measure(url: str, count: int, rounds: int) -> dict[str, tuple[float, float]]:
    running = await start_hub(url)
    server: list[float] = []
    try:
        await clear(running)
        await add_user(running.hub.sessions, "bench", PASSWORD, "viewer")
        await fill(running, count)
        results = {}
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(running.http_url + "/console/") as page:
                csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
            async with http.post(running.http_url + "/console/login", data={
                    "csrf": csrf, "username": "bench", "password": PASSWORD}) as response:
                assert response.status == 200, response.status
            for name, query in QUERIES.items():
                server.clear()
                client = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    async with http.get(running.http_url + "/console/stations" + query) as r:
                        assert r.status == 200
                        await r.read()
                        # The console's Server-Timing header: session, query and rendering.
                        server.append(float(r.headers["Server-Timing"].split("dur=")[1]) / 1000)
                    client.append(time.perf_counter() - started)
                results[name] = (statistics.median(server) * 1000 if server else float("nan"),
                                 statistics.median(client) * 1000)
        return results
    finally:
        await running.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    for count in (10, args.stations):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
            results = await measure(url, count, args.rounds)
        label = "baseline" if count == 10 else "measured"
        for name, (server_ms, client_ms) in results.items():
            print(f"{label:8} {count:6} stations  {name:20} server {server_ms:7.1f} ms  "
                  f"round trip {client_ms:7.1f} ms (median of {args.rounds})")


if __name__ == "__main__":
    asyncio.run(main())
