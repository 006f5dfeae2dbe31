"""Smart charging commands for both OCPP versions: set, clear, composite schedule.

The management API and the load manager describe a profile once, in a version-neutral
snake_case form (OCPP's own field names)::

    {"id": 7, "stack_level": 1, "purpose": "TxProfile", "kind": "Relative",
     "transaction_id": 42,                       # the hub's transaction id (TxProfile)
     "charging_schedule": {"charging_rate_unit": "A",
                           "charging_schedule_period": [{"start_period": 0, "limit": 16.0,
                                                         "number_phases": 3}]}}

``validate_profile`` checks it (stack level, purpose, kind, unit A/W, periods ascending from
0, TxProfile only with a transaction and on a connector, a station-wide maximum only on
connector 0) and raises ``InvalidProfile`` naming the field. ``set_profile`` sends it as the
station's version needs (1.6 ``csChargingProfiles`` with the hub's transaction id; 2.0.1
``chargingProfile`` with the station's transaction id and a schedule id), through
``hub.commands.call``; what the station accepts goes into the record of what it holds
(``hub.services.charging_profile_record``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from hub.context import Hub
from hub.db.models import Transaction
from hub.services import charging_profile_record as record
from hub.services.station_commands import (
    V201,
    UnknownTransaction,
    new_request_id,
    station_version,
)
from hub.services.timestamps import InvalidTimestamp, format_timestamp, parse_timestamp

#: 1.6 ChargePointMaxProfile is 2.0.1 ChargingStationMaxProfile: the API takes either name.
STATION_MAX = ("ChargePointMaxProfile", "ChargingStationMaxProfile")
PURPOSES = (*STATION_MAX, "TxDefaultProfile", "TxProfile")
KINDS = ("Absolute", "Recurring", "Relative")
RECURRENCY = ("Daily", "Weekly")
UNITS = ("A", "W")
MAX_STACK_LEVEL = 100
MAX_PERIODS = 1024
MAX_LIMIT = {"A": 10_000.0, "W": 10_000_000.0}


class InvalidProfile(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CompositeSchedule:
    status: str
    connector_id: int
    schedule_start: str | None
    charging_schedule: dict[str, Any] | None


def validate_profile(profile: Any, connector_id: int, field: str = "charging_profile"
                     ) -> dict[str, Any]:
    """The profile, checked and normalised (station-max purpose spelled the 1.6 way)."""
    if not isinstance(profile, dict):
        raise InvalidProfile(field, "must be an object")
    out: dict[str, Any] = {"id": _int(profile, "id", field, 1, 2**31 - 1, new_request_id())}
    out["stack_level"] = _int(profile, "stack_level", field, 0, MAX_STACK_LEVEL, None)
    purpose = _choice(profile, "purpose", field, PURPOSES)
    out["purpose"] = STATION_MAX[0] if purpose in STATION_MAX else purpose
    out["kind"] = _choice(profile, "kind", field, KINDS, "Relative" if purpose == "TxProfile"
                          else "Absolute")
    if out["kind"] == "Recurring":
        out["recurrency_kind"] = _choice(profile, "recurrency_kind", field, RECURRENCY)
    for name in ("valid_from", "valid_to"):
        if profile.get(name) is not None:
            out[name] = _timestamp(profile[name], f"{field}.{name}")
    transaction = profile.get("transaction_id")
    if out["purpose"] == "TxProfile":
        if connector_id < 1:
            raise InvalidProfile("connector_id", "a TxProfile needs a connector (>= 1)")
        out["transaction_id"] = _int(profile, "transaction_id", field, 1, 2**31 - 1, None)
    elif transaction is not None:
        raise InvalidProfile(f"{field}.transaction_id", "only a TxProfile names a transaction")
    if out["purpose"] == STATION_MAX[0] and connector_id != 0:
        raise InvalidProfile("connector_id", "a station maximum profile applies to connector 0")
    out["charging_schedule"] = _schedule(profile.get("charging_schedule"),
                                         f"{field}.charging_schedule", out["kind"])
    return out


def _schedule(schedule: Any, field: str, kind: str) -> dict[str, Any]:
    if not isinstance(schedule, dict):
        raise InvalidProfile(field, "is required (an object)")
    unit = _choice(schedule, "charging_rate_unit", field, UNITS)
    out: dict[str, Any] = {"charging_rate_unit": unit}
    if schedule.get("duration") is not None:
        out["duration"] = _int(schedule, "duration", field, 1, 2**31 - 1, None)
    if schedule.get("start_schedule") is not None:
        out["start_schedule"] = _timestamp(schedule["start_schedule"], f"{field}.start_schedule")
    elif kind != "Relative":
        raise InvalidProfile(f"{field}.start_schedule", f"is required for a {kind} profile")
    if schedule.get("min_charging_rate") is not None:
        out["min_charging_rate"] = _number(schedule["min_charging_rate"],
                                           f"{field}.min_charging_rate", MAX_LIMIT[unit])
    periods = schedule.get("charging_schedule_period")
    name = f"{field}.charging_schedule_period"
    if not isinstance(periods, list) or not periods or len(periods) > MAX_PERIODS:
        raise InvalidProfile(name, f"must be a list of 1 to {MAX_PERIODS} periods")
    out["charging_schedule_period"] = []
    previous = -1
    for i, period in enumerate(periods):
        where = f"{name}[{i}]"
        if not isinstance(period, dict):
            raise InvalidProfile(where, "must be an object")
        start = _int(period, "start_period", where, 0, 2**31 - 1, None)
        if (i == 0 and start != 0) or start <= previous:
            raise InvalidProfile(f"{where}.start_period",
                                 "periods start at 0 and ascend strictly")
        previous = start
        item: dict[str, Any] = {"start_period": start,
                                "limit": _number(period.get("limit"), f"{where}.limit",
                                                 MAX_LIMIT[unit])}
        if period.get("number_phases") is not None:
            item["number_phases"] = _int(period, "number_phases", where, 1, 3, None)
        out["charging_schedule_period"].append(item)
    return out


def _int(data: dict[str, Any], name: str, field: str, low: int, high: int,
         default: int | None) -> int:
    value = data.get(name)
    if value is None:
        if default is None:
            raise InvalidProfile(f"{field}.{name}", "is required")
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidProfile(f"{field}.{name}", f"must be an integer from {low} to {high}")
    return value


def _number(value: Any, field: str, high: float) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not 0 <= value <= high):
        raise InvalidProfile(field, f"must be a number from 0 to {high:g}")
    return float(value)


def _choice(data: dict[str, Any], name: str, field: str, choices: tuple[str, ...],
            default: str | None = None) -> str:
    value = data.get(name, default)
    if value not in choices:
        raise InvalidProfile(f"{field}.{name}", f"must be one of {', '.join(choices)}")
    return value


def _timestamp(value: Any, field: str) -> str:
    try:
        return format_timestamp(parse_timestamp(value))
    except (InvalidTimestamp, TypeError, ValueError):
        raise InvalidProfile(field, "must be an RFC 3339 timestamp") from None


# -- on the wire ------------------------------------------------------------------------------


async def set_profile(hub: Hub, station_id: str, connector_id: int, profile: dict[str, Any],
                      timeout: float | None = None) -> str:
    """Send a validated profile; the station's status (Accepted, Rejected, NotSupported)."""
    if station_version(hub, station_id) != V201:
        request = call16.SetChargingProfile(connector_id=connector_id,
                                            cs_charging_profiles=_profile16(profile))
    else:
        request = call201.SetChargingProfile(
            evse_id=connector_id, charging_profile=await _profile201(hub, station_id, profile))
    response = await hub.commands.call(station_id, request, timeout=timeout)
    if response.status == "Accepted":
        await record.profile_set(hub, station_id, connector_id, profile, source="hub")
    return response.status


