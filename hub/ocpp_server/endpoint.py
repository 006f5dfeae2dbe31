"""The chargers' WebSocket endpoint: ``/ocpp/{station_id}`` (and optionally ``/{station_id}``).

The handshake decides everything before the upgrade: station id syntax, subprotocol, the
station's admission (known, or allowed by the unknown-station policy), and its credentials:
HTTP Basic (security profiles 1 and 2) and/or a TLS client certificate whose CN is the station
id (profile 3). A second connection of the same station replaces the first.

Refused credentials are throttled per source address and per station id (429 + Retry-After
before the upgrade, ``hub.credential_throttle``), and an unknown station is refused exactly like
a known one with wrong credentials, so that the answers do not tell which ids exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
from typing import Any

from aiohttp import WSCloseCode, web

from hub.auth import public
from hub.context import Hub
from hub.credential_throttle import CredentialThrottles, too_many_failures
from hub.ocpp_server import relay
from hub.ocpp_server.admission import AdmissionControl
from hub.ocpp_server.flow_control import GuardedWebSocket, read_loop
from hub.ocpp_server.session import StationSession
from hub.ocpp_server.session16 import StationSession16
from hub.ocpp_server.session21 import StationSession21
from hub.ocpp_server.session201 import StationSession201
from hub.services import stations

log = logging.getLogger(__name__)

SESSION_CLASSES: dict[str, type[StationSession]] = {
    StationSession16.subprotocol: StationSession16,
    StationSession201.subprotocol: StationSession201,
    StationSession21.subprotocol: StationSession21,
}
MAX_STATION_ID = 48
# Frames above the soft limit (config ocpp.max_frame_bytes) get a CALLERROR; above this hard
# limit aiohttp closes the socket (1009) so a hostile peer cannot make us buffer without bound.
HARD_FRAME_FACTOR = 16


def register_session_class(cls: type[StationSession]) -> None:
    """Serve another OCPP version (its subprotocol) on the same endpoint."""
    SESSION_CLASSES[cls.subprotocol] = cls


def valid_station_id(station_id: str) -> bool:
    return (
        0 < len(station_id) <= MAX_STATION_ID
        and station_id.isprintable()
        and station_id.isascii()
        and not any(c in station_id for c in ' /\\?#%"')
    )


def _error(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode(
            "utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _client_certificate_cn(request: web.Request) -> str | None | bool:
    """CN of the verified TLS client certificate; None without one; False if not on TLS."""
    transport = request.transport
    if transport is None or transport.get_extra_info("sslcontext") is None:
        return False
    peercert: dict[str, Any] | None = transport.get_extra_info("peercert")
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def make_handler(hub_key: web.AppKey[Hub], admission_control: AdmissionControl | None = None,
                 throttles: CredentialThrottles | None = None) -> Any:
    guard = admission_control or AdmissionControl()
    throttle = CredentialThrottles() if throttles is None else throttles

    # Chargers authenticate with the OCPP security profiles below, not with API tokens.
    @public
    async def ocpp_websocket(request: web.Request) -> web.StreamResponse:
        hub = request.app[hub_key]
        station_id = request.match_info["station_id"]
        if not valid_station_id(station_id):
            return _error(400, "invalid_station_id",
                          f"station id must be 1..{MAX_STATION_ID} printable ASCII characters "
                          "without spaces or URL delimiters")

        ws = GuardedWebSocket(
            send_timeout=hub.config.ocpp.send_timeout,
            max_buffer=hub.config.ocpp.send_buffer_bytes,
            protocols=tuple(SESSION_CLASSES),
            heartbeat=hub.config.ocpp.websocket_ping_interval or None,
            max_msg_size=hub.config.ocpp.max_frame_bytes * HARD_FRAME_FACTOR,
            compress=False,
        )
        ready = ws.can_prepare(request)
        if not ready.ok:
            return _error(400, "not_websocket", "this endpoint takes OCPP-J WebSocket upgrades")
        if ready.protocol not in SESSION_CLASSES:
            offered = request.headers.get("Sec-WebSocket-Protocol", "")
            return _error(400, "unsupported_subprotocol",
                          f"offered [{offered}], supported: {', '.join(SESSION_CLASSES)}")

        admission = await admit(request, hub, station_id)
        if isinstance(admission, web.Response):
            return admission

        # A redirected station's link to its upstream (hub/ocpp_server/relay.py), or None.
        link = await relay.open_link(request.app, hub, station_id, ready.protocol)
        if isinstance(link, web.Response):
            return link
        try:
            await ws.prepare(request)
        except BaseException:
            if link is not None:
                await link.close()
            raise
        remote = request.remote
        session_class = SESSION_CLASSES[ready.protocol]
        session = (session_class(station_id, ws, hub, remote=remote) if link is None
                   else link.session(session_class, station_id, ws, hub, remote))
        session.registration_status = admission.registration_status
        previous = hub.stations.add(session)
        if previous is not None:
            log.info("%s reconnected; closing its previous connection", station_id)
            previous.connection_closed()
            await previous.ws.close(code=1000, message=b"replaced by a new connection")
        try:
            await stations.mark_connected(hub, station_id, session.ocpp_version, remote,
                                          admission.registration_status)
        except Exception as exc:
            # The database is failing over: the charger reconnects with its own back-off.
            log.warning("%s: could not record the connection (%r); asking it to retry",
                        station_id, exc)
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"database unavailable")
        else:
            await read_loop(session, ws if link is None else link.frames(ws),
                            hub.config.ocpp.rate_limit, hub.config.ocpp.rate_burst,
                            guard.pressure)
        finally:
            if link is not None:
                await link.close(ws.close_code)
            session.connection_closed()
            if hub.stations.remove(session):
                await asyncio.shield(_mark_disconnected(hub, session, str(ws.close_code)))
        return ws

    async def admit(request: web.Request, hub: Hub, station_id: str
                    ) -> stations.StationAdmission | web.Response:
        """The station's admission, or the refusal to answer the handshake with."""
        wait = throttle.station_retry_after(request.remote, station_id)
        if wait > 0:
            return too_many_failures(wait)  # before the database is asked anything
        admission = await guard.admit(hub, station_id)
        if isinstance(admission, web.Response):
            return admission  # 503 + Retry-After: the hub is full or its database is busy
        refusal = _check_credentials(request, station_id, admission)
        if refusal is not None:
            throttle.station_failed(request.remote, station_id)
            log.warning("refused %s station %s from %s: %s",
                        "unknown" if admission is None else "known", station_id,
                        request.remote, refusal.text)
            return refusal
        throttle.station_succeeded(station_id)
        assert admission is not None  # _check_credentials refuses unknown stations
        return admission

    return ocpp_websocket


