"""A real `ocpp` 1.6 charge point over `websockets` that answers every command the hub
sends, with configurable answers (``answers[action]``), and records what it received."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from tests.harness.hub import Received, RunningHub, basic_auth, running_charge_point


class TestStation(ChargePoint):
    """A charge point that answers the hub's commands with configurable statuses."""

    __test__ = False

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.received: list[Received] = []
        # action -> response payload dataclass (or a callable returning one)
        self.answers: dict[str, Any] = {}
        self.delay: float = 0.0

    def _answer(self, action: str, default: Any, **payload: Any) -> Any:
        self.received.append(Received(action, payload))
        answer = self.answers.get(action, default)
        return answer(**payload) if callable(answer) else answer

    async def _maybe_delay(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)

    @on(Action.reset)
    async def on_reset(self, **kw: Any) -> Any:
        await self._maybe_delay()
        return self._answer("Reset", call_result.Reset(status="Accepted"), **kw)

    @on(Action.get_configuration)
    def on_get_configuration(self, **kw: Any) -> Any:
        return self._answer("GetConfiguration", call_result.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                               {"key": "NumberOfConnectors", "readonly": True, "value": "2"}],
            unknown_key=kw.get("key") and [k for k in kw["key"] if k.startswith("Unknown")]
            or None), **kw)

    @on(Action.change_configuration)
    def on_change_configuration(self, **kw: Any) -> Any:
        return self._answer("ChangeConfiguration",
                            call_result.ChangeConfiguration(status="Accepted"), **kw)

    @on(Action.change_availability)
    def on_change_availability(self, **kw: Any) -> Any:
        return self._answer("ChangeAvailability",
                            call_result.ChangeAvailability(status="Accepted"), **kw)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kw: Any) -> Any:
        return self._answer("ClearCache", call_result.ClearCache(status="Accepted"), **kw)

    @on(Action.remote_start_transaction)
    def on_remote_start(self, **kw: Any) -> Any:
        return self._answer("RemoteStartTransaction",
                            call_result.RemoteStartTransaction(status="Accepted"), **kw)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, **kw: Any) -> Any:
        return self._answer("RemoteStopTransaction",
                            call_result.RemoteStopTransaction(status="Accepted"), **kw)

    @on(Action.unlock_connector)
    def on_unlock(self, **kw: Any) -> Any:
        return self._answer("UnlockConnector", call_result.UnlockConnector(status="Unlocked"),
                            **kw)

    @on(Action.data_transfer)
    def on_data_transfer(self, **kw: Any) -> Any:
        return self._answer("DataTransfer", call_result.DataTransfer(status="Accepted",
                                                                     data="pong"), **kw)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, **kw: Any) -> Any:
        return self._answer("GetDiagnostics", call_result.GetDiagnostics(file_name="diag.zip"),
                            **kw)

    @on(Action.update_firmware)
    def on_update_firmware(self, **kw: Any) -> Any:
        return self._answer("UpdateFirmware", call_result.UpdateFirmware(), **kw)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kw: Any) -> Any:
        return self._answer("GetLocalListVersion",
                            call_result.GetLocalListVersion(list_version=7), **kw)

    @on(Action.send_local_list)
    def on_send_local_list(self, **kw: Any) -> Any:
        return self._answer("SendLocalList", call_result.SendLocalList(status="Accepted"), **kw)

    @on(Action.reserve_now)
    def on_reserve_now(self, **kw: Any) -> Any:
        return self._answer("ReserveNow", call_result.ReserveNow(status="Accepted"), **kw)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, **kw: Any) -> Any:
        return self._answer("CancelReservation",
                            call_result.CancelReservation(status="Accepted"), **kw)

    @on(Action.trigger_message)
    def on_trigger_message(self, **kw: Any) -> Any:
        return self._answer("TriggerMessage", call_result.TriggerMessage(status="Accepted"),
                            **kw)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, **kw: Any) -> Any:
        return self._answer("SetChargingProfile",
                            call_result.SetChargingProfile(status="Accepted"), **kw)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kw: Any) -> Any:
        return self._answer("ClearChargingProfile",
                            call_result.ClearChargingProfile(status="Accepted"), **kw)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, **kw: Any) -> Any:
        return self._answer("GetCompositeSchedule",
                            call_result.GetCompositeSchedule(status="Rejected"), **kw)

    @on(Action.certificate_signed)
    def on_certificate_signed(self, **kw: Any) -> Any:
        return self._answer("CertificateSigned",
                            call_result.CertificateSigned(status="Accepted"), **kw)

    @on(Action.install_certificate)
    def on_install_certificate(self, **kw: Any) -> Any:
        return self._answer("InstallCertificate",
                            call_result.InstallCertificate(status="Accepted"), **kw)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, **kw: Any) -> Any:
        return self._answer("GetInstalledCertificateIds",
                            call_result.GetInstalledCertificateIds(status="NotFound"), **kw)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, **kw: Any) -> Any:
        return self._answer("DeleteCertificate",
                            call_result.DeleteCertificate(status="NotFound"), **kw)

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, **kw: Any) -> Any:
        return self._answer("ExtendedTriggerMessage",
                            call_result.ExtendedTriggerMessage(status="Accepted"), **kw)

    @on(Action.get_log)
    def on_get_log(self, **kw: Any) -> Any:
        return self._answer("GetLog", call_result.GetLog(status="Accepted",
                                                         filename="log.txt"), **kw)

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, **kw: Any) -> Any:
        return self._answer("SignedUpdateFirmware",
                            call_result.SignedUpdateFirmware(status="Accepted"), **kw)

    # -- convenience for charger-initiated messages ---------------------------------------

    async def boot(self, vendor: str = "ACME", model: str = "Wallbox 2") -> Any:
        return await self.call(call.BootNotification(
            charge_point_vendor=vendor, charge_point_model=model,
            charge_point_serial_number="SN-1", firmware_version="1.2.3"), suppress=False)


@contextlib.asynccontextmanager
async def connect_station16(running: RunningHub, station_id: str, *,
                          password: str | None = None, subprotocol: str = "ocpp1.6",
                          ssl_context: ssl.SSLContext | None = None,
                          bare: bool = False) -> AsyncIterator[TestStation]:
    headers = basic_auth(station_id, password) if password else None
    async with websockets.connect(
        running.ws_url(station_id, bare=bare), subprotocols=[subprotocol],
        additional_headers=headers, ssl=ssl_context, open_timeout=10,
    ) as ws:
        async with running_charge_point(TestStation(station_id, ws)) as station:
            yield station
