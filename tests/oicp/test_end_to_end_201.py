"""End to end over OCPP 2.0.1: Hubject webhook -> real `ocpp` 2.0.1 charger
(RequestStartTransaction / RequestStopTransaction) -> TransactionEvents -> charging
notifications and exactly one CDR, as tests/oicp/test_end_to_end.py does for 1.6."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v201 import call, call_result

from tests.harness import TestStation201, connect_station201, now, wait_for
from tests.oicp.conftest import (
    EVCO,
    EVSE_1,
    EVSE_2,
    OPERATOR,
    PROVIDER,
    remote_start_body,
    session_id,
    webhook,
)

TX = "TX-OICP-201"
EVSE = {"id": 1, "connector_id": 1}
TOKEN = {"id_token": EVCO.upper(), "type": "eMAID"}


async def status(cp: TestStation201, value: str) -> None:
    await cp.call(call.StatusNotification(timestamp=now(), connector_status=value, evse_id=1,
                                          connector_id=1), suppress=False)


def energy(value: float, unit: str = "Wh", context: str = "Sample.Periodic") -> list[Any]:
    return [{"timestamp": now(), "sampled_value": [{
        "value": value, "context": context, "measurand": "Energy.Active.Import.Register",
        "unit_of_measure": {"unit": unit}}]}]


def transaction_event(event_type: str, seq_no: int, trigger_reason: str,
                      **fields: Any) -> call.TransactionEvent:
    info = {"transaction_id": TX}
    for key in ("charging_state", "stopped_reason", "remote_start_id"):
        if key in fields:
            info[key] = fields.pop(key)
    return call.TransactionEvent(event_type=event_type, timestamp=now(), seq_no=seq_no,
                                 trigger_reason=trigger_reason, transaction_info=info, **fields)


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_remote_start_to_cdr_over_2_0_1(oicp_hub, mock, version: str) -> None:
    """The same for a station speaking OCPP 2.1 (on the 2.0.1 services)."""
    sid = session_id()
    async with connect_station201(oicp_hub, "CP-1", version=version) as cp:
        await cp.boot()
        await status(cp, "Available")
        code, ack = await webhook(oicp_hub, "start", remote_start_body(sid))
        assert code == 200
        assert ack["Result"] is True and ack["StatusCode"]["Code"] == "000", ack
        assert ack["SessionID"] == sid
        remote = [r for r in cp.received if r.action == "RequestStartTransaction"]
        assert len(remote) == 1
        assert remote[0].payload["id_token"] == TOKEN
        assert remote[0].payload["evse_id"] == 1
        remote_start_id = remote[0].payload["remote_start_id"]

        # OCPP 2.0.1 F02 (remote start first): the EV is plugged in, the transaction starts.
        await status(cp, "Occupied")
        started = await cp.call(transaction_event(
            "Started", 0, "RemoteStart", charging_state="EVConnected",
            remote_start_id=remote_start_id, evse=EVSE, id_token=TOKEN,
            meter_value=energy(1000, context="Transaction.Begin")), suppress=False)
        assert started.id_token_info["status"] == "Accepted"
        await cp.call(transaction_event("Updated", 1, "ChargingStateChanged",
                                        charging_state="Charging"), suppress=False)
        await cp.call(transaction_event("Updated", 2, "MeterValuePeriodic",
                                        meter_value=energy(6.5, unit="kWh")), suppress=False)
        await wait_for(lambda: [n for n in mock.accepted("ChargingNotifications")
                                if n["Type"] == "Progress"])

        stop = {"SessionID": sid, "ProviderID": PROVIDER, "EvseID": EVSE_1}
        _, ack = await webhook(oicp_hub, "stop", stop)
        assert ack["Result"] is True and ack["SessionID"] == sid, ack
        remote_stop = [r for r in cp.received if r.action == "RequestStopTransaction"]
        assert [r.payload for r in remote_stop] == [{"transaction_id": TX}]

        ended = transaction_event("Ended", 3, "RemoteStop", stopped_reason="Remote",
                                  charging_state="EVConnected", evse=EVSE,
                                  meter_value=energy(12345, context="Transaction.End"))
        await cp.call(ended, suppress=False)
        await cp.call(ended, suppress=False)  # the station lost our answer and repeats it
        await status(cp, "Available")

        await wait_for(lambda: mock.accepted("ChargeDetailRecord"))
        await wait_for(lambda: [n for n in mock.accepted("ChargingNotifications")
                                if n["Type"] == "End"])
        await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Available")
    await wait_for(lambda: mock.latest_status() == {EVSE_1: "Unknown", EVSE_2: "Unknown"})

    cdrs = mock.accepted("ChargeDetailRecord")
    assert len(cdrs) == 1
    cdr = cdrs[0]
    assert cdr["SessionID"] == sid and cdr["EvseID"] == EVSE_1
    assert cdr["Identification"] == {"RemoteIdentification": {"EvcoID": EVCO}}
    assert cdr["EMPPartnerSessionID"] == "emp-42"
    assert cdr["ConsumedEnergy"] == 11.345
    assert cdr["MeterValueStart"] == 1.0 and cdr["MeterValueEnd"] == 12.345
    # The readings in between, without the Begin and End ones (those are Start and End).
    assert cdr["MeterValueInBetween"] == {"meterValues": [6.5]}

    notifications = mock.accepted("ChargingNotifications")
    assert [n["Type"] for n in notifications] == ["Start", "Progress", "End"]
    assert notifications[0]["MeterValueStart"] == 1.0
    assert notifications[1]["ConsumedEnergyProgress"] == 5.5
    assert notifications[2]["ConsumedEnergy"] == 11.345
    assert all(n["SessionID"] == sid and n["OperatorID"] == OPERATOR and n["EvseID"] == EVSE_1
               for n in notifications)
    # Hubject saw the EVSE go Available -> Occupied (Preparing, Charging, Finishing) ->
    # Available -> Unknown (offline), in that order.
    seen = [s for evse, s in mock.statuses() if evse == EVSE_1]
    changes = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert changes[-4:] == ["Available", "Occupied", "Available", "Unknown"], seen


async def test_remote_start_after_the_ev_was_plugged_in(oicp_hub, mock) -> None:
    """OCPP 2.0.1 F02, cable plugged in first: the station's transaction is already running,
    without an id token, when Hubject asks for the remote start; the station answers with its
    transactionId and authorises that transaction. The session is that transaction: its
    notifications and its one CDR carry the SessionID."""
    sid = session_id()
    async with connect_station201(oicp_hub, "CP-1") as cp:
        await cp.boot()
        await status(cp, "Available")
        await status(cp, "Occupied")
        started = await cp.call(transaction_event(
            "Started", 0, "CablePluggedIn", charging_state="EVConnected", evse=EVSE,
            meter_value=energy(2000, context="Transaction.Begin")), suppress=False)
        assert started.id_token_info is None  # nothing to authorise yet
        await wait_for(lambda: mock.latest_status().get(EVSE_1) == "Occupied")

        cp.answers["RequestStartTransaction"] = call_result.RequestStartTransaction(
            status="Accepted", transaction_id=TX)
        _, ack = await webhook(oicp_hub, "start", remote_start_body(sid))
        assert ack["Result"] is True and ack["StatusCode"]["Code"] == "000", ack
        remote = [r for r in cp.received if r.action == "RequestStartTransaction"]
        remote_start_id = remote[0].payload["remote_start_id"]

        authorised = await cp.call(transaction_event(
            "Updated", 1, "RemoteStart", charging_state="Charging",
            remote_start_id=remote_start_id, id_token=TOKEN), suppress=False)
        assert authorised.id_token_info["status"] == "Accepted"
        await wait_for(lambda: [n for n in mock.accepted("ChargingNotifications")
                                if n["Type"] == "Start"])
        # The Ended event also carries a periodic reading: the CDR, built in that event's own
        # transaction, must see it although the event's rows go with the group commit.
        await cp.call(transaction_event(
            "Ended", 2, "EVCommunicationLost", stopped_reason="EVDisconnected", evse=EVSE,
            meter_value=energy(8500) + energy(9000, context="Transaction.End")),
            suppress=False)
        cdr = (await wait_for(lambda: mock.accepted("ChargeDetailRecord")))[0]

    assert cdr["SessionID"] == sid and cdr["EvseID"] == EVSE_1
    assert cdr["Identification"] == {"RemoteIdentification": {"EvcoID": EVCO}}
    assert cdr["MeterValueStart"] == 2.0 and cdr["MeterValueEnd"] == 9.0
    assert cdr["ConsumedEnergy"] == 7.0
    assert cdr["MeterValueInBetween"] == {"meterValues": [8.5]}
    start = [n for n in mock.accepted("ChargingNotifications") if n["Type"] == "Start"]
    assert len(start) == 1 and start[0]["SessionID"] == sid
