"""The OICP outbox figures on /metrics (through hub.metric_providers: the monitoring code does
not import the feature)."""

from __future__ import annotations

import aiohttp
from ocpp.v16 import call

from tests.harness import RunningHub, connect_station, wait_for
from tests.hub.management.test_metrics import parse, value
from tests.oicp.conftest import EVSE_1


async def scrape(running: RunningHub) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(running.http_url + "/metrics", headers=running.auth) as response:
            assert response.status == 200
            return parse(await response.text())


async def test_metrics_show_the_outbox_per_lane(oicp_hub, mock) -> None:
    mock.mode = "5xx"  # Hubject fails: the rows stay in the outbox and count as failing
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                   status="Available"))

        async def failing() -> bool:
            # Counted once the worker has given up its in-process retries and noted the try.
            families = await scrape(oicp_hub)
            return value(families, "pnc_hub_oicp_outbox_failing", lane="status") >= 1

        await wait_for(failing)
        families = await scrape(oicp_hub)
        assert value(families, "pnc_hub_oicp_outbox_depth", lane="status") >= 1
        assert value(families, "pnc_hub_oicp_outbox_oldest_age_seconds", lane="status") > 0
        for lane in ("notification", "cdr", "evse_data", "pricing"):
            assert value(families, "pnc_hub_oicp_outbox_depth", lane=lane) == 0
            assert value(families, "pnc_hub_oicp_outbox_oldest_age_seconds", lane=lane) == 0
        assert value(families, "pnc_hub_metric_provider_failures") == 0

        mock.mode = "ok"
        await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Available")

        async def drained() -> bool:
            families = await scrape(oicp_hub)
            return value(families, "pnc_hub_oicp_outbox_depth", lane="status") == 0

        await wait_for(drained)
        assert value(await scrape(oicp_hub), "pnc_hub_oicp_outbox_failing", lane="status") == 0
