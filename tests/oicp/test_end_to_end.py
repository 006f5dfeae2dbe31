"""End to end: Hubject webhook -> real OCPP 1.6 charger -> notifications and one CDR."""

from __future__ import annotations

from ocpp.v16 import call

from tests.harness import connect_station, now, wait_for
from tests.oicp.conftest import (
    EVCO,
    EVSE_1,
    EVSE_2,
    OPERATOR,
    remote_start_body,
    session_id,
    webhook,
)


async def status(station, connector: int, value: str) -> None:
    await station.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                               status=value))


async def test_remote_start_to_cdr(oicp_hub, mock) -> None:
    sid = session_id()
    async with connect_station(oicp_hub, "CP-1") as station:
        await station.boot()
        await status(station, 1, "Available")
        code, ack = await webhook(oicp_hub, "start", remote_start_body(sid))
        assert code == 200
        assert ack["Result"] is True and ack["StatusCode"]["Code"] == "000", ack
        assert ack["SessionID"] == sid
        remote = [r for r in station.received if r.action == "RemoteStartTransaction"]
        assert len(remote) == 1
        assert remote[0].payload["connector_id"] == 1
        assert remote[0].payload["id_tag"] == EVCO.upper()

        started = await station.call(call.StartTransaction(
            connector_id=1, id_tag=EVCO.upper(), meter_start=1000, timestamp=now()))
        assert started.id_tag_info["status"] == "Accepted"
        tx = started.transaction_id
        await status(station, 1, "Charging")
        await station.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": now(), "sampled_value": [{
                "value": "6.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"}]}]))
        await station.call(call.StopTransaction(meter_stop=12345, timestamp=now(),
                                                transaction_id=tx, reason="Remote"))
        await status(station, 1, "Available")

        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
        await wait_for(lambda: [n for n in mock.accepted("ChargingNotifications")
                                if n["Type"] == "End"])
        await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Available")
    # Offline: Hubject is told the EVSEs' status is unknown.
    await wait_for(lambda: mock.latest_status() == {EVSE_1: "Unknown", EVSE_2: "Unknown"})
    cdrs = mock.accepted("ChargeDetailRecord")
    assert len(cdrs) == 1
    cdr = cdrs[0]
    assert cdr["SessionID"] == sid and cdr["EvseID"] == EVSE_1
    assert cdr["Identification"] == {"RemoteIdentification": {"EvcoID": EVCO}}
    assert cdr["ConsumedEnergy"] == 11.345
    assert cdr["MeterValueStart"] == 1.0 and cdr["MeterValueEnd"] == 12.345
    assert cdr["MeterValueInBetween"] == {"meterValues": [6.5]}
    assert cdr["EMPPartnerSessionID"] == "emp-42"
    assert cdr["ChargingStart"].endswith(("+01:00", "+02:00"))  # Europe/Berlin
    types = [n["Type"] for n in mock.accepted("ChargingNotifications")]
    assert types == ["Start", "Progress", "End"]
    progress = mock.accepted("ChargingNotifications")[1]
    assert progress["ConsumedEnergyProgress"] == 5.5
    assert all(n["SessionID"] == sid and n["OperatorID"] == OPERATOR
               for n in mock.accepted("ChargingNotifications"))
    # Hubject saw the EVSE go Available -> Occupied -> Available, in that order.
    seen = [s for evse, s in mock.statuses() if evse == EVSE_1]
    assert seen[seen.index("Occupied"):][:2] == ["Occupied", "Available"]
