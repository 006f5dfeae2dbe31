"""A real `ocpp` 2.0.1 charging station over `websockets` (subprotocol ocpp2.0.1) that answers
every command the hub sends, with configurable answers, and records what it received; the same
station speaking OCPP 2.1 (``version="2.1"``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import websockets
from ocpp.routing import after, on
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as call_result21
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from tests.harness.hub import Received, RunningHub, basic_auth, now, running_charge_point

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
        # What the station "knows" about a customer, sent as NotifyCustomerInformation parts.
        self.customer_data = ["token 04A2B3C4: ", "3 sessions, last 2026-11-30"]

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

    # -- the blocks of issue 21: monitoring, display messages, GDPR, firmware publishing ----

    @on(Action.set_network_profile)
    def on_set_network_profile(self, **kw: Any) -> Any:
        return self._answer("SetNetworkProfile",
                            call_result.SetNetworkProfile(status="Accepted"), **kw)

    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, **kw: Any) -> Any:
        return self._answer("GetTransactionStatus", call_result.GetTransactionStatus(
            messages_in_queue=False, ongoing_indicator=True if kw.get("transaction_id")
            else None), **kw)

    @on(Action.set_monitoring_base)
    def on_set_monitoring_base(self, **kw: Any) -> Any:
        return self._answer("SetMonitoringBase",
                            call_result.SetMonitoringBase(status="Accepted"), **kw)

    @on(Action.set_monitoring_level)
    def on_set_monitoring_level(self, **kw: Any) -> Any:
        return self._answer("SetMonitoringLevel",
                            call_result.SetMonitoringLevel(status="Accepted"), **kw)

    @on(Action.set_variable_monitoring)
    def on_set_variable_monitoring(self, set_monitoring_data: list[dict[str, Any]],
                                   **kw: Any) -> Any:
        # Monitor ids are the station's: it numbers them from 100.
        results = [{"id": item.get("id") or 100 + index, "status": "Accepted",
                    "type": item["type"], "severity": item["severity"],
                    "component": item["component"], "variable": item["variable"]}
                   for index, item in enumerate(set_monitoring_data)]
        return self._answer("SetVariableMonitoring", call_result.SetVariableMonitoring(
            set_monitoring_result=results), set_monitoring_data=set_monitoring_data, **kw)

    @on(Action.clear_variable_monitoring)
    def on_clear_variable_monitoring(self, id: list[int], **kw: Any) -> Any:
        return self._answer("ClearVariableMonitoring", call_result.ClearVariableMonitoring(
            clear_monitoring_result=[{"id": i, "status": "Accepted"} for i in id]), id=id, **kw)

    @on(Action.get_monitoring_report)
    def on_get_monitoring_report(self, **kw: Any) -> Any:
        return self._answer("GetMonitoringReport",
                            call_result.GetMonitoringReport(status="Accepted"), **kw)

    @after(Action.get_monitoring_report)
    async def after_get_monitoring_report(self, request_id: int, **kw: Any) -> None:
        for seq_no, monitor_id in enumerate((7, 8)):
            await self.call(call.NotifyMonitoringReport(
                request_id=request_id, seq_no=seq_no, generated_at=now(), tbc=seq_no == 0,
                monitor=[{"component": {"name": "EVSE", "evse": {"id": 1}},
                          "variable": {"name": "Power"},
                          "variable_monitoring": [{"id": monitor_id, "transaction": False,
                                                   "value": 22000.0, "type": "UpperThreshold",
                                                   "severity": 4}]}]))

    @on(Action.customer_information)
    def on_customer_information(self, **kw: Any) -> Any:
        return self._answer("CustomerInformation",
                            call_result.CustomerInformation(status="Accepted"), **kw)

    @after(Action.customer_information)
    async def after_customer_information(self, request_id: int, report: bool, **kw: Any
                                         ) -> None:
        if not report:
            return
        chunks = self.customer_data
        for seq_no, chunk in enumerate(chunks):
            await self.call(call.NotifyCustomerInformation(
                data=chunk, seq_no=seq_no, generated_at=now(), request_id=request_id,
                tbc=seq_no < len(chunks) - 1))

    @on(Action.set_display_message)
    def on_set_display_message(self, **kw: Any) -> Any:
        return self._answer("SetDisplayMessage",
                            call_result.SetDisplayMessage(status="Accepted"), **kw)

    @on(Action.get_display_messages)
    def on_get_display_messages(self, **kw: Any) -> Any:
        return self._answer("GetDisplayMessages",
                            call_result.GetDisplayMessages(status="Accepted"), **kw)

    @after(Action.get_display_messages)
    async def after_get_display_messages(self, request_id: int, **kw: Any) -> None:
        for part, message_id in enumerate((31, 32)):
            await self.call(call.NotifyDisplayMessages(
                request_id=request_id, tbc=part == 0, message_info=[{
                    "id": message_id, "priority": "NormalCycle",
                    "message": {"format": "UTF8", "content": f"Welcome {message_id}"}}]))

    @on(Action.clear_display_message)
    def on_clear_display_message(self, **kw: Any) -> Any:
        return self._answer("ClearDisplayMessage",
                            call_result.ClearDisplayMessage(status="Accepted"), **kw)

    @on(Action.publish_firmware)
    def on_publish_firmware(self, **kw: Any) -> Any:
        return self._answer("PublishFirmware",
                            call_result.PublishFirmware(status="Accepted"), **kw)

    @after(Action.publish_firmware)
    async def after_publish_firmware(self, request_id: int, **kw: Any) -> None:
        await self.call(call.PublishFirmwareStatusNotification(
            status="Published", request_id=request_id,
            location=["http://lc.local/fw.bin", "ftp://lc.local/fw.bin"]))

    @on(Action.unpublish_firmware)
    def on_unpublish_firmware(self, **kw: Any) -> Any:
        return self._answer("UnpublishFirmware",
                            call_result.UnpublishFirmware(status="Unpublished"), **kw)

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, **kw: Any) -> Any:
        return self._answer("GetChargingProfiles",
                            call_result.GetChargingProfiles(status="Accepted"), **kw)

    @after(Action.get_charging_profiles)
    async def after_get_charging_profiles(self, request_id: int, **kw: Any) -> None:
        await self.call(call.ReportChargingProfiles(
            request_id=request_id, charging_limit_source="CSO", evse_id=1, charging_profile=[{
                "id": 41, "stack_level": 1, "charging_profile_purpose": "TxDefaultProfile",
                "charging_profile_kind": "Absolute", "charging_schedule": [{
                    "id": 1, "charging_rate_unit": "A", "start_schedule": now(),
                    "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}]}]))

    @on(Action.cost_updated)
    def on_cost_updated(self, **kw: Any) -> Any:
        return self._answer("CostUpdated", call_result.CostUpdated(), **kw)

    # -- convenience for charger-initiated messages ----------------------------------------

    async def boot(self, reason: str = "PowerUp", vendor: str = "ACME",
                   model: str = "Wallbox 201") -> Any:
        return await self.call(call.BootNotification(
            charging_station={"vendor_name": vendor, "model": model, "serial_number": "SN-201",
                              "firmware_version": "2.0.1-a",
                              "modem": {"iccid": "8949000000000000001", "imsi": "262010000000001"}},
            reason=reason), suppress=False)


class TestStation201On21(TestStation201):
    """The same station speaking OCPP 2.1: its messages are checked against the 2.1 schemas
    (the `ocpp` package validates what it sends and receives) and answers are 2.1 classes.
    It also keeps the frames the `ocpp` package cannot parse (CALLRESULTERROR, SEND) in
    ``new_frames`` and sends them with ``send_raw``."""

    __test__ = False
    _ocpp_version = "2.1"
    _call = call21
    _call_result = call_result21

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection)
        self.new_frames: list[list[Any]] = []

    async def route_message(self, raw_msg: str) -> None:
        frame = json.loads(raw_msg)
        if frame and frame[0] in (5, 6):
            self.new_frames.append(frame)
            return
        await super().route_message(raw_msg)

    async def send_raw(self, frame: list[Any]) -> None:
        """A frame the `ocpp` package cannot send: SEND (6) or CALLRESULTERROR (5)."""
        await self._connection.send(json.dumps(frame))

    # Unvalidated, so that a test can make the station give an answer the 2.1 schema refuses
    # (``answers["UnlockConnector"]``) and watch the hub refuse it.
    @on(Action.unlock_connector, skip_schema_validation=True)
    def on_unlock(self, **kw: Any) -> Any:
        return self._answer("UnlockConnector", call_result.UnlockConnector(status="Unlocked"),
                            **kw)


@contextlib.asynccontextmanager
async def connect_station201(running: RunningHub, station_id: str, *,
                             password: str | None = None, version: str = "2.0.1"
                             ) -> AsyncIterator[TestStation201]:
    headers = basic_auth(station_id, password) if password else None
    subprotocol = f"ocpp{version}"
    station_class = TestStation201On21 if version == "2.1" else TestStation201
    async with websockets.connect(
        running.ws_url(station_id), subprotocols=[subprotocol], additional_headers=headers,
        open_timeout=10,
    ) as ws:
        assert ws.subprotocol == subprotocol
        async with running_charge_point(station_class(station_id, ws)) as station:
            yield station
