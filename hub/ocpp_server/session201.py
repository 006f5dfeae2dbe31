"""OCPP 2.0.1: one thin handler per charger-initiated action, on the same services as 1.6.

Handlers parse, call a service, answer; the rules live in hub.services (transaction_events,
evse_status, id_tokens, device_model, station_reports). How 2.0.1 maps onto the core
(EVSE id = core connector id, ConnectorStatus -> 1.6 status) is described in hub.db.models201
and hub.services.evse_status.

The Plug&Charge messages (SignCertificate, Get15118EVCertificate, GetCertificateStatus, and
Authorize with certificate data) are answered by a feature that registers
``hub.handle_action("2.0.1", action, handler)``; Authorize without certificate data stays with
the core even then. Without such a feature they get a well-formed refusal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from ocpp.messages import Call
from ocpp.routing import on
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from hub.context import ActionHandler
from hub.db.base import utcnow
from hub.ocpp_server.codec import to_camel
from hub.ocpp_server.framing import FrameError
from hub.ocpp_server.session import StationSession
from hub.ocpp_server.session16 import timestamp_field
from hub.services import (
    charging_profile_record,
    notifications,
    report_parts,
    station_holdings,
    stations,
    tariffs,
    transactions,
)
from hub.services.device_model import record_report
from hub.services.evse_status import record_connector_status
from hub.services.id_tokens import authorize_id_token, id_token_info
from hub.services.station_reports import (
    record_charging_report,
    record_events,
    reservation_status_update,
)
from hub.services.timestamps import format_timestamp
from hub.services.transaction_events import (
    TransactionEventIn,
    core_meter_values,
    record_transaction_event,
)
from hub.services.transaction_state import TransactionStates

log = logging.getLogger(__name__)

NO_PNC = {"reason_code": "NotEnabled",
          "additional_info": "no Plug&Charge certificate service is configured on this hub"}


def has_certificate_data(payload: dict[str, Any]) -> bool:
    """An Authorize that asks the CSMS to check an ISO 15118 contract certificate."""
    return bool(payload.get("certificate") or payload.get("iso15118CertificateHashData"))


def parsed_meter_values(meter_value: list[dict[str, Any]], field: str = "meterValue"
                        ) -> list[dict[str, Any]]:
    """Check every timestamp (a CALLERROR names the bad one) and convert to the core's shape."""
    checked = [{**entry, "timestamp": timestamp_field(entry["timestamp"],
                                                      f"{field}/{index}/timestamp")}
               for index, entry in enumerate(meter_value)]
    return core_meter_values(checked)


INT32 = 2**31
CONNECTOR_STATUSES = frozenset({"Available", "Occupied", "Reserved", "Unavailable", "Faulted"})


def check_int32(payload: Any, unique_id: str, path: str = "") -> None:
    """2.0.1 ids and counters (seqNo, evseId, requestId, ...) are unbounded JSON integers in the
    schemas; the database keeps 32-bit integers. Refuse larger ones with a protocol error."""
    # Every 2.0.1 message is walked: without paths first (building one per key was most of the
    # cost), and only a payload that has an out-of-range value again, to name it.
    if _has_large_id(payload):
        _raise_large_id(payload, unique_id, path)


def _has_large_id(payload: Any) -> bool:
    if type(payload) is dict:
        for key, value in payload.items():
            kind = type(value)
            if kind is int:
                if not -INT32 <= value < INT32 and _is_id_key(key):
                    return True
            elif (kind is dict or kind is list) and _has_large_id(value):
                return True
        return False
    if type(payload) is list:
        return any(type(item) in _NESTED and _has_large_id(item) for item in payload)
    return False


_NESTED = (dict, list)


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith(("Id", "No"))


def _raise_large_id(payload: Any, unique_id: str, path: str) -> None:
    if isinstance(payload, dict):
        for key, value in payload.items():
            where = f"{path}/{key}" if path else key
            if isinstance(value, int) and not isinstance(value, bool) and _is_id_key(key) \
                    and not -INT32 <= value < INT32:
                raise FrameError("PropertyConstraintViolation",
                                 f"{where}: {value} is out of range", unique_id,
                                 {"field": where})
            if isinstance(value, dict | list):
                _raise_large_id(value, unique_id, where)
    elif isinstance(payload, list):
        for index, item in enumerate(payload):
            _raise_large_id(item, unique_id, f"{path}/{index}")


