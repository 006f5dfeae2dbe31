"""A tariff set through one node prices the next transaction on another at once: each node
keeps the tariffs in memory (hub.services.tariffs.TariffCache), and a change is broadcast to
the other nodes' caches instead of waiting out the cache's 60 s backstop."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
from ocpp.v201 import call

from tests.harness import now, wait_for
from tests.harness.station201 import connect_station201
from tests.hub.cluster.conftest import Cluster

SID = "CP-TARIFF-X"


def _event(event_type: str, tx: str, seq_no: int, wh: float) -> call.TransactionEvent:
    return call.TransactionEvent(
        event_type=event_type, timestamp=now(), trigger_reason="MeterValuePeriodic",
        seq_no=seq_no, transaction_info={"transaction_id": tx},
        evse={"id": 1, "connector_id": 1},
        meter_value=[{"timestamp": now(), "sampled_value": [
            {"value": wh, "measurand": "Energy.Active.Import.Register"}]}])


async def test_a_tariff_set_on_one_node_prices_the_next_transaction_on_another(
        cluster: Cluster) -> None:
    node_a = await cluster.start("a")
    node_b = await cluster.start("b")
    numbers = itertools.count()

    async def final_cost_on_b(station: Any) -> Any:
        tx = f"tx-{next(numbers)}"
        await station.call(_event("Started", tx, 0, 1000), suppress=False)
        ended = await station.call(_event("Ended", tx, 1, 11000), suppress=False)
        return ended.total_cost

    async with connect_station201(node_b, SID) as station:  # type: ignore[arg-type]
        await station.boot()
        # No tariff yet: node B's cache is loaded, empty.
        assert await final_cost_on_b(station) is None

        async with aiohttp.ClientSession(headers=cluster.auth) as http, http.put(
                f"http://127.0.0.1:{node_a.port}/api/tariffs",
                json={"station_id": SID, "currency": "EUR", "energy_price": 0.40}) as resp:
            assert resp.status == 200, await resp.text()

        # 10 kWh x 0.40 = 4.00. Without the broadcast, B would price with its cached (empty)
        # tariffs for up to a minute, well past wait_for's bound.
        assert await wait_for(lambda: final_cost_on_b(station), interval=0.2) == 4.0
