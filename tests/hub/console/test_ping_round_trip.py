"""op_ping_monitor's round trip: the hub's own WebSocket heartbeat ping to a real `ocpp`
station and the station's pong, timed by the hub (GuardedWebSocket); and with aiohttp's
autoping off, the station's own pings still get their pong."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from hub.console.users import add_user
from tests.harness import RunningHub, connect_station, start_hub, wait_for
from tests.hub.console.conftest import PASSWORD, browser, login

# The pong must come within half of it (aiohttp's heartbeat), roomy on a loaded machine.
PING_INTERVAL = 2.0
ROW = re.compile(r'CP-PING</a></td>.*?<td class="round-trip">([^<]*)</td>')


@pytest.fixture
async def pinging_hub(database_url: str) -> AsyncIterator[RunningHub]:
    running = await start_hub(database_url, dev=True,
                              ocpp={"websocket_ping_interval": PING_INTERVAL})
    await add_user(running.hub.sessions, "victor", PASSWORD, "viewer")
    try:
        yield running
    finally:
        await running.stop()


async def test_ping_monitor_shows_the_heartbeat_round_trip(pinging_hub: RunningHub) -> None:
    async with connect_station(pinging_hub, "CP-PING") as station, browser() as http:
        await station.boot()
        assert (await login(http, pinging_hub, "victor")).status == 303

        async def shown() -> str | None:
            async with http.get(pinging_hub.http_url + "/console/op_ping_monitor") as page:
                match = ROW.search(await page.text())
            assert match, "CP-PING is not on the ping monitor"
            return match.group(1) if match.group(1) != "–" else None

        assert await shown() is None  # no ping went out yet: nothing measured
        value = await wait_for(shown, timeout=30, interval=0.2)
        assert 0 < float(value) < PING_INTERVAL * 1000 / 2
        session = pinging_hub.hub.stations.get("CP-PING")
        assert session is not None and session.ws.round_trip is not None
        # The station's own ping is answered although aiohttp's autoping is off.
        pong = await station._connection.ping()
        await asyncio.wait_for(pong, timeout=10)
