"""The OCPP 1.6 Plug&Charge tunnel: DataTransfer with vendorId
``org.openchargealliance.iso15118pnc``, messageId = the OCPP 2.0.1 action, data = the 2.0.1
payload as a JSON *string*; the answer carries the 2.0.1 response as a JSON string.

Every inner payload is checked against the ``ocpp`` package's 2.0.1 schemas in both directions
(``ocpp.messages.get_validator(MessageType.Call | CallResult, action, "2.0.1")``), so what
crosses the tunnel is exactly what a native 2.0.1 session would accept.
"""

from __future__ import annotations

import json
from typing import Any

from ocpp.messages import MessageType

from hub.feature_api import FrameError, validate_payload

VENDOR_ID = "org.openchargealliance.iso15118pnc"
#: Charger -> hub messages the tunnel carries.
CHARGER_MESSAGES = frozenset({"Authorize", "Get15118EVCertificate", "GetCertificateStatus",
                              "SignCertificate"})
#: Hub -> charger messages the tunnel carries.
HUB_MESSAGES = frozenset({"CertificateSigned", "InstallCertificate", "GetInstalledCertificateIds",
                          "DeleteCertificate", "TriggerMessage"})
V201 = "2.0.1"


class TunnelError(Exception):
    """A tunnel payload that cannot be used. ``status`` is the DataTransfer status to answer
    (UnknownMessageId or Rejected); ``reason`` a short code, ``detail`` says what is wrong."""

    def __init__(self, status: str, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail


def _load(data: str | None, what: str) -> dict[str, Any]:
    if data is None or not str(data).strip():
        raise TunnelError("Rejected", "data_missing", f"{what}: data is empty")
    try:
        payload = json.loads(data)
    except (TypeError, ValueError, RecursionError) as exc:
        raise TunnelError("Rejected", "data_not_json", f"{what}: data is not JSON ({exc})"
                          ) from None
    if not isinstance(payload, dict):
        raise TunnelError("Rejected", "data_not_object", f"{what}: data is not a JSON object")
    return payload


def _check(message_type: int, action: str, payload: dict[str, Any], what: str) -> None:
    try:
        validate_payload(message_type, action, payload, V201)
    except FrameError as error:
        raise TunnelError("Rejected", error.code, f"{what}: {error.description}") from None


def _dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


def decode_request(message_id: str | None, data: str | None) -> dict[str, Any]:
    """A charger's tunnelled request: its 2.0.1 payload, checked."""
    if message_id not in CHARGER_MESSAGES:
        raise TunnelError("UnknownMessageId", "unknown_message_id",
                          f"messageId {message_id!r} is not a Plug&Charge request")
    payload = _load(data, f"{message_id} request")
    _check(MessageType.Call, message_id, payload, f"{message_id} request")
    return payload


def encode_response(message_id: str, payload: dict[str, Any]) -> str:
    """The hub's answer to a tunnelled request, checked before it leaves."""
    _check(MessageType.CallResult, message_id, payload, f"{message_id} response")
    return _dump(payload)


def encode_request(action: str, payload: dict[str, Any]) -> str:
    """A hub -> charger request for the tunnel, checked before it leaves."""
    if action not in HUB_MESSAGES:
        raise TunnelError("UnknownMessageId", "unknown_message_id",
                          f"{action} is not carried by the Plug&Charge tunnel")
    _check(MessageType.Call, action, payload, f"{action} request")
    return _dump(payload)


def decode_response(action: str, data: str | None) -> dict[str, Any]:
    """A charger's tunnelled answer: its 2.0.1 response payload, checked."""
    payload = _load(data, f"{action} response")
    _check(MessageType.CallResult, action, payload, f"{action} response")
    return payload
