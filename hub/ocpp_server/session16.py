"""OCPP 1.6J (with the Security Whitepaper messages): one thin handler per charger action.

Handlers parse, call a service, answer. The rules live in hub.services.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from hub.ocpp_server.framing import FrameError
from hub.ocpp_server.session import StationSession
from hub.services import notifications, stations, transactions
from hub.services.authorization import Authorization, authorize
from hub.services.status import record_status
from hub.services.timestamps import InvalidTimestamp, format_timestamp, parse_timestamp

log = logging.getLogger(__name__)


def id_tag_info(auth: Authorization) -> dict[str, Any]:
    info: dict[str, Any] = {"status": auth.status}
    if auth.parent_id_tag:
        info["parent_id_tag"] = auth.parent_id_tag
    if auth.expiry_date:
        info["expiry_date"] = format_timestamp(auth.expiry_date)
    return info


def timestamp_field(value: str, field: str) -> Any:
    try:
        return parse_timestamp(value)
    except InvalidTimestamp as exc:
        raise FrameError("PropertyConstraintViolation", f"{field}: {exc}",
                         details={"field": field}) from None


class StationSession16(StationSession, ChargePoint16):
    ocpp_version = "1.6"
    subprotocol = "ocpp1.6"
    # OCPP-J 1.6 spells these two codes its own way.
    error_codes: ClassVar[dict[str, str]] = {
        "FormatViolation": "FormationViolation",
        "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
        "MessageTypeNotSupported": "ProtocolError",
        "RpcFrameworkError": "ProtocolError",
    }
    known_actions = frozenset(a.value for a in Action)

    @on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str,
                                   **kwargs: Any) -> call_result.BootNotification:
        info = stations.BootInfo(
            vendor=charge_point_vendor, model=charge_point_model,
            serial_number=kwargs.get("charge_point_serial_number"),
            charge_box_serial_number=kwargs.get("charge_box_serial_number"),
            firmware_version=kwargs.get("firmware_version"), iccid=kwargs.get("iccid"),
            imsi=kwargs.get("imsi"), meter_type=kwargs.get("meter_type"),
            meter_serial_number=kwargs.get("meter_serial_number"),
        )
        decision = await stations.register_boot(self.hub, self.id, info, self.registration_status)
        self.booted = decision.status == "Accepted"
        return call_result.BootNotification(
            current_time=format_timestamp(decision.current_time), interval=decision.interval,
            status=decision.status)

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        # last_seen is already updated by the read loop; no database write per heartbeat.
        from hub.db.base import utcnow

        return call_result.Heartbeat(current_time=format_timestamp(utcnow()))

    @on(Action.status_notification)
    async def on_status_notification(self, connector_id: int, error_code: str, status: str,
                                     **kwargs: Any) -> call_result.StatusNotification:
        timestamp = kwargs.get("timestamp")
        await record_status(
            self.hub, self.id, connector_id, status, error_code=error_code,
            info=kwargs.get("info"),
            timestamp=timestamp_field(timestamp, "timestamp") if timestamp else None,
            vendor_id=kwargs.get("vendor_id"), vendor_error_code=kwargs.get("vendor_error_code"))
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        auth = await authorize(self.hub, self.id, id_tag)
        return call_result.Authorize(id_tag_info=id_tag_info(auth))

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int,
                                   timestamp: str, reservation_id: int | None = None,
                                   **kwargs: Any) -> call_result.StartTransaction:
        started_at = timestamp_field(timestamp, "timestamp")
        auth = await authorize(self.hub, self.id, id_tag)
        started = await transactions.start_transaction(
            self.hub, self.id, connector_id, id_tag, meter_start, started_at,
            reservation_id=reservation_id, id_tag_status=auth.status)
        return call_result.StartTransaction(transaction_id=started.transaction_id,
                                            id_tag_info=id_tag_info(auth))

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int,
                                  **kwargs: Any) -> call_result.StopTransaction:
        stopped_at = timestamp_field(timestamp, "timestamp")
        id_tag = kwargs.get("id_tag")
        stopped = await transactions.stop_transaction(
            self.hub, self.id, transaction_id, meter_stop, stopped_at,
            reason=kwargs.get("reason"), id_tag=id_tag,
            transaction_data=kwargs.get("transaction_data"))
        if not stopped.found:
            log.warning("%s stopped unknown transaction %s", self.id, transaction_id)
        if id_tag is None:
            return call_result.StopTransaction()
        auth = await authorize(self.hub, self.id, id_tag)
        return call_result.StopTransaction(id_tag_info=id_tag_info(auth))

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]],
                              transaction_id: int | None = None) -> call_result.MeterValues:
        for index, entry in enumerate(meter_value):
            timestamp_field(entry["timestamp"], f"meterValue/{index}/timestamp")
        await transactions.record_meter_values(self.hub, self.id, connector_id, meter_value,
                                               transaction_id=transaction_id)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                               data: str | None = None) -> call_result.DataTransfer:
        handlers = self.hub.data_transfer_handlers
        handler = handlers.get((vendor_id, message_id)) or handlers.get((vendor_id, None))
        if handler is None:
            vendor_known = any(v == vendor_id for v, _ in handlers)
            return call_result.DataTransfer(
                status="UnknownMessageId" if vendor_known else "UnknownVendorId")
        status, answer = await handler(self, data)
        return call_result.DataTransfer(status=status, data=answer)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status(self, status: str) -> call_result.DiagnosticsStatusNotification:
        await notifications.record_notification(self.hub, self.id, "DiagnosticsStatus", status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, status: str) -> call_result.FirmwareStatusNotification:
        await notifications.record_notification(self.hub, self.id, "FirmwareStatus", status)
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event(self, type: str, timestamp: str,
                                tech_info: str | None = None
                                ) -> call_result.SecurityEventNotification:
        await notifications.record_notification(
            self.hub, self.id, "SecurityEvent", type, detail=tech_info,
            timestamp=timestamp_field(timestamp, "timestamp"))
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    async def on_log_status(self, status: str, request_id: int | None = None
                            ) -> call_result.LogStatusNotification:
        await notifications.record_notification(self.hub, self.id, "LogStatus", status,
                                                request_id=request_id)
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status(self, status: str, request_id: int | None = None
                                        ) -> call_result.SignedFirmwareStatusNotification:
        await notifications.record_notification(self.hub, self.id, "SignedFirmwareStatus",
                                                status, request_id=request_id)
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr: str) -> call_result.SignCertificate:
        # Answered by the Plug&Charge feature once it registers a handler for this action.
        await notifications.record_notification(
            self.hub, self.id, "SignCertificate", "Rejected",
            detail=json.dumps({"reason": "no certificate signer configured"}))
        return call_result.SignCertificate(status="Rejected")
