"""Plug&Charge commands to a station, written once in OCPP 2.0.1 terms (camelCase payloads)
and carried by whatever the station speaks:

- ``native``: an OCPP 2.0.1 session, the message itself;
- ``tunnel``: OCPP 1.6, DataTransfer ``org.openchargealliance.iso15118pnc`` (ISO 15118 roots,
  V2G certificate chains, SignV2GCertificate triggers);
- ``security``: OCPP 1.6 Security Whitepaper messages (CSMS/manufacturer roots, the charging
  station certificate, ExtendedTriggerMessage SignChargePointCertificate).

Every answer comes back as the 2.0.1 response payload; what it means for the station's
certificate inventory is recorded here, whichever surface sent the command.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.commands import StationOffline
from pnc import inventory
from pnc.tunnel import VENDOR_ID, decode_response, encode_request

if TYPE_CHECKING:
    from pnc.runtime import Pnc

log = logging.getLogger(__name__)

ACTIONS = ("CertificateSigned", "InstallCertificate", "GetInstalledCertificateIds",
           "DeleteCertificate", "TriggerMessage")
TRANSPORTS = ("auto", "native", "tunnel", "security")
# 2.0.1 certificate types that OCPP 1.6 carries in its own Security Whitepaper messages.
SECURITY16_TYPES = {"CSMSRootCertificate": "CentralSystemRootCertificate",
                    "ManufacturerRootCertificate": "ManufacturerRootCertificate"}
SECURITY16_BACK = {v: k for k, v in SECURITY16_TYPES.items()}


class TunnelRefused(Exception):
    """The station answered the tunnel's DataTransfer with something other than Accepted."""

    def __init__(self, station_id: str, action: str, status: str) -> None:
        super().__init__(f"station {station_id} answered the {action} DataTransfer with {status}")
        self.station_id = station_id
        self.action = action
        self.status = status


class UnsupportedCommand(ValueError):
    """The request cannot be carried to this station the way it was asked."""


@dataclass(frozen=True)
class Answer:
    action: str
    transport: str
    payload: dict[str, Any]

    @property
    def status(self) -> str | None:
        return self.payload.get("status")


