"""commands.call: every CSMS-initiated OCPP 1.6 action round-trips to a real charger; failures
are typed; side effects that matter are persisted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from ocpp.v16 import call, call_result

from hub.commands import CallError, CallTimeout, StationOffline
from hub.db.models import Connector, Reservation, Station, StationConfigurationKey
from hub.ocpp_server.session import InvalidRequest
from hub.services.reservations import reserve_now
from tests.harness import RunningHub, connect_station

PROFILE = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
           "chargingProfileKind": "Absolute", "chargingSchedule": {
               "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                    "limit": 16.0}]}}
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
HASH = {"hashAlgorithm": "SHA256", "issuerNameHash": "ab", "issuerKeyHash": "cd",
        "serialNumber": "01"}

# Every CSMS-initiated action of OCPP 1.6 + the Security Whitepaper, with a valid request.
REQUESTS = [
    call.CancelReservation(reservation_id=1),
    call.ChangeAvailability(connector_id=1, type="Inoperative"),
    call.ChangeConfiguration(key="HeartbeatInterval", value="60"),
    call.ClearCache(),
    call.ClearChargingProfile(id=1),
    call.DataTransfer(vendor_id="com.example", message_id="ping", data="hello"),
    call.GetCompositeSchedule(connector_id=1, duration=3600),
    call.GetConfiguration(key=["HeartbeatInterval"]),
    call.GetDiagnostics(location="ftp://example.invalid/diag"),
    call.GetLocalListVersion(),
    call.RemoteStartTransaction(id_tag="TAG1", connector_id=1),
    call.RemoteStopTransaction(transaction_id=1),
    call.ReserveNow(connector_id=1, expiry_date="2030-01-01T00:00:00Z", id_tag="TAG1",
                    reservation_id=99),
    call.Reset(type="Soft"),
    call.SendLocalList(list_version=3, update_type="Full",
                       local_authorization_list=[{"idTag": "TAG1",
                                                  "idTagInfo": {"status": "Accepted"}}]),
    call.SetChargingProfile(connector_id=1, cs_charging_profiles=PROFILE),
    call.TriggerMessage(requested_message="StatusNotification", connector_id=1),
    call.UnlockConnector(connector_id=1),
    call.UpdateFirmware(location="https://example.invalid/fw.bin",
                        retrieve_date="2030-01-01T00:00:00Z"),
    call.CertificateSigned(certificate_chain=CERT),
    call.InstallCertificate(certificate_type="ManufacturerRootCertificate", certificate=CERT),
    call.GetInstalledCertificateIds(certificate_type="CentralSystemRootCertificate"),
    call.DeleteCertificate(certificate_hash_data=HASH),
    call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate"),
    call.GetLog(log_type="SecurityLog", request_id=7,
                log={"remoteLocation": "https://example.invalid/logs"}),
    call.SignedUpdateFirmware(request_id=8, firmware={
        "location": "https://example.invalid/fw", "retrieveDateTime": "2030-01-01T00:00:00Z",
        "signingCertificate": CERT, "signature": "c2ln"}),
]


def test_the_list_covers_every_csms_initiated_action() -> None:
    from ocpp.v16.enums import Action

    charger_initiated = {
        "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
        "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
        "StatusNotification", "StopTransaction", "SecurityEventNotification",
        "SignCertificate", "LogStatusNotification", "SignedFirmwareStatusNotification",
    }
    csms_initiated = {a.value for a in Action} - charger_initiated | {"DataTransfer"}
    assert {type(r).__name__ for r in REQUESTS} == csms_initiated


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_action_round_trips(hub: RunningHub) -> None:
    async with connect_station(hub, "CP-CMD") as cp:
        for request in REQUESTS:
            action = type(request).__name__
            response = await hub.hub.commands.call("CP-CMD", request, timeout=5)
            assert type(response) is getattr(call_result, action), action
            assert cp.received[-1].action == action
        assert len(cp.received) == len(REQUESTS)
        # What the charger received is what was asked, field by field.
        by_action = {r.action: r.payload for r in cp.received}
        assert by_action["SetChargingProfile"]["cs_charging_profiles"]["charging_schedule"][
            "charging_schedule_period"][0]["limit"] == 16.0
        assert by_action["SendLocalList"]["list_version"] == 3
    metrics = hub.hub.metrics.snapshot("out")
    assert metrics["Reset"]["success"] == 1


async def test_failures_are_typed(hub: RunningHub) -> None:
    commands = hub.hub.commands
    with pytest.raises(StationOffline):
        await commands.call("NOBODY", call.Reset(type="Soft"))
    async with connect_station(hub, "CP-ERR") as cp:
        with pytest.raises(InvalidRequest) as invalid:
            await commands.call("CP-ERR", call.Reset(type="Sideways"))
        assert invalid.value.field == "type"

        cp.answers["Reset"] = lambda **kw: (_ for _ in ()).throw(ValueError("boom"))
        with pytest.raises(CallError) as error:
            await commands.call("CP-ERR", call.Reset(type="Hard"), timeout=5)
        assert error.value.code == "InternalError"

        cp.delay = 1.0
        cp.answers.pop("Reset")
        with pytest.raises(CallTimeout):
            await commands.call("CP-ERR", call.Reset(type="Soft"), timeout=0.2)
        cp.delay = 0.0
        # The late answer to the timed-out call is ignored; the next call works.
        await asyncio.sleep(1.0)
        response = await commands.call("CP-ERR", call.Reset(type="Soft"), timeout=5)
        assert response.status == "Accepted"


async def test_one_call_in_flight_per_station(hub: RunningHub) -> None:
    async with connect_station(hub, "CP-SEQ") as cp:
        in_flight = 0
        peak = 0

        async def counting_reset(**kw):  # stands in for the test station's Reset handler
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.1)
            in_flight -= 1
            return call_result.Reset(status="Accepted")

        cp.route_map["Reset"]["_on_action"] = counting_reset
        results = await asyncio.gather(*(hub.hub.commands.call("CP-SEQ", call.Reset(type="Soft"))
                                         for _ in range(4)))
        assert [r.status for r in results] == ["Accepted"] * 4
        assert peak == 1


async def test_side_effects_are_persisted(hub: RunningHub) -> None:
    commands = hub.hub.commands
    async with connect_station(hub, "CP-FX") as cp:
        await cp.boot()
        await commands.call("CP-FX", call.GetConfiguration())
        await commands.call("CP-FX", call.ChangeConfiguration(key="MeterValueSampleInterval",
                                                              value="30"))
        await commands.call("CP-FX", call.SendLocalList(list_version=5, update_type="Full"))
        await commands.call("CP-FX", call.ChangeAvailability(connector_id=2, type="Inoperative"))
        expiry = datetime.now(UTC) + timedelta(hours=1)
        reservation_id, status = await reserve_now(hub.hub, "CP-FX", 1, "TAG1", expiry)
        assert status == "Accepted"
        assert cp.received[-1].payload["reservation_id"] == reservation_id
        await commands.call("CP-FX", call.CancelReservation(reservation_id=reservation_id))
        cp.answers["ChangeConfiguration"] = call_result.ChangeConfiguration(status="Rejected")
        await commands.call("CP-FX", call.ChangeConfiguration(key="HeartbeatInterval",
                                                              value="1"))

    async with hub.hub.sessions() as session:
        config = {k.key: k for k in (await session.execute(
            sa.select(StationConfigurationKey).where(
                StationConfigurationKey.station_id == "CP-FX"))).scalars()}
        assert config["HeartbeatInterval"].value == "300"  # rejected change not recorded
        assert config["NumberOfConnectors"].readonly is True
        assert config["MeterValueSampleInterval"].value == "30"
        assert (await session.get(Station, "CP-FX")).local_list_version == 5
        assert (await session.get(Connector, ("CP-FX", 2))).availability == "Inoperative"
        reservation = await session.get(Reservation, reservation_id)
        assert reservation.status == "Cancelled"
