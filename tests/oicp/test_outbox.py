"""The outbox: coalescing, retries on timeouts/5xx/429, and nothing lost across a Hubject
outage with a hub restart in the middle."""

from __future__ import annotations

from typing import Any

import aiohttp
import sqlalchemy as sa
from ocpp.v16 import call

from hub.db.models import OutboxMessage
from oicp import OICP
from oicp.mock_hubject import MockHubject
from tests.harness import RunningHub, connect_station, now, wait_for
from tests.oicp.conftest import (
    EVCO,
    EVSE_1,
    EVSE_2,
    oicp_settings,
    remote_start_body,
    session_id,
    webhook,
)


async def status(station: Any, connector: int, value: str, error: str = "NoError") -> None:
    await station.call(call.StatusNotification(connector_id=connector, error_code=error,
                                               status=value))


async def outbox_metrics(running: RunningHub) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(running.http_url + "/api/oicp/outbox",
                            headers=running.auth) as response:
            assert response.status == 200
            return await response.json()


async def written_statuses(running: RunningHub) -> dict[str, list[str]]:
    """Ground truth: every status row the hub wrote, per EVSE, in order."""
    async with running.hub.engine.connect() as conn:
        rows = (await conn.execute(sa.select(OutboxMessage.payload).where(
            OutboxMessage.ordering_key.like("status:%")).order_by(OutboxMessage.id))).all()
    truth: dict[str, list[str]] = {}
    for (payload,) in rows:
        truth.setdefault(payload["evse_id"], []).append(payload["status"])
    return truth


def is_subsequence(seen: list[str], truth: list[str]) -> bool:
    remaining = iter(truth)
    return all(any(item == t for t in remaining) for item in seen)


async def test_status_pushes_are_coalesced_and_retried(oicp_hub, mock) -> None:
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Available")
        await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Available")
        mock.mode = "5xx"
        for value in ("Preparing", "Charging", "SuspendedEV", "Charging", "Finishing",
                      "Available", "Reserved"):
            await status(station, 1, value)
        await wait_for(lambda: mock.attempts("PushEvseStatus") > 3)
        assert (await outbox_metrics(oicp_hub))["outbox"]["lanes"]["status"]["depth"] >= 1
        mock.mode = "ok"
        await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Reserved")
        after = mock.statuses()[mock.statuses().index((EVSE_1, "Available")) + 1:]
        # Seven changes during the outage reach Hubject as far fewer records, newest last.
        assert len(after) < 7 and after[-1] == (EVSE_1, "Reserved")

        async def drained() -> bool:
            metrics = await outbox_metrics(oicp_hub)
            return metrics["outbox"]["depth"] == 0 and metrics["worker"]["coalesced"] >= 1

        await wait_for(drained)
        metrics = await outbox_metrics(oicp_hub)
        assert metrics["worker"]["retries"]["PushEvseStatus"] >= 1


async def test_a_status_hubject_already_shows_is_not_pushed_again(oicp_hub, mock) -> None:
    async def drained() -> bool:
        return (await outbox_metrics(oicp_hub))["outbox"]["depth"] == 0

    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Available")
        await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Available")
        # Each change is drained on its own (no coalescing): all three are "Occupied".
        for value in ("Preparing", "Charging", "SuspendedEV"):
            await status(station, 1, value)
            await wait_for(drained)
        await status(station, 1, "Finishing")  # Occupied as well
        await status(station, 1, "Available")
        await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Available"
                       and len([s for e, s in mock.statuses() if e == EVSE_1]) >= 3)
        await wait_for(drained)
    seen = [s for e, s in mock.statuses() if e == EVSE_1]
    first = seen.index("Available")
    assert seen[first:first + 3] == ["Available", "Occupied", "Available"], seen
    assert (await written_statuses(oicp_hub))[EVSE_1].count("Occupied") >= 3
    assert (await outbox_metrics(oicp_hub))["worker"]["unchanged"] >= 2


