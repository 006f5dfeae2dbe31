"""Every hub-initiated 2.0.1 command round-trips through hub.commands.call against a real
`ocpp` 2.0.1 station (which validates what it receives against the 2.0.1 schemas), and the
effects that matter are remembered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from ocpp.v201 import call, call_result

from hub.commands import CallError
from hub.db.models import Connector, Reservation, Station
from hub.db.models201 import DeviceReport, DeviceVariable
from hub.ocpp_server.session import InvalidRequest
from tests.harness import RunningHub, connect_station201, wait_for

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
HASH = {"hash_algorithm": "SHA256", "issuer_name_hash": "ab" * 32, "issuer_key_hash": "cd" * 32,
        "serial_number": "1f"}
HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
PROFILE = {"id": 1, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
           "charging_profile_kind": "Absolute",
           "charging_schedule": [{"id": 1, "charging_rate_unit": "W",
                                  "start_schedule": "2026-11-21T10:00:00Z",
                                  "charging_schedule_period": [{"start_period": 0,
                                                                "limit": 11000.0}]}]}

# (request, response type, expected status or None) -- the whole list.
COMMANDS: list[tuple[Any, str | None]] = [
    (call.GetVariables(get_variable_data=[HEARTBEAT]), None),
    (call.SetVariables(set_variable_data=[{**HEARTBEAT, "attribute_value": "120"}]), None),
    (call.GetBaseReport(request_id=11, report_base="ConfigurationInventory"), "Accepted"),
    (call.GetReport(request_id=12, component_criteria=["Available"]), "EmptyResultSet"),
    (call.RequestStartTransaction(id_token={"id_token": "GOOD", "type": "Central"},
                                  remote_start_id=41, evse_id=1), "Accepted"),
    (call.RequestStopTransaction(transaction_id="TX-1"), "Accepted"),
    (call.Reset(type="OnIdle"), "Accepted"),
    (call.ChangeAvailability(operational_status="Inoperative", evse={"id": 1}), "Accepted"),
    (call.UnlockConnector(evse_id=1, connector_id=1), "Unlocked"),
    (call.TriggerMessage(requested_message="StatusNotification",
                         evse={"id": 1, "connector_id": 1}), "Accepted"),
    (call.ReserveNow(id=0, expiry_date_time="2030-01-01T00:00:00Z",
                     id_token={"id_token": "GOOD", "type": "ISO14443"}, evse_id=1), "Accepted"),
    (call.CancelReservation(reservation_id=0), "Accepted"),
    (call.SendLocalList(version_number=9, update_type="Full", local_authorization_list=[
        {"id_token": {"id_token": "GOOD", "type": "ISO14443"},
         "id_token_info": {"status": "Accepted"}}]), "Accepted"),
    (call.GetLocalListVersion(), None),
    (call.SetChargingProfile(evse_id=1, charging_profile=PROFILE), "Accepted"),
    (call.ClearChargingProfile(charging_profile_id=1), "Accepted"),
    (call.GetCompositeSchedule(duration=3600, evse_id=1, charging_rate_unit="W"), "Accepted"),
    (call.UpdateFirmware(request_id=13, firmware={
        "location": "https://fw.example/fw.bin", "retrieve_date_time": "2026-11-21T10:00:00Z"}),
     "Accepted"),
    (call.GetLog(log={"remote_location": "https://logs.example/upload"}, log_type="DiagnosticsLog",
                 request_id=14), "Accepted"),
    (call.CertificateSigned(certificate_chain=CERT, certificate_type="V2GCertificate"),
     "Accepted"),
    (call.InstallCertificate(certificate_type="V2GRootCertificate", certificate=CERT),
     "Accepted"),
    (call.GetInstalledCertificateIds(certificate_type=["V2GRootCertificate"]), "NotFound"),
    (call.DeleteCertificate(certificate_hash_data=HASH), "NotFound"),
    (call.DataTransfer(vendor_id="com.example", message_id="ping", data={"n": 1}), "Accepted"),
    (call.ClearCache(), "Accepted"),
]


async def test_every_2_0_1_command_round_trips(hub: RunningHub) -> None:
    commands = hub.hub.commands
    async with connect_station201(hub, "CP-CMD") as cp:
        await cp.boot()
        # A reservation the hub made, so that ReserveNow/CancelReservation have a row to update.
        async with hub.hub.sessions() as session, session.begin():
            reservation = Reservation(station_id="CP-CMD", connector_id=1, id_tag="GOOD",
                                      expiry_date=datetime(2030, 1, 1, tzinfo=UTC))
            session.add(reservation)
            await session.flush()
            reservation_id = reservation.id
        for request, status in COMMANDS:
            action = type(request).__name__
            if action == "ReserveNow":
                request.id = reservation_id
            if action == "CancelReservation":
                request.reservation_id = reservation_id
            response = await commands.call("CP-CMD", request, timeout=10)
            assert isinstance(response, getattr(call_result, action)), action
            if status is not None:
                assert response.status == status, action
            assert cp.received[-1].action == action

        assert cp.received[[r.action for r in cp.received].index("DataTransfer")].payload[
            "data"] == {"n": 1}

        # GetBaseReport is followed by the station's NotifyReport parts: the inventory.
        async def report_done() -> bool:
            async with hub.hub.sessions() as session:
                report = await session.get(DeviceReport, ("CP-CMD", 11))
                return bool(report and report.complete)

        await wait_for(report_done)

    async with hub.hub.sessions() as session:
        station = await session.get(Station, "CP-CMD")
        assert station.local_list_version == 7  # GetLocalListVersion came after SendLocalList
        assert (await session.get(Reservation, reservation_id)).status == "Cancelled"
        assert (await session.get(Connector, ("CP-CMD", 1))).availability == "Inoperative"
        report = await session.get(DeviceReport, ("CP-CMD", 11))
        assert (report.parts, report.last_seq_no, report.variables) == (2, 1, 4)
        rows = {(v.component, v.variable): v for v in (await session.execute(
            sa.select(DeviceVariable).where(DeviceVariable.station_id == "CP-CMD"))).scalars()}
        # SetVariables (120) was accepted after GetVariables (300); the NotifyReport came last.
        heartbeat = rows[("OCPPCommCtrlr", "HeartbeatInterval")]
        assert (heartbeat.value, heartbeat.mutability, heartbeat.data_type, heartbeat.source) == (
            "300", "ReadWrite", "integer", "NotifyReport")
        profile = rows[("SecurityCtrlr", "SecurityProfile")]
        assert (profile.value, profile.mutability) == ("1", "ReadOnly")


async def test_effects_follow_the_answers(hub: RunningHub) -> None:
    commands = hub.hub.commands
    async with connect_station201(hub, "CP-EFF") as cp:
        await cp.boot()
        await commands.call("CP-EFF", call.GetVariables(get_variable_data=[
            HEARTBEAT, {"component": {"name": "Nope"}, "variable": {"name": "Nothing"}}]))
        await commands.call("CP-EFF", call.SetVariables(set_variable_data=[
            {**HEARTBEAT, "attribute_value": "90"},
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"},
             "attribute_value": "3"}]))
        await commands.call("CP-EFF", call.SendLocalList(version_number=21, update_type="Full"))
        cp.answers["SendLocalList"] = call_result.SendLocalList(status="VersionMismatch")
        await commands.call("CP-EFF", call.SendLocalList(version_number=22,
                                                         update_type="Differential"))
        # The whole station (no EVSE) becomes Inoperative: every connector follows.
        async with hub.hub.sessions() as session, session.begin():
            session.add_all([Connector(station_id="CP-EFF", connector_id=1),
                             Connector(station_id="CP-EFF", connector_id=2)])
        await commands.call("CP-EFF", call.ChangeAvailability(operational_status="Inoperative"))
        cp.answers["ChangeAvailability"] = call_result.ChangeAvailability(status="Rejected")
        await commands.call("CP-EFF", call.ChangeAvailability(operational_status="Operative",
                                                              evse={"id": 2}))

        # A CALLERROR answer is a typed error; an invalid request never leaves the hub.
        def refuse(**_: Any) -> Any:
            raise ValueError("no")

        cp.answers["Reset"] = refuse
        with pytest.raises(CallError) as error:
            await commands.call("CP-EFF", call.Reset(type="Immediate"))
        assert error.value.code == "InternalError"
        with pytest.raises(InvalidRequest):
            await commands.call("CP-EFF", call.Reset(type="Sometime"))

    async with hub.hub.sessions() as session:
        rows = {(v.component, v.variable): v for v in (await session.execute(
            sa.select(DeviceVariable).where(DeviceVariable.station_id == "CP-EFF"))).scalars()}
        assert set(rows) == {("OCPPCommCtrlr", "HeartbeatInterval")}
        assert (rows[("OCPPCommCtrlr", "HeartbeatInterval")].value,
                rows[("OCPPCommCtrlr", "HeartbeatInterval")].source) == ("90", "SetVariables")
        assert (await session.get(Station, "CP-EFF")).local_list_version == 21
        availability = {c.connector_id: c.availability for c in (await session.execute(
            sa.select(Connector).where(Connector.station_id == "CP-EFF"))).scalars()}
        assert availability == {0: "Inoperative", 1: "Inoperative", 2: "Inoperative"}
