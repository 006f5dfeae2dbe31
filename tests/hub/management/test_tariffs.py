"""Tariffs per connector, station or default; the running cost goes to a real `ocpp` 2.0.1
station in CostUpdated and the final cost in the TransactionEventResponse totalCost of Ended;
a 1.6 transaction's final cost is kept too; reading needs `read`, setting `admin`."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call

from hub.auth import create_token
from tests.harness import RunningHub, connect_station, connect_station201, now, wait_for
from tests.hub.management.conftest import Api

SID = "CP-TARIFF"


def tx_event(event_type: str, seq_no: int, wh: float) -> call.TransactionEvent:
    return call.TransactionEvent(
        event_type=event_type, timestamp=now(), trigger_reason="MeterValuePeriodic",
        seq_no=seq_no, transaction_info={"transaction_id": "tx-cost"},
        evse={"id": 1, "connector_id": 1},
        meter_value=[{"timestamp": now(), "sampled_value": [
            {"value": wh, "measurand": "Energy.Active.Import.Register"}]}])


async def put(api: Api, **body: Any) -> Any:
    return await api.ok("PUT", "/api/tariffs", json=body)


async def test_running_and_final_cost_reach_a_2_0_1_station(hub: RunningHub, api: Api) -> None:
    async with connect_station201(hub, SID) as cp:
        await cp.boot()
        # The default and the station's tariff lose to the connector's.
        await put(api, currency="EUR", energy_price=9.0)
        await put(api, station_id=SID, currency="EUR", energy_price=8.0)
        await put(api, station_id=SID, connector_id=1, currency="EUR", energy_price=0.40,
                  session_fee=1.0, tax_percent=19)
        listed = (await api.ok("GET", "/api/tariffs"))["tariffs"]
        assert [(t["station_id"], t["connector_id"]) for t in listed] == [
            (None, None), (SID, None), (SID, 1)]

        started = await cp.call(tx_event("Started", 0, 1000), suppress=False)
        assert started.total_cost is None
        await cp.call(tx_event("Updated", 1, 6000), suppress=False)
        # 5 kWh x 0.40 + 1.00 = 3.00 net, 3.57 with 19 % tax.
        update = await wait_for(lambda: [r for r in cp.received if r.action == "CostUpdated"])
        assert update[0].payload == {"total_cost": 3.57, "transaction_id": "tx-cost"}

        ended = await cp.call(tx_event("Ended", 2, 11000), suppress=False)
        # 10 kWh x 0.40 + 1.00 = 5.00 net, 5.95 with tax.
        assert ended.total_cost == 5.95
    tx_id = await _transaction_id(hub, SID)
    cost = await api.ok("GET", f"/api/transactions/{tx_id}/cost",
                        route="/api/transactions/{transaction_id}/cost")
    assert cost == {"transaction_id": tx_id, "currency": "EUR", "net": 5.0, "total": 5.95,
                    "final": True}


async def test_a_1_6_transaction_is_costed_and_tariffs_are_admin_only(hub: RunningHub,
                                                                      api: Api) -> None:
    await put(api, currency="CHF", energy_price=0.5, tax_percent=0)
    async with connect_station(hub, "CP-T16") as cp:
        await wait_for(lambda: "CP-T16" in hub.hub.stations)
        await cp.boot()
        started = await cp.call(call16.StartTransaction(
            connector_id=1, id_tag="ANY", meter_start=2000, timestamp=now()), suppress=False)
        await cp.call(call16.StopTransaction(
            meter_stop=6000, timestamp=now(), transaction_id=started.transaction_id),
            suppress=False)

    async def final_cost() -> Any:
        reply = await api.get(f"/api/transactions/{started.transaction_id}/cost")
        return reply.body if reply.status == 200 and reply.body["final"] else None

    cost = await wait_for(final_cost)
    assert (cost["currency"], cost["total"]) == ("CHF", 2.0)

    reader = await create_token(hub.hub.sessions, "reader", ["read"])
    headers = {"Authorization": f"Bearer {reader}"}
    assert (await api.call("GET", "/api/tariffs", auth=False, headers=headers)).status == 200
    assert (await api.call("PUT", "/api/tariffs", auth=False, headers=headers,
                           json={"currency": "EUR"})).status == 403
    error = await api.error("PUT", "/api/tariffs", 400, json={"currency": "euro"})
    assert error["field"] == "currency"
    error = await api.error("PUT", "/api/tariffs", 400, json={"currency": "EUR",
                                                              "connector_id": 1})
    assert error["field"] == "connector_id"
    assert (await api.ok("DELETE", "/api/tariffs")) == {"removed": True}
    await api.error("DELETE", "/api/tariffs", 404)


async def _transaction_id(hub: RunningHub, station_id: str) -> int:
    import sqlalchemy as sa

    from hub.db.models import Transaction

    async with hub.hub.sessions() as session:
        return (await session.execute(sa.select(Transaction.id).where(
            Transaction.station_id == station_id))).scalar_one()
