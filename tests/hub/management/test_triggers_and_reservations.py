"""TriggerMessage for every 1.6 and 2.0.1 name (1.6 ExtendedTriggerMessage for the Security
Whitepaper's), 1.6 ExtendedTriggerMessage for all its names, the operator's ReserveNow and
CancelReservation on both versions, and the 1.6 DataTransfer paths a station can hit, each
against a real `ocpp` station."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call as call16

from hub.db.models import Reservation
from hub.ocpp_server.session import StationSession
from hub.services.station_commands import EXTENDED_TRIGGER16, TRIGGER16, TRIGGER201, TRIGGERABLE
from tests.harness import RunningHub, connect_station, connect_station201, wait_for
from tests.hub.management.conftest import Api

EXTENDED = ["BootNotification", "LogStatusNotification", "FirmwareStatusNotification",
            "Heartbeat", "MeterValues", "SignChargePointCertificate", "StatusNotification"]


async def test_every_trigger_name_on_a_1_6_station(hub: RunningHub, api: Api) -> None:
    async with connect_station(hub, "CP-T16") as cp:
        await wait_for(lambda: "CP-T16" in hub.hub.stations)
        await cp.boot()
        for name in TRIGGERABLE:
            body = {"station_id": "CP-T16", "requested_message": name, "connector_id": 1}
            if name in TRIGGER16:
                await api.ok("POST", "/api/triggerMessage", json=body)
                assert (cp.received[-1].action, cp.received[-1].payload["requested_message"]
                        ) == ("TriggerMessage", name)
            elif name in EXTENDED_TRIGGER16:
                await api.ok("POST", "/api/triggerMessage", json=body)
                assert (cp.received[-1].action, cp.received[-1].payload["requested_message"]
                        ) == ("ExtendedTriggerMessage", EXTENDED_TRIGGER16[name])
            else:
                error = await api.error("POST", "/api/triggerMessage", 400, json=body)
                assert error["field"] == "requested_message", error
        # ExtendedTriggerMessage as such, for every name it has.
        for name in EXTENDED:
            body = await api.ok("POST", "/api/ocpp/ExtendedTriggerMessage", json={
                "station_id": "CP-T16", "payload": {"requestedMessage": name}})
            assert body["response"] == {"status": "Accepted"}
            assert cp.received[-1].payload == {"requested_message": name}


async def test_every_trigger_name_on_a_2_0_1_station(hub: RunningHub, api: Api) -> None:
    async with connect_station201(hub, "CP-T201") as cp:
        await cp.boot()
        translated = {"DiagnosticsStatusNotification": "LogStatusNotification",
                      "SignChargePointCertificate": "SignChargingStationCertificate"}
        for name in TRIGGERABLE:
            body = {"station_id": "CP-T201", "requested_message": name}
            expected = translated.get(name, name)
            if expected in TRIGGER201:
                await api.ok("POST", "/api/triggerMessage", json=body)
                assert cp.received[-1].payload["requested_message"] == expected
            else:
                await api.error("POST", "/api/triggerMessage", 400, json=body)
        assert {r.payload["requested_message"] for r in cp.received
                if r.action == "TriggerMessage"} == set(TRIGGER201)


async def reservation(hub: RunningHub, reservation_id: int) -> Reservation | None:
    async with hub.hub.sessions() as session:
        return await session.get(Reservation, reservation_id)


async def test_operator_reserves_and_cancels_on_both_versions(hub: RunningHub,
                                                              api: Api) -> None:
    async with connect_station(hub, "CP-R16") as cp16, \
            connect_station201(hub, "CP-R201") as cp201:
        await wait_for(lambda: "CP-R16" in hub.hub.stations)
        await cp16.boot()
        await cp201.boot()
        for station_id, cp in (("CP-R16", cp16), ("CP-R201", cp201)):
            body = await api.ok("POST", "/api/reserveNow", json={
                "station_id": station_id, "connector_id": 1, "id_tag": "04A2B3C4",
                "expiry_minutes": 30})
            assert body["status"] == "Accepted"
            reservation_id = body["reservation_id"]
            sent = cp.received[-1]
            assert sent.action == "ReserveNow"
            assert reservation_id in (sent.payload.get("reservation_id"), sent.payload.get("id"))
            row = await reservation(hub, reservation_id)
            assert row is not None and (row.station_id, row.status) == (station_id, "Accepted")

            body = await api.ok("POST", "/api/cancelReservation", json={
                "station_id": station_id, "reservation_id": reservation_id})
            assert body["status"] == "Accepted" and cp.received[-1].action == "CancelReservation"
            row = await reservation(hub, reservation_id)
            assert row is not None and row.status == "Cancelled"
        error = await api.error("POST", "/api/reserveNow", 400, json={
            "station_id": "CP-R16", "id_tag": "04A2B3C4",
            "expiry_date": "2020-01-01T00:00:00Z"})
        assert error["field"] == "expiry_date"


async def test_1_6_data_transfer_unknown_vendor_and_message(hub: RunningHub) -> None:
    async def echo(session: StationSession, data: str | None) -> tuple[str, str | None]:
        return "Accepted", data

    hub.hub.handle_data_transfer("com.example", "echo", echo)
    async with connect_station(hub, "CP-DT") as cp:
        await wait_for(lambda: "CP-DT" in hub.hub.stations)
        await cp.boot()

        async def send(vendor_id: str, message_id: str | None) -> Any:
            return await cp.call(call16.DataTransfer(vendor_id=vendor_id, message_id=message_id,
                                                     data="x"), suppress=False)

        assert (await send("org.nobody", "echo")).status == "UnknownVendorId"
        assert (await send("com.example", "other")).status == "UnknownMessageId"
        answer = await send("com.example", "echo")
        assert (answer.status, answer.data) == ("Accepted", "x")
