"""A real `ocpp` 2.0.1 charging station over `websockets` (subprotocol ocpp2.0.1) that answers
every command the hub sends, with configurable answers, and records what it received."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import websockets
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from tests.hub.harness import RunningHub, basic_auth, running_charge_point


@dataclass
class Received:
    action: str
    payload: dict[str, Any] = field(default_factory=dict)


# The station's device model, as a NotifyReport would describe it.
DEVICE_MODEL = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): ("300", "ReadWrite"),
    ("OCPPCommCtrlr", "WebSocketPingInterval"): ("60", "ReadWrite"),
    ("SecurityCtrlr", "SecurityProfile"): ("1", "ReadOnly"),
    ("AuthCtrlr", "AuthorizeRemoteStart"): ("true", "ReadWrite"),
}


def report_data() -> list[dict[str, Any]]:
    return [{
        "component": {"name": component}, "variable": {"name": variable},
        "variable_attribute": [{"type": "Actual", "value": value, "mutability": mutability}],
        "variable_characteristics": {"data_type": "integer" if value.isdigit() else "boolean",
                                     "supports_monitoring": False},
    } for (component, variable), (value, mutability) in DEVICE_MODEL.items()]


def _get_variable_result(item: dict[str, Any]) -> dict[str, Any]:
    key = (item["component"]["name"], item["variable"]["name"])
    if key not in DEVICE_MODEL:
        return {"attribute_status": "UnknownVariable", "component": item["component"],
                "variable": item["variable"]}
    return {"attribute_status": "Accepted", "attribute_type": item.get("attribute_type",
                                                                       "Actual"),
            "attribute_value": DEVICE_MODEL[key][0], "component": item["component"],
            "variable": item["variable"]}


def _set_variable_result(item: dict[str, Any]) -> dict[str, Any]:
    key = (item["component"]["name"], item["variable"]["name"])
    if key not in DEVICE_MODEL:
        status = "UnknownVariable"
    elif DEVICE_MODEL[key][1] == "ReadOnly":
        status = "Rejected"
    else:
        status = "Accepted"
    return {"attribute_status": status, "attribute_type": item.get("attribute_type", "Actual"),
            "component": item["component"], "variable": item["variable"]}


class TestStation201(ChargePoint):
    """Answers the hub's commands; ``answers[action]`` overrides an answer (dataclass or
    callable taking the request's snake_case fields)."""

    __test__ = False

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.received: list[Received] = []
        self.answers: dict[str, Any] = {}
        # Send the inventory as NotifyReport parts after accepting GetBaseReport.
        self.report_parts = 2

    def _answer(self, action: str, default: Any, **payload: Any) -> Any:
        self.received.append(Received(action, payload))
        answer = self.answers.get(action, default)
        return answer(**payload) if callable(answer) else answer

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        return self._answer("GetVariables", call_result.GetVariables(
            get_variable_result=[_get_variable_result(i) for i in get_variable_data]),
            get_variable_data=get_variable_data, **kw)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        return self._answer("SetVariables", call_result.SetVariables(
            set_variable_result=[_set_variable_result(i) for i in set_variable_data]),
            set_variable_data=set_variable_data, **kw)

    @on(Action.get_base_report)
    def on_get_base_report(self, **kw: Any) -> Any:
        return self._answer("GetBaseReport", call_result.GetBaseReport(status="Accepted"), **kw)

    @after(Action.get_base_report)
    async def after_get_base_report(self, request_id: int, **kw: Any) -> None:
        data = report_data()
        size = -(-len(data) // self.report_parts)
        for seq_no, start in enumerate(range(0, len(data), size)):
            await self.call(call.NotifyReport(
                request_id=request_id, generated_at=now(), seq_no=seq_no,
                report_data=data[start:start + size], tbc=start + size < len(data)))

    @on(Action.get_report)
    def on_get_report(self, **kw: Any) -> Any:
        return self._answer("GetReport", call_result.GetReport(status="EmptyResultSet"), **kw)

    @on(Action.request_start_transaction)
    def on_request_start(self, **kw: Any) -> Any:
        return self._answer("RequestStartTransaction",
                            call_result.RequestStartTransaction(status="Accepted"), **kw)

    @on(Action.request_stop_transaction)
    def on_request_stop(self, **kw: Any) -> Any:
        return self._answer("RequestStopTransaction",
                            call_result.RequestStopTransaction(status="Accepted"), **kw)

    @on(Action.reset)
    def on_reset(self, **kw: Any) -> Any:
        return self._answer("Reset", call_result.Reset(status="Accepted"), **kw)

    @on(Action.change_availability)
    def on_change_availability(self, **kw: Any) -> Any:
        return self._answer("ChangeAvailability",
                            call_result.ChangeAvailability(status="Accepted"), **kw)

    @on(Action.unlock_connector)
    def on_unlock(self, **kw: Any) -> Any:
        return self._answer("UnlockConnector", call_result.UnlockConnector(status="Unlocked"),
                            **kw)

    @on(Action.trigger_message)
    def on_trigger_message(self, **kw: Any) -> Any:
        return self._answer("TriggerMessage", call_result.TriggerMessage(status="Accepted"),
                            **kw)

    @on(Action.reserve_now)
    def on_reserve_now(self, **kw: Any) -> Any:
        return self._answer("ReserveNow", call_result.ReserveNow(status="Accepted"), **kw)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, **kw: Any) -> Any:
        return self._answer("CancelReservation",
                            call_result.CancelReservation(status="Accepted"), **kw)

    @on(Action.send_local_list)
    def on_send_local_list(self, **kw: Any) -> Any:
        return self._answer("SendLocalList", call_result.SendLocalList(status="Accepted"), **kw)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kw: Any) -> Any:
        return self._answer("GetLocalListVersion",
                            call_result.GetLocalListVersion(version_number=7), **kw)

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
        return self._answer("GetCompositeSchedule", call_result.GetCompositeSchedule(
            status="Accepted", schedule={
                "evse_id": kw["evse_id"], "duration": kw["duration"],
                "schedule_start": "2026-11-21T10:00:00Z", "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 11000.0}]}), **kw)

    @on(Action.update_firmware)
    def on_update_firmware(self, **kw: Any) -> Any:
        return self._answer("UpdateFirmware", call_result.UpdateFirmware(status="Accepted"),
                            **kw)

    @on(Action.get_log)
    def on_get_log(self, **kw: Any) -> Any:
        return self._answer("GetLog", call_result.GetLog(status="Accepted", filename="log.tgz"),
                            **kw)

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

    @on(Action.data_transfer)
    def on_data_transfer(self, **kw: Any) -> Any:
        return self._answer("DataTransfer", call_result.DataTransfer(
            status="Accepted", data={"pong": kw.get("data")}), **kw)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kw: Any) -> Any:
        return self._answer("ClearCache", call_result.ClearCache(status="Accepted"), **kw)

    # -- convenience for charger-initiated messages ----------------------------------------

    async def boot(self, reason: str = "PowerUp", vendor: str = "ACME",
                   model: str = "Wallbox 201") -> Any:
        return await self.call(call.BootNotification(
            charging_station={"vendor_name": vendor, "model": model, "serial_number": "SN-201",
                              "firmware_version": "2.0.1-a",
                              "modem": {"iccid": "8949000000000000001", "imsi": "262010000000001"}},
            reason=reason), suppress=False)


def now() -> str:
    from tests.hub.harness import now as _now

    return _now()


@contextlib.asynccontextmanager
async def connect_station201(running: RunningHub, station_id: str, *,
                             password: str | None = None) -> AsyncIterator[TestStation201]:
    headers = basic_auth(station_id, password) if password else None
    async with websockets.connect(
        running.ws_url(station_id), subprotocols=["ocpp2.0.1"], additional_headers=headers,
        open_timeout=10,
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        async with running_charge_point(TestStation201(station_id, ws)) as station:
            yield station