async def _mark_disconnected(hub: Hub, session: StationSession, reason: str) -> None:
    try:
        await stations.mark_disconnected(hub, session.id, session.last_seen_at, reason=reason)
    except Exception as exc:
        # Start-up resets every connected flag, so a lost write here is repaired by a restart.
        log.warning("%s: could not record the disconnect (%r)", session.id, exc)


def _unauthorized(request: web.Request) -> web.Response:
    if _basic_credentials(request) is None:
        return web.json_response(
            {"error": "unauthorized", "detail": "HTTP Basic credentials required"},
            status=401, headers={"WWW-Authenticate": 'Basic realm="OCPP"'})
    return web.json_response(
        {"error": "unauthorized", "detail": "wrong station id or password"},
        status=401, headers={"WWW-Authenticate": 'Basic realm="OCPP"'})


def _check_credentials(request: web.Request, station_id: str,
                       admission: stations.StationAdmission | None) -> web.Response | None:
    if admission is None:
        # Unknown (and refused by the policy): answered as a known station with other
        # credentials would be.
        return _unauthorized(request)
    cn = _client_certificate_cn(request)
    if isinstance(cn, str):
        # Security profile 3: the certificate was verified by TLS; it must be this station's.
        if cn != station_id:
            return _error(403, "certificate_mismatch",
                          "the client certificate was issued to another station")
        if admission.password_hash is None:
            return None

    if admission.password_hash is None:
        return None
    credentials = _basic_credentials(request)
    if credentials is None:
        return _unauthorized(request)
    user, password = credentials
    if user != station_id or not stations.verify_password(password, admission.password_hash):
        return _unauthorized(request)
    return None


def ssl_context(cert: str, key: str, client_ca: str = "",
                require_client_cert: bool = False) -> ssl.SSLContext:
    """TLS for security profiles 2 and 3 (client certificates verified against ``client_ca``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context
