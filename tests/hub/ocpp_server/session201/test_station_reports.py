"""What a 2.0.1 station reports on its own is stored: device events (and connector status sent
as an AvailabilityState event), security/firmware/log notifications, reservation updates,
smart-charging reports, device model reports; DataTransfer goes to the registered handlers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from ocpp.v201 import call

from hub.db.models import Connector, Reservation, Station, StationNotification
from hub.db.models201 import ChargingReport, DeviceReport, DeviceVariable, EvseConnector
from hub.ocpp_server.session import StationSession
from tests.harness import RunningHub, connect_station201, now, report_data

SCHEDULE = {"id": 1, "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": 7400.0}]}


async def test_station_reports_are_stored(hub: RunningHub) -> None:
    async def echo(session: StationSession, data: str | None) -> tuple[str, str | None]:
        return "Accepted", f"{session.id}:{data}"

    hub.hub.handle_data_transfer("com.example", "echo", echo)
    async with hub.hub.sessions() as session, session.begin():
        reservation = Reservation(station_id="CP-REP", connector_id=1, id_tag="T",
                                  expiry_date=datetime(2030, 1, 1, tzinfo=UTC))
        session.add(Station(id="CP-REP"))
        await session.flush()
        session.add(reservation)
        await session.flush()
        reservation_id = reservation.id

    async with connect_station201(hub, "CP-REP") as cp:
        await cp.boot(reason="FirmwareUpdate")

        async def send(request: Any) -> Any:
            return await cp.call(request, suppress=False)

        await send(call.NotifyEvent(generated_at=now(), seq_no=0, event_data=[
            {"event_id": 1, "timestamp": now(), "trigger": "Delta", "actual_value": "Occupied",
             "event_notification_type": "HardWiredNotification",
             "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
             "variable": {"name": "AvailabilityState"}},
            {"event_id": 2, "timestamp": now(), "trigger": "Alerting", "actual_value": "true",
             "tech_code": "OVP", "event_notification_type": "HardWiredMonitor",
             "component": {"name": "ChargingStation"}, "variable": {"name": "Problem"}}]))
        await send(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=now(),
                                                  tech_info="2.0.1-b"))
        await send(call.FirmwareStatusNotification(status="Installed", request_id=3))
        await send(call.LogStatusNotification(status="Uploaded", request_id=4))
        await send(call.ReservationStatusUpdate(reservation_id=reservation_id,
                                                reservation_update_status="Expired"))
        await send(call.ReservationStatusUpdate(reservation_id=999_999,
                                                reservation_update_status="Removed"))
        await send(call.NotifyChargingLimit(charging_limit={"charging_limit_source": "EMS"},
                                            evse_id=1, charging_schedule=[SCHEDULE]))
        await send(call.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
        needs = await send(call.NotifyEVChargingNeeds(evse_id=1, charging_needs={
            "requested_energy_transfer": "AC_three_phase",
            "ac_charging_parameters": {"energy_amount": 20000, "ev_min_current": 6,
                                       "ev_max_current": 32, "ev_max_voltage": 400}}))
        assert needs.status == "Rejected"  # the hub computes no schedules
        schedule = await send(call.NotifyEVChargingSchedule(
            time_base=now(), evse_id=1, charging_schedule=SCHEDULE))
        assert schedule.status == "Accepted"
        await send(call.ReportChargingProfiles(
            request_id=5, charging_limit_source="CSO", evse_id=1, charging_profile=[{
                "id": 1, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
                "charging_profile_kind": "Relative", "charging_schedule": [SCHEDULE]}]))
        await send(call.NotifyReport(request_id=6, generated_at=now(), seq_no=0,
                                     report_data=report_data()[:1], tbc=True))
        await send(call.NotifyReport(request_id=6, generated_at=now(), seq_no=1,
                                     report_data=report_data()[1:]))

        echoed = await send(call.DataTransfer(vendor_id="com.example", message_id="echo",
                                              data={"n": 1}))
        assert (echoed.status, echoed.data) == ("Accepted", 'CP-REP:{"n": 1}')
        assert (await send(call.DataTransfer(vendor_id="com.example", message_id="x"))
                ).status == "UnknownMessageId"
        assert (await send(call.DataTransfer(vendor_id="org.other"))).status == \
            "UnknownVendorId"

    async with hub.hub.sessions() as session:
        notes = (await session.execute(sa.select(StationNotification).where(
            StationNotification.station_id == "CP-REP").order_by(StationNotification.id)
        )).scalars().all()
        by_kind: dict[str, list[StationNotification]] = {}
        for note in notes:
            by_kind.setdefault(note.kind, []).append(note)
        assert by_kind["BootNotification"][0].status == "FirmwareUpdate"
        assert [(n.status, n.request_id) for n in by_kind["Event"]] == [("Delta", 1),
                                                                        ("Alerting", 2)]
        assert '"techCode":"OVP"' in by_kind["Event"][1].detail
        assert (by_kind["SecurityEvent"][0].status, by_kind["SecurityEvent"][0].detail) == (
            "FirmwareUpdated", "2.0.1-b")
        assert (by_kind["FirmwareStatus"][0].status, by_kind["FirmwareStatus"][0].request_id) \
            == ("Installed", 3)
        assert by_kind["LogStatus"][0].request_id == 4

        # The AvailabilityState event moved the connector like a StatusNotification would.
        assert (await session.get(EvseConnector, ("CP-REP", 1, 1))).status == "Occupied"
        assert (await session.get(Connector, ("CP-REP", 1))).status == "Preparing"

        assert (await session.get(Reservation, reservation_id)).status == "Expired"

        reports = (await session.execute(sa.select(ChargingReport).where(
            ChargingReport.station_id == "CP-REP").order_by(ChargingReport.id))).scalars().all()
        assert [r.kind for r in reports] == [
            "NotifyChargingLimit", "ClearedChargingLimit", "NotifyEVChargingNeeds",
            "NotifyEVChargingSchedule", "ReportChargingProfiles"]
        assert reports[2].payload["chargingNeeds"]["acChargingParameters"]["evMaxCurrent"] == 32
        assert (reports[4].request_id, reports[4].evse_id) == (5, 1)

        report = await session.get(DeviceReport, ("CP-REP", 6))
        assert (report.parts, report.complete, report.variables) == (2, True, 4)
        count = await session.scalar(sa.select(sa.func.count()).select_from(DeviceVariable)
                                     .where(DeviceVariable.station_id == "CP-REP"))
        assert count == 4
