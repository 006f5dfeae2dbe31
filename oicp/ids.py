"""OICP identifiers and the patterns the 2.3 data types define for them."""

from __future__ import annotations

import re
import uuid

EVSE_ID = re.compile(
    r"^(([A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?E[A-Za-z0-9\*]{1,30})|(\+?[0-9]{1,3}\*[0-9]{3}\*[0-9\*]{1,32}))$")
SESSION_ID = re.compile(r"^[A-Za-z0-9]{8}(-[A-Za-z0-9]{4}){3}-[A-Za-z0-9]{12}$")
EVCO_ID = re.compile(
    r"^(([A-Za-z]{2}\-?[A-Za-z0-9]{3}\-?C[A-Za-z0-9]{8}\-?[\d|A-Za-z])|"
    r"([A-Za-z]{2}[\*|\-]?[A-Za-z0-9]{3}[\*|\-]?[A-Za-z0-9]{6}[\*|\-]?[\d|X]))$")
RFID_UID = re.compile(r"^([0-9A-F]{8,8}|[0-9A-F]{14,14}|[0-9A-F]{20,20})$")


def is_evse_id(value: object) -> bool:
    return isinstance(value, str) and EVSE_ID.match(value) is not None


def is_session_id(value: object) -> bool:
    return isinstance(value, str) and SESSION_ID.match(value) is not None


def is_evco_id(value: object) -> bool:
    return isinstance(value, str) and EVCO_ID.match(value) is not None


def new_session_id() -> str:
    return str(uuid.uuid4())


def identification_for_tag(id_tag: str) -> dict[str, object] | None:
    """The OICP Identification for an OCPP id tag the hub does not know, or None when the tag
    is neither an RFID UID (hex, 4/7/10 bytes) nor an EvcoID (e.g. Plug&Charge contracts)."""
    uid = id_tag.strip().upper()
    if RFID_UID.match(uid):
        return {"RFIDMifareFamilyIdentification": {"UID": uid}}
    if EVCO_ID.match(id_tag.strip()):
        return {"PlugAndChargeIdentification": {"EvcoID": id_tag.strip().upper()}}
    return None


def evco_of(identification: dict[str, object] | None) -> str | None:
    """The contract id (EvcoID) an Identification carries, if any."""
    for kind in ("RemoteIdentification", "PlugAndChargeIdentification", "QRCodeIdentification",
                 "RFIDIdentification"):
        value = (identification or {}).get(kind)
        if isinstance(value, dict) and isinstance(value.get("EvcoID"), str):
            return value["EvcoID"]
    return None


def uid_of(identification: dict[str, object] | None) -> str | None:
    for kind in ("RFIDMifareFamilyIdentification", "RFIDIdentification"):
        value = (identification or {}).get(kind)
        if isinstance(value, dict) and isinstance(value.get("UID"), str):
            return value["UID"]
    return None
