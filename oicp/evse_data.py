"""PushEvseData v2.3: EVSE master data derived from sites, chargers and ports.

``EvseSite`` (``hub.evse_provider``) is the plain data one EVSE record is made from; the hub's
EVSE data providers fill it (the Sites API: site address and coordinates, charger name and
manufacturer, port plug and power; see ``EvseDirectory.sites``) and ``evse_data_record`` maps
it to an ``EvseDataRecord`` with every field the spec requires, operator-wide values (hotline,
authentication modes, ...) coming from ``[oicp]``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.db.base import utcnow
from hub.feature_api import EvseSite
from oicp.config import OicpConfig
from oicp.ids import is_evse_id
from oicp.messages import zone

PLUG_TYPES = frozenset({
    "Small Paddle Inductive", "Large Paddle Inductive", "AVCON Connector", "Tesla Connector",
    "NEMA 5-20", "Type E French Standard", "Type F Schuko", "Type G British Standard",
    "Type J Swiss Standard", "Type 1 Connector (Cable Attached)", "Type 2 Outlet",
    "Type 2 Connector (Cable Attached)", "Type 3 Outlet", "IEC 60309 Single Phase",
    "IEC 60309 Three Phase", "CCS Combo 2 Plug (Cable Attached)",
    "CCS Combo 1 Plug (Cable Attached)", "CHAdeMO"})
DC_PLUGS = frozenset({"CCS Combo 2 Plug (Cable Attached)", "CCS Combo 1 Plug (Cable Attached)",
                      "CHAdeMO"})


class IncompleteEvse(ValueError):
    """The sites model lacks a field Hubject requires; the EVSE is not pushed."""


def _decimal_degree(value: float) -> str:
    text = f"{value:.6f}"
    # OICP: -?1?\d{1,2}\.\d{1,6}  - at least one decimal.
    head, _, tail = text.partition(".")
    tail = tail.rstrip("0") or "0"
    return f"{head}.{tail}"


def utc_offset(tz: ZoneInfo, at: datetime | None = None) -> str:
    """OICP TimeZone pattern: UTC+01:00."""
    offset = (at or utcnow()).astimezone(tz).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def authentication_modes(config: OicpConfig, plug_and_charge: bool) -> list[str]:
    """The operator's modes, with "PnC" only where the EVSE's station does Plug&Charge."""
    modes = [m for m in config.authentication_modes if m != "PnC"]
    return [*modes, "PnC"] if plug_and_charge else modes


def evse_data_record(evse: EvseSite, config: OicpConfig, *,
                     holds_secc: bool = False) -> dict[str, Any]:
    """One EvseDataRecord; raises IncompleteEvse naming what is missing. ``holds_secc``: the
    station holds a valid SECC certificate (``hub.services.plug_and_charge``)."""
    missing = [name for name, value in (
        ("EvseID", evse.evse_id if is_evse_id(evse.evse_id) else None),
        ("country", evse.country), ("city", evse.city), ("street", evse.street),
        ("latitude", evse.latitude), ("longitude", evse.longitude),
        ("plug", evse.plug if evse.plug in PLUG_TYPES else None),
        ("maximum power", evse.max_power_kw),
        ("hotline phone number ([oicp] hotline_phone_number)", config.hotline_phone_number),
    ) if value in (None, "")]
    if missing:
        raise IncompleteEvse(f"{evse.evse_id}: missing {', '.join(missing)}")
    assert evse.latitude is not None and evse.longitude is not None
    assert evse.max_power_kw is not None and evse.street is not None
    power_type = evse.power_type or ("DC" if evse.plug in DC_PLUGS else "AC_3_PHASE")
    street = evse.street if len(evse.street) >= 2 else evse.street.ljust(2, "_")
    address: dict[str, Any] = {
        "Country": (evse.country or "").upper(),
        "City": (evse.city or "")[:50],
        "Street": street[:100],
        "PostalCode": (evse.postal_code or "")[:10],
        "HouseNum": (evse.house_number or "")[:10],
        "TimeZone": utc_offset(zone(evse.timezone, config.zone)),
    }
    if evse.region:
        address["Region"] = evse.region[:50]
    record: dict[str, Any] = {
        "EvseID": evse.evse_id,
        "ChargingStationId": evse.station_id[:50],
        "ChargingStationNames": [{"lang": "en", "value": evse.station_name[:150]}],
        "Address": address,
        "GeoCoordinates": {"DecimalDegree": {"Latitude": _decimal_degree(evse.latitude),
                                             "Longitude": _decimal_degree(evse.longitude)}},
        "Plugs": [evse.plug],
        "ChargingFacilities": [{
            "PowerType": power_type,
            "Power": max(0, min(999, round(evse.max_power_kw))),
            "ChargingModes": ["Mode_4"] if power_type == "DC" else ["Mode_3"],
        }],
        "RenewableEnergy": config.renewable_energy,
        "CalibrationLawDataAvailability": config.calibration_law_for(evse.evse_id,
                                                                     evse.station_id),
        "AuthenticationModes": authentication_modes(config, config.plug_and_charge_for(
            evse.evse_id, evse.station_id, holds_secc)),
        "PaymentOptions": list(config.payment_options),
        "ValueAddedServices": list(config.value_added_services) or ["None"],
        "Accessibility": config.accessibility,
        "HotlinePhoneNumber": config.hotline_phone_number,
        "IsOpen24Hours": config.is_open_24_hours,
        "IsHubjectCompatible": config.is_hubject_compatible,
        "DynamicInfoAvailable": config.dynamic_info_available,
    }
    if evse.manufacturer:
        record["HardwareManufacturer"] = evse.manufacturer[:50]
    return record


def push_evse_data_request(config: OicpConfig, records: list[dict[str, Any]],
                           action: str = "fullLoad") -> dict[str, Any]:
    if action not in ("fullLoad", "update", "insert", "delete"):
        raise ValueError(f"unknown ActionType {action}")
    data: dict[str, Any] = {"OperatorID": config.operator_id,
                            "OperatorName": (config.operator_name or config.operator_id)[:100],
                            "EvseDataRecord": records}
    return {"ActionType": action, "OperatorEvseData": data}


def build_records(evses: list[EvseSite], config: OicpConfig,
                  secc_stations: frozenset[str] | set[str] = frozenset()
                  ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(records, {evse_id: why it was left out}); ``secc_stations`` hold a valid SECC
    certificate."""
    records, skipped = [], {}
    for evse in evses:
        try:
            records.append(evse_data_record(evse, config,
                                            holds_secc=evse.station_id in secc_stations))
        except IncompleteEvse as problem:
            skipped[evse.evse_id] = str(problem)
    return records, skipped