def _profile16(profile: dict[str, Any]) -> dict[str, Any]:
    wire = {"charging_profile_id": profile["id"], "stack_level": profile["stack_level"],
            "charging_profile_purpose": profile["purpose"],
            "charging_profile_kind": profile["kind"],
            "charging_schedule": profile["charging_schedule"]}
    for name in ("recurrency_kind", "valid_from", "valid_to", "transaction_id"):
        if name in profile:
            wire[name] = profile[name]
    return wire


async def _profile201(hub: Hub, station_id: str, profile: dict[str, Any]) -> dict[str, Any]:
    purpose = profile["purpose"]
    wire: dict[str, Any] = {
        "id": profile["id"], "stack_level": profile["stack_level"],
        "charging_profile_purpose": STATION_MAX[1] if purpose == STATION_MAX[0] else purpose,
        "charging_profile_kind": profile["kind"],
        "charging_schedule": [{"id": profile["id"], **profile["charging_schedule"]}]}
    for name in ("recurrency_kind", "valid_from", "valid_to"):
        if name in profile:
            wire[name] = profile[name]
    if "transaction_id" in profile:
        wire["transaction_id"] = await ocpp_transaction_id(hub, station_id,
                                                           profile["transaction_id"])
    return wire


async def ocpp_transaction_id(hub: Hub, station_id: str, transaction_id: int) -> str:
    async with hub.sessions() as session:
        ocpp_id = (await session.execute(sa.select(Transaction.ocpp_transaction_id).where(
            Transaction.id == transaction_id, Transaction.station_id == station_id))).scalar()
    if ocpp_id is None:
        raise UnknownTransaction(f"station {station_id} has no transaction {transaction_id}")
    return ocpp_id