class StationSession201(StationSession, ChargePoint201):
    ocpp_version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    # OCPP-J 2.0.1 uses the generic codes as they are.
    error_codes: ClassVar[dict[str, str]] = {}
    known_actions = frozenset(a.value for a in Action)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The running transactions' state, so that an event needs no read (transaction_state).
        self.transactions = TransactionStates()

    def feature_handler(self, msg: Call) -> ActionHandler | None:
        handler = super().feature_handler(msg)
        if handler is not None and msg.action == "Authorize" and not has_certificate_data(
            msg.payload
        ):
            return None  # plain idTokens are authorised by the core, as in 1.6
        return handler

    async def _dispatch(
        self, msg: Call
    ) -> tuple[dict[str, Any], Callable[[], Awaitable[Any]] | None]:
        check_int32(msg.payload, msg.unique_id)
        return await super()._dispatch(msg)

    async def _send_call_error(self, unique_id: str, code: str, description: str,
                               details: dict[str, Any] | None = None) -> None:
        # OCPP-J 2.0.1: a frame whose message id cannot be read is an RpcFrameworkError, "-1".
        if code == "FormatViolation" and unique_id == "-1":
            code = "RpcFrameworkError"
        await super()._send_call_error(unique_id, code, description, details)

    # -- provisioning ------------------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict[str, Any], reason: str,
                                   **kwargs: Any) -> call_result.BootNotification:
        modem = charging_station.get("modem") or {}
        info = stations.BootInfo(
            vendor=charging_station["vendor_name"], model=charging_station["model"],
            serial_number=charging_station.get("serial_number"),
            firmware_version=charging_station.get("firmware_version"),
            iccid=modem.get("iccid"), imsi=modem.get("imsi"))
        decision = await stations.register_boot(self.hub, self.id, info, self.registration_status)
        # 2.0.1 says why the station booted; kept beside the other things it reports.
        await notifications.record_notification(self.hub, self.id, "BootNotification", reason,
                                                detail=decision.status)
        self.booted = decision.status == "Accepted"
        return call_result.BootNotification(
            current_time=format_timestamp(decision.current_time), interval=decision.interval,
            status=decision.status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> call_result.Heartbeat:
        # last_seen is already updated by the read loop; no database write per heartbeat.
        return call_result.Heartbeat(current_time=format_timestamp(utcnow()))

    @on(Action.status_notification)
    async def on_status_notification(self, timestamp: str, connector_status: str, evse_id: int,
                                     connector_id: int, **kwargs: Any
                                     ) -> call_result.StatusNotification:
        await record_connector_status(self.hub, self.id, evse_id, connector_id, connector_status,
                                      timestamp_field(timestamp, "timestamp"))
        return call_result.StatusNotification()

    @on(Action.notify_event)
    async def on_notify_event(self, generated_at: str, seq_no: int,
                              event_data: list[dict[str, Any]], **kwargs: Any
                              ) -> call_result.NotifyEvent:
        timestamp_field(generated_at, "generatedAt")
        parsed = [(item, timestamp_field(item["timestamp"], f"eventData/{i}/timestamp"))
                  for i, item in enumerate(event_data)]
        await record_events(self.hub, self.id, [(to_camel(item), ts) for item, ts in parsed])
        # 2.0.1 may report connector status as a Connector.AvailabilityState event instead of
        # a StatusNotification.
        for item, ts in parsed:
            evse = item["component"].get("evse") or {}
            if (item["component"]["name"] == "Connector"
                    and item["variable"]["name"] == "AvailabilityState" and evse.get("id")
                    and item["actual_value"] in CONNECTOR_STATUSES):
                await record_connector_status(self.hub, self.id, evse["id"],
                                              evse.get("connector_id") or 1,
                                              item["actual_value"], ts)
        return call_result.NotifyEvent()

    @on(Action.notify_report)
    async def on_notify_report(self, request_id: int, generated_at: str, seq_no: int,
                               report_data: list[dict[str, Any]] | None = None,
                               tbc: bool = False, **kwargs: Any) -> call_result.NotifyReport:
        await record_report(self.hub, self.id, request_id,
                            timestamp_field(generated_at, "generatedAt"), seq_no, tbc,
                            report_data or [])
        return call_result.NotifyReport()

    @on(Action.notify_monitoring_report)
    async def on_notify_monitoring_report(self, request_id: int, seq_no: int, generated_at: str,
                                          tbc: bool = False, monitor: list[Any] | None = None,
                                          **kwargs: Any) -> call_result.NotifyMonitoringReport:
        await station_holdings.record_monitoring_report(
            self.hub, self.id, request_id, seq_no, tbc,
            timestamp_field(generated_at, "generatedAt"), to_camel(monitor or []))
        return call_result.NotifyMonitoringReport()

    @on(Action.notify_display_messages)
    async def on_notify_display_messages(self, request_id: int, tbc: bool = False,
                                         message_info: list[Any] | None = None, **kwargs: Any
                                         ) -> call_result.NotifyDisplayMessages:
        await station_holdings.record_display_messages(self.hub, self.id, request_id, tbc,
                                                       to_camel(message_info or []))
        return call_result.NotifyDisplayMessages()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(self, data: str, seq_no: int, generated_at: str,
                                             request_id: int, tbc: bool = False, **kwargs: Any
                                             ) -> call_result.NotifyCustomerInformation:
        await report_parts.record_part(self.hub, self.id, report_parts.CUSTOMER_INFORMATION,
                                       request_id, seq_no, tbc,
                                       timestamp_field(generated_at, "generatedAt"), data)
        return call_result.NotifyCustomerInformation()

    # -- authorisation and transactions ------------------------------------------------------

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **kwargs: Any
                           ) -> call_result.Authorize:
        if kwargs.get("certificate") or kwargs.get("iso15118_certificate_hash_data"):
            # Reached only without a Plug&Charge feature: nobody can check the certificate.
            await notifications.record_notification(
                self.hub, self.id, "Authorize", "Unknown",
                detail=json.dumps({"reason": "no certificate validation configured",
                                   "idToken": id_token.get("id_token")}))
            return call_result.Authorize(id_token_info={"status": "Unknown"})
        auth = await authorize_id_token(self.hub, self.id, id_token)
        return call_result.Authorize(id_token_info=id_token_info(auth))

    @on(Action.transaction_event)
    async def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str,
                                   seq_no: int, transaction_info: dict[str, Any],
                                   **kwargs: Any) -> call_result.TransactionEvent:
        at = timestamp_field(timestamp, "timestamp")
        meter_value = parsed_meter_values(kwargs.get("meter_value") or [])
        id_token = kwargs.get("id_token")
        auth = await authorize_id_token(self.hub, self.id, id_token) if id_token else None
        evse = kwargs.get("evse") or {}
        result = await record_transaction_event(self.hub, TransactionEventIn(
            station_id=self.id, event_type=event_type, timestamp=at,
            trigger_reason=trigger_reason, seq_no=seq_no,
            ocpp_transaction_id=transaction_info["transaction_id"],
            charging_state=transaction_info.get("charging_state"),
            time_spent_charging=transaction_info.get("time_spent_charging"),
            stopped_reason=transaction_info.get("stopped_reason"),
            remote_start_id=transaction_info.get("remote_start_id"),
            offline=bool(kwargs.get("offline")), reservation_id=kwargs.get("reservation_id"),
            evse_id=evse.get("id"), connector_id=evse.get("connector_id"),
            id_token=id_token["id_token"] if id_token else None,
            id_token_type=id_token["type"] if id_token else None,
            id_token_status=auth.status if auth else None, meter_value=meter_value),
            self.transactions)
        # The final cost goes back in the answer to Ended (running costs: tariffs.CostUpdates).
        cost = await tariffs.final_cost(self.hub, result.transaction_id, self.id,
                                        result.connector_id) \
            if result.ended and not result.duplicate else None
        return call_result.TransactionEvent(
            total_cost=cost.total if cost else None,
            id_token_info=id_token_info(auth) if auth else None)

    @on(Action.meter_values)
    async def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]],
                              **kwargs: Any) -> call_result.MeterValues:
        # Outside transactions (those come in TransactionEvent); EVSE 0 = the main meter.
        await transactions.record_meter_values(self.hub, self.id, evse_id,
                                               parsed_meter_values(meter_value))
        return call_result.MeterValues()

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(self, reservation_id: int,
                                           reservation_update_status: str, **kwargs: Any
                                           ) -> call_result.ReservationStatusUpdate:
        if not await reservation_status_update(self.hub, self.id, reservation_id,
                                               reservation_update_status):
            log.info("%s: status update for unknown reservation %s", self.id, reservation_id)
        return call_result.ReservationStatusUpdate()

    # -- smart charging reports (stored as sent) ---------------------------------------------

    async def _store(self, kind: str, payload: dict[str, Any], evse_id: int | None = None,
                     request_id: int | None = None) -> None:
        await record_charging_report(self.hub, self.id, kind, to_camel(payload),
                                     evse_id=evse_id, request_id=request_id)

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(self, **kwargs: Any) -> call_result.NotifyChargingLimit:
        await self._store("NotifyChargingLimit", kwargs, evse_id=kwargs.get("evse_id"))
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(self, **kwargs: Any
                                        ) -> call_result.ClearedChargingLimit:
        await self._store("ClearedChargingLimit", kwargs, evse_id=kwargs.get("evse_id"))
        return call_result.ClearedChargingLimit()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(self, evse_id: int, **kwargs: Any
                                          ) -> call_result.NotifyEVChargingNeeds:
        await self._store("NotifyEVChargingNeeds", {"evse_id": evse_id, **kwargs},
                          evse_id=evse_id)
        # The hub computes no charging schedules: the station keeps to its own limits.
        return call_result.NotifyEVChargingNeeds(
            status="Rejected", status_info={"reason_code": "NoSchedule"})

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(self, evse_id: int, **kwargs: Any
                                             ) -> call_result.NotifyEVChargingSchedule:
        await self._store("NotifyEVChargingSchedule", {"evse_id": evse_id, **kwargs},
                          evse_id=evse_id)
        return call_result.NotifyEVChargingSchedule(status="Accepted")

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(self, request_id: int, evse_id: int, **kwargs: Any
                                          ) -> call_result.ReportChargingProfiles:
        await self._store("ReportChargingProfiles",
                          {"request_id": request_id, "evse_id": evse_id, **kwargs},
                          evse_id=evse_id, request_id=request_id)
        await charging_profile_record.profiles_reported(
            self.hub, self.id, evse_id, kwargs.get("charging_profile") or [])
        return call_result.ReportChargingProfiles()

    # -- what the station reports about itself -----------------------------------------------

    @on(Action.security_event_notification)
    async def on_security_event(self, type: str, timestamp: str, tech_info: str | None = None,
                                **kwargs: Any) -> call_result.SecurityEventNotification:
        await notifications.record_notification(
            self.hub, self.id, "SecurityEvent", type, detail=tech_info,
            timestamp=timestamp_field(timestamp, "timestamp"))
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, status: str, request_id: int | None = None,
                                 **kwargs: Any) -> call_result.FirmwareStatusNotification:
        await notifications.record_notification(self.hub, self.id, "FirmwareStatus", status,
                                                request_id=request_id)
        return call_result.FirmwareStatusNotification()

    @on(Action.publish_firmware_status_notification)
    async def on_publish_firmware_status(self, status: str, request_id: int | None = None,
                                         location: list[str] | None = None, **kwargs: Any
                                         ) -> call_result.PublishFirmwareStatusNotification:
        # location: the URIs the local controller now serves the firmware at (Published).
        await notifications.record_notification(
            self.hub, self.id, "PublishFirmwareStatus", status, request_id=request_id,
            detail={"location": location} if location else None)
        return call_result.PublishFirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status(self, status: str, request_id: int | None = None,
                            **kwargs: Any) -> call_result.LogStatusNotification:
        await notifications.record_notification(self.hub, self.id, "LogStatus", status,
                                                request_id=request_id)
        return call_result.LogStatusNotification()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                               data: Any = None, **kwargs: Any) -> call_result.DataTransfer:
        handlers = self.hub.data_transfer_handlers
        handler = handlers.get((vendor_id, message_id)) or handlers.get((vendor_id, None))
        if handler is None:
            vendor_known = any(v == vendor_id for v, _ in handlers)
            return call_result.DataTransfer(
                status="UnknownMessageId" if vendor_known else "UnknownVendorId")
        # 2.0.1 data may be any JSON value, given as sent (codec.OPAQUE_FIELDS); handlers take
        # and give text, as in 1.6.
        text = data if isinstance(data, str) or data is None else json.dumps(data)
        status, answer = await handler(self, text)
        return call_result.DataTransfer(status=status, data=answer)

    # -- Plug&Charge, until a feature answers them -------------------------------------------

    async def _no_pnc(self, action: str, status: str) -> None:
        await notifications.record_notification(
            self.hub, self.id, action, status,
            detail=json.dumps({"reason": "no Plug&Charge certificate service configured"}))

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr: str, **kwargs: Any) -> call_result.SignCertificate:
        await self._no_pnc("SignCertificate", "Rejected")
        return call_result.SignCertificate(status="Rejected", status_info=NO_PNC)

    @on(Action.get_15118_ev_certificate)
    async def on_get_15118_ev_certificate(self, **kwargs: Any
                                          ) -> call_result.Get15118EVCertificate:
        await self._no_pnc("Get15118EVCertificate", "Failed")
        return call_result.Get15118EVCertificate(status="Failed", exi_response="",
                                                 status_info=NO_PNC)

    @on(Action.get_certificate_status)
    async def on_get_certificate_status(self, **kwargs: Any
                                        ) -> call_result.GetCertificateStatus:
        await self._no_pnc("GetCertificateStatus", "Failed")
        return call_result.GetCertificateStatus(status="Failed", status_info=NO_PNC)