class PncCommands:
    def __init__(self, pnc: Pnc) -> None:
        self.pnc = pnc

    async def transport_for(self, version: str, action: str, payload: dict[str, Any]) -> str:
        if version == "2.0.1":
            return "native"
        if action == "CertificateSigned":
            return "tunnel" if payload.get("certificateType") == "V2GCertificate" else "security"
        if action == "InstallCertificate":
            return "security" if payload.get("certificateType") in SECURITY16_TYPES else "tunnel"
        if action == "GetInstalledCertificateIds":
            types = payload.get("certificateType") or []
            return "security" if len(types) == 1 and types[0] in SECURITY16_TYPES else "tunnel"
        if action == "TriggerMessage":
            return "security" if payload.get("requestedMessage") == \
                "SignChargingStationCertificate" else "tunnel"
        if action == "DeleteCertificate":
            kind = await inventory.type_of(self.pnc, payload.get("stationId", ""),
                                           payload["certificateHashData"])
            return "security" if kind in SECURITY16_TYPES else "tunnel"
        return "tunnel"

    async def send(self, station_id: str, action: str, payload: dict[str, Any], *,
                   transport: str = "auto", timeout: float | None = None) -> Answer:
        """Send a Plug&Charge command (2.0.1 payload) and return the 2.0.1 answer."""
        if action not in ACTIONS:
            raise UnsupportedCommand(f"{action} is not a Plug&Charge command; one of "
                                     + ", ".join(ACTIONS))
        if transport not in TRANSPORTS:
            raise UnsupportedCommand(f"transport must be one of {', '.join(TRANSPORTS)}")
        version = self.pnc.hub.commands.ocpp_version(station_id)
        if version is None:
            raise StationOffline(station_id)
        if transport == "auto":
            transport = await self.transport_for(
                version, action, {**payload, "stationId": station_id}
                if action == "DeleteCertificate" else payload)
        if (transport == "native") != (version == "2.0.1"):
            raise UnsupportedCommand(f"station {station_id} speaks OCPP {version}: transport "
                                     f"{transport!r} does not apply")
        timeout = timeout or self.pnc.settings.command_timeout_seconds
        if transport == "native":
            answer = await self.pnc.hub.commands.send_payload(station_id, action, payload,
                                                              timeout=timeout, version="2.0.1")
        elif transport == "tunnel":
            answer = await self._tunnel(station_id, action, payload, timeout)
        else:
            answer = await self._security(station_id, action, payload, timeout)
        result = Answer(action, transport, answer)
        try:
            await inventory.record_answer(self.pnc, station_id, action, payload, result)
        except Exception:
            # The station did act; failing to record it must not turn success into an error.
            log.exception("recording the inventory effect of %s on %s failed", action,
                          station_id)
        return result

    async def _tunnel(self, station_id: str, action: str, payload: dict[str, Any],
                      timeout: float) -> dict[str, Any]:
        response = await self.pnc.hub.commands.send_payload(station_id, "DataTransfer", {
            "vendorId": VENDOR_ID, "messageId": action,
            "data": encode_request(action, payload)}, timeout=timeout, version="1.6")
        if response["status"] != "Accepted":
            raise TunnelRefused(station_id, action, response["status"])
        return decode_response(action, response.get("data"))

    async def _security(self, station_id: str, action: str, payload: dict[str, Any],
                        timeout: float) -> dict[str, Any]:
        """The 1.6 Security Whitepaper message for a 2.0.1 command, camelCase both ways."""
        send = self.pnc.hub.commands.send_payload
        if action == "CertificateSigned":
            if payload.get("certificateType") == "V2GCertificate":
                raise UnsupportedCommand("V2G certificates go through the Plug&Charge tunnel")
            response = await send(station_id, "CertificateSigned", {
                "certificateChain": payload["certificateChain"]}, timeout, version="1.6")
            return {"status": response["status"]}
        if action == "InstallCertificate":
            kind = SECURITY16_TYPES.get(payload["certificateType"])
            if kind is None:
                raise UnsupportedCommand(f"OCPP 1.6 installs {payload['certificateType']} "
                                         "through the Plug&Charge tunnel")
            response = await send(station_id, "InstallCertificate", {
                "certificateType": kind, "certificate": payload["certificate"]}, timeout,
                version="1.6")
            return {"status": response["status"]}
        if action == "GetInstalledCertificateIds":
            types = payload.get("certificateType") or []
            if len(types) != 1 or types[0] not in SECURITY16_TYPES:
                raise UnsupportedCommand("OCPP 1.6 asks for one of CSMSRootCertificate, "
                                         "ManufacturerRootCertificate at a time")
            response = await send(station_id, "GetInstalledCertificateIds", {
                "certificateType": SECURITY16_TYPES[types[0]]}, timeout, version="1.6")
            answer: dict[str, Any] = {"status": response["status"]}
            hashes = response.get("certificateHashData") or []
            if hashes:
                answer["certificateHashDataChain"] = [
                    {"certificateType": types[0], "certificateHashData": h} for h in hashes]
            return answer
        if action == "DeleteCertificate":
            response = await send(station_id, "DeleteCertificate", {
                "certificateHashData": payload["certificateHashData"]}, timeout, version="1.6")
            return {"status": response["status"]}
        if action == "TriggerMessage":
            if payload.get("requestedMessage") != "SignChargingStationCertificate":
                raise UnsupportedCommand("OCPP 1.6 ExtendedTriggerMessage here only asks for "
                                         "SignChargingStationCertificate")
            response = await send(station_id, "ExtendedTriggerMessage", {
                "requestedMessage": "SignChargePointCertificate"}, timeout, version="1.6")
            return {"status": response["status"]}
        raise UnsupportedCommand(f"{action} has no OCPP 1.6 Security Whitepaper message")
