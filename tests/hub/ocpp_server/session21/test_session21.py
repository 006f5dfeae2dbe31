"""OCPP 2.1 on the hub's endpoint with a real `ocpp.v21` station: boot, heartbeat, status,
authorisation, a transaction (TransactionEvent Started/Updated/Ended, MeterValues), security
and certificate messages on the 2.0.1 services; the hub's commands go out in 2.1 (validated
against the 2.1 schemas); SEND and CALLRESULTERROR frames are handled; a 2.1-only action gets
NotImplemented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.v21 import call, call_result

from hub.db.models import IdTag, Station, StationNotification, Transaction
from hub.db.models201 import EvseConnector
from tests.harness import RunningHub, connect_station, wait_for

SID = "CP-21"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def ts(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def energy(wh: float, minutes: float) -> list[dict[str, Any]]:
    return [{"timestamp": ts(minutes), "sampled_value": [{
        "value": wh, "measurand": "Energy.Active.Import.Register",
        "unit_of_measure": {"unit": "Wh"}}]}]


async def post(running: RunningHub, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            running.http_url + path, json=body, headers=running.auth) as response:
        return response.status, await response.json()


async def test_a_2_1_station_charges_on_the_2_0_1_services(hub: RunningHub) -> None:
    async with hub.hub.sessions() as session, session.begin():
        session.add(IdTag(id_tag="TAG-21"))
    async with connect_station(hub, SID, version="2.1") as cp:
        boot = await cp.boot(model="Wallbox 21")
        assert boot.status == "Accepted" and boot.interval > 0
        assert (await cp.call(call.Heartbeat(), suppress=False)).current_time
        await cp.call(call.StatusNotification(timestamp=ts(0), connector_status="Available",
                                              evse_id=1, connector_id=1), suppress=False)
        auth = await cp.call(call.Authorize(id_token={"id_token": "TAG-21",
                                                      "type": "ISO14443"}), suppress=False)
        assert auth.id_token_info["status"] == "Accepted"
        for seq_no, (event_type, trigger, wh) in enumerate((
                ("Started", "Authorized", 1000), ("Updated", "MeterValuePeriodic", 4000),
                ("Ended", "StopAuthorized", 9000))):
            answer = await cp.call(call.TransactionEvent(
                event_type=event_type, timestamp=ts(seq_no * 10), trigger_reason=trigger,
                seq_no=seq_no, transaction_info={"transaction_id": "tx-21",
                                                 **({"stopped_reason": "Local"}
                                                    if event_type == "Ended" else {})},
                evse={"id": 1, "connector_id": 1},
                id_token={"id_token": "TAG-21", "type": "ISO14443"},
                meter_value=energy(wh, seq_no * 10)), suppress=False)
            assert answer.id_token_info["status"] == "Accepted"
        await cp.call(call.MeterValues(evse_id=0, meter_value=energy(50000, 31)),
                      suppress=False)
        await cp.call(call.SecurityEventNotification(type="StartupOfTheDevice",
                                                     timestamp=ts(31)), suppress=False)
        # No Plug&Charge feature on this hub: the 2.0.1 core answer, in 2.1.
        signed = await cp.call(call.SignCertificate(csr="-----BEGIN CERTIFICATE REQUEST-----"),
                               suppress=False)
        assert signed.status == "Rejected"

        async with hub.hub.sessions() as session:
            station = await session.get(Station, SID)
            tx = (await session.execute(sa.select(Transaction).where(
                Transaction.station_id == SID))).scalar_one()
            evses = (await session.execute(sa.select(EvseConnector).where(
                EvseConnector.station_id == SID))).scalars().all()
            notes = (await session.execute(sa.select(StationNotification.kind).where(
                StationNotification.station_id == SID))).scalars().all()
        assert station is not None and station.ocpp_version == "2.1"
        assert (station.vendor, station.model) == ("ACME", "Wallbox 21")
        assert (tx.ocpp_transaction_id, tx.status, tx.id_tag) == ("tx-21", "completed",
                                                                  "TAG-21")
        assert (tx.meter_start, tx.meter_stop) == (1000, 9000)
        assert [(e.evse_id, e.connector_id) for e in evses] == [(1, 1)]
        assert {"BootNotification", "SecurityEvent", "SignCertificate"} <= set(notes)


async def test_the_hubs_commands_reach_a_2_1_station(hub: RunningHub) -> None:
    async with connect_station(hub, SID, version="2.1") as cp:
        await cp.boot()
        await wait_for(lambda: SID in hub.hub.stations)
        assert hub.hub.stations.get(SID).ocpp_version == "2.1"
        status, body = await post(hub, "/api/reset", {"station_id": SID, "type": "Hard"})
        assert (status, body["status"]) == (200, "Accepted")
        assert (cp.received[-1].action, cp.received[-1].payload) == ("Reset",
                                                                     {"type": "Immediate"})
        status, body = await post(hub, "/api/startTransaction", {
            "station_id": SID, "id_tag": "TAG-21", "connector_id": 1, "wait_seconds": 0})
        assert (status, body["status"]) == (200, "Accepted")
        assert cp.received[-1].action == "RequestStartTransaction"
        assert cp.received[-1].payload["id_token"]["id_token"] == "TAG-21"
        status, body = await post(hub, "/api/ocpp/GetReport", {
            "station_id": SID, "payload": {"componentCriteria": ["Problem"]}})
        assert (status, body["response"]["status"]) == (200, "EmptyResultSet"), body
        status, body = await post(hub, "/api/triggerMessage", {
            "station_id": SID, "requested_message": "TransactionEvent"})
        assert (status, cp.received[-1].action) == (200, "TriggerMessage")


async def test_send_and_callresulterror_frames_and_2_1_only_actions(hub: RunningHub) -> None:
    async with connect_station(hub, SID, version="2.1") as cp:
        await cp.boot()
        await wait_for(lambda: SID in hub.hub.stations)
        session = hub.hub.stations.get(SID)
        sent_before = session.messages_out

        # SEND: processed like a CALL, never answered.
        await cp.send_raw([6, "send-1", "SecurityEventNotification",
                           {"type": "TamperDetectionActivated", "timestamp": ts(1)}])

        async def recorded() -> bool:
            async with hub.hub.sessions() as db:
                return bool((await db.execute(sa.select(StationNotification).where(
                    StationNotification.station_id == SID,
                    StationNotification.status == "TamperDetectionActivated"))).first())

        await wait_for(recorded)
        # An action the hub does not handle, sent as SEND: dropped, still not answered.
        await cp.send_raw([6, "send-2", "NotifyPeriodicEventStream",
                           {"id": 1, "pending": 0, "basetime": ts(1), "data": []}])
        # CALLRESULTERROR: the station could not process one of the hub's answers.
        await cp.send_raw([5, "answer-1", "FormatViolation", "cannot parse", {}])
        await wait_for(lambda: hub.hub.metrics.snapshot("in").get("(CALLRESULTERROR)"))
        await wait_for(lambda: hub.hub.metrics.snapshot("in").get("NotifyPeriodicEventStream"))
        assert session.messages_out == sent_before
        assert cp.new_frames == []
        assert hub.hub.metrics.snapshot("in")["NotifyPeriodicEventStream"]["errors"] == 1

        # The station's answer to a hub call fails the 2.1 schema: the caller gets a 502 and
        # the station a CALLRESULTERROR naming the problem.
        cp.answers["UnlockConnector"] = call_result.UnlockConnector(status="Jammed")
        status, body = await post(hub, "/api/unlockConnector", {"station_id": SID,
                                                                "connector_id": 1})
        assert (status, body["error"]) == (502, "charger_error"), body
        [frame] = await wait_for(lambda: cp.new_frames)
        assert frame[0] == 5 and frame[2] == "PropertyConstraintViolation", frame
        assert "Jammed" in frame[3]

        # 2.1-only actions the hub does not serve: NotImplemented, as OCPP-J says.
        with pytest.raises(OcppNotImplemented):
            await cp.call(call.NotifyDERAlarm(control_type="FreqDroop", timestamp=ts(2)),
                          suppress=False)
        # The session goes on.
        assert (await cp.call(call.Heartbeat(), suppress=False)).current_time
