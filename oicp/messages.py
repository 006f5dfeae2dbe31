"""Builders for what the hub sends Hubject: status records, charging notifications, CDRs.

All date/times carry the charge point's UTC offset (OICP: "complete date plus hours, minutes and
seconds" with a time zone designator). Energy is in kWh with three decimals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oicp.models import OicpSession

ACK_OK = {"Code": "000", "Description": "Success"}

STATUS_DESCRIPTIONS = {
    "000": "Success",
    "001": "Hubject system error",
    "017": "Unauthorized Access",
    "018": "Inconsistent EvseID",
    "021": "System error",
    "022": "Data error",
    "210": "No valid contract",
    "300": "Partner not found",
    "320": "Service not available",
    "400": "Session is invalid",
    "501": "Communication to EVSE failed",
    "510": "No EV connected to EVSE",
    "601": "EVSE already reserved",
    "602": "EVSE already in use/ wrong token",
    "603": "Unknown EVSE ID",
    "604": "EVSE ID is not Hubject compatible",
    "700": "EVSE out of service",
}


def zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def timestamp(value: datetime, tz: ZoneInfo) -> str:
    """2014-02-01T15:45:00+02:00 (seconds, with the offset of the charge point's zone)."""
    return value.astimezone(tz).isoformat(timespec="seconds")


def kwh(wh: float | int | None) -> float | None:
    return None if wh is None else round(float(wh) / 1000.0, 3)


def acknowledgement(result: bool, code: str, additional_info: str | None = None,
                    session_id: str | None = None, cpo_partner_session_id: str | None = None,
                    emp_partner_session_id: str | None = None) -> dict[str, Any]:
    """An eRoamingAcknowledgement as the webhooks answer it (no nulls: fields are omitted)."""
    status: dict[str, Any] = {"Code": code}
    if code in STATUS_DESCRIPTIONS:
        status["Description"] = STATUS_DESCRIPTIONS[code]
    if additional_info:
        status["AdditionalInfo"] = additional_info[:1000]
    answer: dict[str, Any] = {"Result": result, "StatusCode": status}
    if session_id:
        answer["SessionID"] = session_id
    if cpo_partner_session_id:
        answer["CPOPartnerSessionID"] = cpo_partner_session_id[:250]
    if emp_partner_session_id:
        answer["EMPPartnerSessionID"] = emp_partner_session_id[:250]
    return answer


def status_push(operator_id: str, operator_name: str,
                records: list[tuple[str, str]], action: str = "update") -> dict[str, Any]:
    evse_status: dict[str, Any] = {
        "OperatorID": operator_id,
        "EvseStatusRecord": [{"EvseID": evse_id, "EvseStatus": status}
                             for evse_id, status in records],
    }
    if operator_name:
        evse_status["OperatorName"] = operator_name[:100]
    return {"ActionType": action, "OperatorEvseStatus": evse_status}


def _session_fields(session: OicpSession) -> dict[str, Any]:
    fields: dict[str, Any] = {"SessionID": session.session_id}
    if session.cpo_partner_session_id:
        fields["CPOPartnerSessionID"] = session.cpo_partner_session_id
    if session.emp_partner_session_id:
        fields["EMPPartnerSessionID"] = session.emp_partner_session_id
    if session.identification:
        fields["Identification"] = session.identification
    fields["EvseID"] = session.evse_id
    return fields


def _product(fields: dict[str, Any], session: OicpSession) -> dict[str, Any]:
    if session.partner_product_id:
        fields["PartnerProductID"] = session.partner_product_id
    return fields


def notification_start(session: OicpSession, operator_id: str, charging_start: datetime,
                       meter_start_wh: int | None, tz: ZoneInfo) -> dict[str, Any]:
    body = {"Type": "Start", **_session_fields(session),
            "ChargingStart": timestamp(charging_start, tz),
            "SessionStart": timestamp(min(session.created_at, charging_start), tz),
            "OperatorID": operator_id}
    if meter_start_wh is not None:
        body["MeterValueStart"] = kwh(meter_start_wh)
    return _product(body, session)


def notification_progress(session: OicpSession, operator_id: str, charging_start: datetime,
                          occurred: datetime, meter_start_wh: int | None,
                          energy_register_wh: float | None, tz: ZoneInfo) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "Progress", **_session_fields(session),
        "ChargingStart": timestamp(charging_start, tz),
        "EventOccurred": timestamp(occurred, tz),
        "ChargingDuration": max(0, int((occurred - charging_start).total_seconds() * 1000)),
        "SessionStart": timestamp(min(session.created_at, charging_start), tz),
        "OperatorID": operator_id,
    }
    if meter_start_wh is not None:
        body["MeterValueStart"] = kwh(meter_start_wh)
        if energy_register_wh is not None:
            body["ConsumedEnergyProgress"] = kwh(max(0.0, energy_register_wh - meter_start_wh))
    return _product(body, session)


def notification_end(session: OicpSession, operator_id: str, charging_start: datetime,
                     charging_end: datetime, meter_start_wh: int | None,
                     meter_stop_wh: int | None, tz: ZoneInfo) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "End", **_session_fields(session),
        "ChargingStart": timestamp(charging_start, tz),
        "ChargingEnd": timestamp(charging_end, tz),
        "SessionStart": timestamp(min(session.created_at, charging_start), tz),
        "SessionEnd": timestamp(charging_end, tz),
        "OperatorID": operator_id,
    }
    if meter_start_wh is not None:
        body["MeterValueStart"] = kwh(meter_start_wh)
    if meter_stop_wh is not None:
        body["MeterValueEnd"] = kwh(meter_stop_wh)
    if meter_start_wh is not None and meter_stop_wh is not None:
        body["ConsumedEnergy"] = kwh(max(0, meter_stop_wh - meter_start_wh))
    return _product(body, session)


def notification_error(session: OicpSession, operator_id: str, error_type: str,
                       info: str | None) -> dict[str, Any]:
    fields = _session_fields(session)
    body: dict[str, Any] = {"Type": "Error", **fields, "ErrorType": error_type,
                            "OperatorID": operator_id}
    if info:
        body["ErrorAdditionalInfo"] = info[:250]
    return body


def charge_detail_record(session: OicpSession, charging_start: datetime, charging_end: datetime,
                         meter_start_wh: int | None, meter_stop_wh: int | None,
                         meter_values_wh: list[float], tz: ZoneInfo) -> dict[str, Any]:
    """eRoamingChargeDetailRecord v2.2. ConsumedEnergy is mandatory: 0 when unknown."""
    session_start = min(session.created_at, charging_start)
    body: dict[str, Any] = {
        **_session_fields(session),
        "ChargingStart": timestamp(charging_start, tz),
        "ChargingEnd": timestamp(charging_end, tz),
        "SessionStart": timestamp(session_start, tz),
        "SessionEnd": timestamp(max(charging_end, session_start), tz),
        "ConsumedEnergy": 0.0,
    }
    if meter_start_wh is not None:
        body["MeterValueStart"] = kwh(meter_start_wh)
    if meter_stop_wh is not None:
        body["MeterValueEnd"] = kwh(meter_stop_wh)
    if meter_start_wh is not None and meter_stop_wh is not None:
        body["ConsumedEnergy"] = kwh(max(0, meter_stop_wh - meter_start_wh))
    if meter_values_wh:
        body["MeterValueInBetween"] = {"meterValues": [kwh(v) for v in meter_values_wh]}
    return _product(body, session)
