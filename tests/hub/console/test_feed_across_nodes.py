"""The console's live feed in a cluster: a page on node A watches a station whose socket node B
holds. B forwards that station's live events (and only the ones someone watches) because A
broadcast its pages' interest. Two real hubs on one PostgreSQL database and the local NATS."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from typing import Any

import pytest
from ocpp.v16 import call

from hub.console.feed import CONSOLE_FEED
from tests.harness import connect_station, start_hub, wait_for

NATS_URL = os.environ.get("PNC_HUB_TEST_NATS_URL")


def _status(status: str) -> call.StatusNotification:
    return call.StatusNotification(connector_id=1, error_code="NoError", status=status)


@pytest.mark.skipif(not NATS_URL, reason="PNC_HUB_TEST_NATS_URL is not set")
async def test_a_page_on_one_node_sees_a_station_held_by_another(postgres_url: str) -> None:
    name = f"t{uuid.uuid4().hex[:12]}"
    hubs = [await start_hub(postgres_url, dev=True, cluster={
        "nats_url": NATS_URL, "name": name, "node_id": node}) for node in ("a", "b")]
    node_a, node_b = hubs
    feed_a, feed_b = node_a.app[CONSOLE_FEED], node_b.app[CONSOLE_FEED]
    seen: list[tuple[str, dict[str, Any]]] = []

    async def page_on_a() -> None:
        async for item in feed_a.watch("CP-FAR", heartbeat=0.5):
            if item is not None:
                seen.append(item)

    page = asyncio.create_task(page_on_a())
    try:
        # B has heard which station A's page watches.
        await wait_for(lambda: feed_b._wanted_elsewhere("CP-FAR"))
        async with connect_station(node_b, "CP-FAR") as far:
            await far.boot()
            await far.call(_status("Charging"))
            await wait_for(lambda: ("status", "Charging") in {
                (n, d.get("status")) for n, d in seen})
            assert ("connection", True) in {(n, d.get("online")) for n, d in seen}

            # A station nobody watches costs no NATS message.
            before = feed_b.forwarded
            async with connect_station(node_b, "CP-NOBODY") as nobody:
                await nobody.boot()
                await nobody.call(_status("Charging"))
                # B publishes in commit order: once A sees CP-FAR's next status, CP-NOBODY's
                # events have been through B's feed.
                await far.call(_status("Finishing"))
                await wait_for(lambda: ("status", "Finishing") in {
                    (n, d.get("status")) for n, d in seen})
            assert feed_b.forwarded == before + 1
        assert all(d["station_id"] == "CP-FAR" for _, d in seen)
    finally:
        page.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await page
        for running in reversed(hubs):
            await running.stop()