async def test_429_and_timeouts_are_retried(oicp_hub, mock) -> None:
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        mock.mode = "429"
        await status(station, 1, "Available")
        await wait_for(lambda: mock.attempts("PushEvseStatus") >= 2)
        mock.mode = "timeout"
        mock.delay = 1.5  # longer than the hub's 1 s request timeout
        await wait_for(lambda: mock.attempts("PushEvseStatus") >= 3)
        mock.mode = "ok"
        await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Available", timeout=8)
    metrics = await outbox_metrics(oicp_hub)
    assert metrics["client"]["failures"]["PushEvseStatus"] >= 2


async def test_outage_and_restart_lose_nothing(hub_factory, mock: MockHubject) -> None:
    settings = oicp_settings(mock)
    first = await hub_factory(dev=True, oicp=settings)
    sid = session_id()
    async with connect_station(first, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Available")
        await status(station, 2, "Available")
        await wait_for(lambda: mock.latest_status() == {EVSE_1: "Available",
                                                        EVSE_2: "Available"})
        await mock.stop()  # Hubject goes away

        code, ack = await webhook(first, "start", remote_start_body(sid))
        assert ack["Result"] is True, ack
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag=EVCO.upper(), meter_start=0, timestamp=now()))
        tx = started.transaction_id
        for value in ("Preparing", "Charging"):
            await status(station, 1, value)
        for value in ("Unavailable", "Available", "Preparing"):
            await status(station, 2, value)
        await station.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": now(), "sampled_value": [{"value": "2000", "unit": "Wh"}]}]))
        await station.call(call.StopTransaction(meter_stop=4321, timestamp=now(),
                                                transaction_id=tx))
        await status(station, 1, "Finishing")
        await status(station, 1, "Available")
    metrics = await outbox_metrics(first)
    assert metrics["outbox"]["depth"] > 0 and metrics["outbox"]["lanes"]["cdr"]["depth"] == 1
    await first.stop()  # and the hub restarts while Hubject is still down

    second = await hub_factory(dev=True, oicp=settings)
    assert (await outbox_metrics(second))["outbox"]["lanes"]["cdr"]["depth"] == 1
    async with connect_station(second, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Available")
        await mock.start()  # Hubject is back, on the same address
        await wait_for(lambda: mock.accepted("ChargeDetailRecord"), timeout=10)
        await wait_for(lambda: mock.latest_status() == {EVSE_1: "Available",
                                                        EVSE_2: "Occupied"}, timeout=10)
        await wait_for(lambda: [n for n in mock.accepted("ChargingNotifications")
                                if n["Type"] == "End"], timeout=10)

        async def drained() -> bool:
            return (await outbox_metrics(second))["outbox"]["depth"] == 0

        await wait_for(drained, timeout=10)

    cdrs = mock.accepted("ChargeDetailRecord")
    assert len(cdrs) == 1 and cdrs[0]["SessionID"] == sid
    assert cdrs[0]["ConsumedEnergy"] == 4.321
    assert [n["Type"] for n in mock.accepted("ChargingNotifications")] == \
        ["Start", "Progress", "End"]
    truth = await written_statuses(second)
    for evse_id in (EVSE_1, EVSE_2):
        seen = [s for e, s in mock.statuses() if e == evse_id]
        assert is_subsequence(seen, truth[evse_id]), (evse_id, seen, truth[evse_id])


async def test_evses_of_stations_still_offline_after_a_restart_become_unknown(
        hub_factory, mock) -> None:
    running = await hub_factory(dev=True, oicp=oicp_settings(mock, offline_grace_seconds=0.2))
    await wait_for(lambda: mock.latest_status() == {EVSE_1: "Unknown", EVSE_2: "Unknown"})
    rt = running.app[OICP]
    assert await rt.mark_offline_unknown() == 0  # already the last status: not pushed again
    # Finished rows are pruned after the retention; pending ones never.
    rt.config.outbox_retention_days = 0

    async def drained() -> bool:
        return (await outbox_metrics(running))["outbox"]["depth"] == 0

    await wait_for(drained)
    assert await rt.prune() >= 1
