"""ChargingNotification End when energy stops flowing (OICP: the session may go on): a real
`ocpp` 1.6 station goes from Charging to SuspendedEV; End is sent then, once, and the
transaction's end later sends the CDR without a second End."""

from __future__ import annotations

from ocpp.v16 import call

from tests.harness import connect_station, now, wait_for
from tests.oicp.conftest import EVCO, remote_start_body, session_id, webhook
from tests.oicp.test_end_to_end import status


async def test_end_when_the_ev_stops_drawing(oicp_hub, mock) -> None:
    sid = session_id()
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Available")
        await webhook(oicp_hub, "start", remote_start_body(sid))
        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag=EVCO.upper(), meter_start=1000, timestamp=now()))
        tx = started.transaction_id
        await status(station, 1, "Charging")
        await station.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": now(), "sampled_value": [{
                "value": "9000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
        await status(station, 1, "SuspendedEV")  # the battery is full; the cable stays in

        ends = await wait_for(lambda: [n for n in mock.accepted("ChargingNotifications")
                                       if n["Type"] == "End"])
        assert ends[0]["SessionID"] == sid and ends[0]["ConsumedEnergy"] == 8.0
        assert mock.accepted("ChargeDetailRecord") == []  # the session goes on

        await station.call(call.StopTransaction(meter_stop=9000, timestamp=now(),
                                                transaction_id=tx, reason="EVDisconnected"))
        await status(station, 1, "Available")
        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
    types = [n["Type"] for n in mock.accepted("ChargingNotifications")]
    assert types.count("End") == 1 and types[0] == "Start"
    assert mock.accepted("ChargeDetailRecord")[0]["ConsumedEnergy"] == 8.0
