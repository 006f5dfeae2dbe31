"""The thin per-version adapters: each turns what a station sent into the version-independent
flow's 2.0.1 payload and its answer back.

- OCPP 2.0.1: ``hub.handle_action("2.0.1", action, ...)`` (camelCase in, camelCase out);
- OCPP 1.6 tunnel: DataTransfer ``org.openchargealliance.iso15118pnc`` per messageId, the
  inner payloads checked against the 2.0.1 schemas both ways (``pnc.tunnel``);
- OCPP 1.6 Security Whitepaper: SignCertificate (a charging-station certificate).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from certs.identifiers import is_secc_common_name
from hub.feature_api import ActionHandler, DataTransferHandler, StationSession
from hub.services.notifications import record_notification
from pnc.contracts import authorize, get_15118_ev_certificate
from pnc.ocsp_status import get_certificate_status
from pnc.runtime import Pnc
from pnc.signing import sign_certificate
from pnc.tunnel import CHARGER_MESSAGES, VENDOR_ID, TunnelError, decode_request, encode_response

log = logging.getLogger(__name__)

Flow = Callable[[Pnc, StationSession, dict[str, Any]], Awaitable[dict[str, Any]]]


def _sign(default_type: str) -> Flow:
    async def flow(pnc: Pnc, session: StationSession, payload: dict[str, Any]
                   ) -> dict[str, Any]:
        return await sign_certificate(pnc, session, payload, default_type=default_type)
    return flow


#: The flows, by OCPP 2.0.1 action. Via the tunnel a SignCertificate is for the SECC (V2G);
#: natively, without certificateType, it is for the charging station.
TUNNEL_FLOWS: dict[str, Flow] = {
    "SignCertificate": _sign("V2GCertificate"),
    "Get15118EVCertificate": get_15118_ev_certificate,
    "GetCertificateStatus": get_certificate_status,
    "Authorize": authorize,
}
NATIVE_FLOWS: dict[str, Flow] = {**TUNNEL_FLOWS,
                                 "SignCertificate": _sign("ChargingStationCertificate")}


def tunnel_handler(pnc: Pnc, message_id: str) -> DataTransferHandler:
    flow = TUNNEL_FLOWS[message_id]

    async def handle(session: StationSession, data: str | None) -> tuple[str, str | None]:
        try:
            payload = decode_request(message_id, data)
        except TunnelError as error:
            log.warning("%s: Plug&Charge tunnel %s rejected: %s", session.id, message_id,
                        error.detail)
            await record_notification(pnc.hub, session.id, "PncTunnel", error.status,
                                      detail={"messageId": message_id, "reason": error.reason,
                                              "detail": error.detail})
            return error.status, None
        answer = await flow(pnc, session, payload)
        try:
            return "Accepted", encode_response(message_id, answer)
        except TunnelError as error:  # our own answer does not fit the schema: a bug
            log.error("%s: Plug&Charge answer to %s is invalid: %s", session.id, message_id,
                      error.detail)
            return "Rejected", None

    return handle


def native_handler(pnc: Pnc, action: str) -> ActionHandler:
    flow = NATIVE_FLOWS[action]

    async def handle(session: StationSession, payload: dict[str, Any]) -> dict[str, Any]:
        return await flow(pnc, session, payload)

    return handle


def security16_sign(pnc: Pnc) -> ActionHandler:
    async def handle(session: StationSession, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await sign_certificate(pnc, session, {"csr": payload["csr"]},
                                        default_type="ChargingStationCertificate")
        return {"status": answer["status"]}  # 1.6 SignCertificate.conf has nothing else

    return handle


def register(pnc: Pnc) -> None:
    hub = pnc.hub
    # The operator's SECC IDs (PATCH /api/stations/{id}/identity) are checked for ISO 15118
    # syntax with this package's knowledge of it; the core knows none.
    hub.secc_id_syntax = is_secc_common_name
    for message_id in sorted(CHARGER_MESSAGES):
        hub.handle_data_transfer(VENDOR_ID, message_id, tunnel_handler(pnc, message_id))
    hub.handle_action("1.6", "SignCertificate", security16_sign(pnc))
    for action in NATIVE_FLOWS:
        hub.handle_action("2.0.1", action, native_handler(pnc, action))