async def clear_profiles(hub: Hub, station_id: str, profile_id: int | None = None,
                         connector_id: int | None = None, purpose: str | None = None,
                         stack_level: int | None = None, timeout: float | None = None) -> str:
    """ClearChargingProfile by id or by criteria (none: every profile the station holds)."""
    if purpose in STATION_MAX:
        purpose = STATION_MAX[0]
    if station_version(hub, station_id) != V201:
        request: Any = call16.ClearChargingProfile(
            id=profile_id, connector_id=connector_id, charging_profile_purpose=purpose,
            stack_level=stack_level)
    else:
        criteria = {k: v for k, v in (
            ("evse_id", connector_id), ("stack_level", stack_level),
            ("charging_profile_purpose", STATION_MAX[1] if purpose == STATION_MAX[0]
             else purpose)) if v is not None}
        request = call201.ClearChargingProfile(charging_profile_id=profile_id,
                                               charging_profile_criteria=criteria or None)
    status = (await hub.commands.call(station_id, request, timeout=timeout)).status
    if status == "Accepted":
        await record.profiles_cleared(hub, station_id, profile_id, connector_id, purpose,
                                      stack_level)
    return status


async def composite_schedule(hub: Hub, station_id: str, connector_id: int, duration: int,
                             unit: str | None = None, timeout: float | None = None
                             ) -> CompositeSchedule:
    if station_version(hub, station_id) != V201:
        answer = await hub.commands.call(station_id, call16.GetCompositeSchedule(
            connector_id=connector_id, duration=duration, charging_rate_unit=unit),
            timeout=timeout)
        schedule = answer.charging_schedule
        return CompositeSchedule(answer.status, answer.connector_id or connector_id,
                                 answer.schedule_start, _neutral_schedule(schedule))
    answer = await hub.commands.call(station_id, call201.GetCompositeSchedule(
        duration=duration, evse_id=connector_id, charging_rate_unit=unit), timeout=timeout)
    schedule = answer.schedule or None
    return CompositeSchedule(answer.status, (schedule or {}).get("evse_id", connector_id),
                             (schedule or {}).get("schedule_start"), _neutral_schedule(schedule))


def _neutral_schedule(schedule: dict[str, Any] | None) -> dict[str, Any] | None:
    if not schedule:
        return None
    keep = ("charging_rate_unit", "duration", "start_schedule", "min_charging_rate",
            "charging_schedule_period")
    return {k: schedule[k] for k in keep if schedule.get(k) is not None}
