"""Hubject -> hub: the OICP 2.3 CPO webhooks.

    POST /api/oicp/charging/v21/providers/{providerID}/authorize-remote/start
    POST /api/oicp/charging/v21/providers/{providerID}/authorize-remote/stop
    POST /api/oicp/reservation/v11/providers/{providerID}/reservation-start-request
    POST /api/oicp/reservation/v11/providers/{providerID}/reservation-stop-request
    POST /api/oicp/charging/v21/providers/{providerID}/authorize-remote-reservation/start
    POST /api/oicp/charging/v21/providers/{providerID}/authorize-remote-reservation/stop

They authenticate the caller themselves (``oicp.webhook_auth``: Hubject has no bearer token),
and always answer an eRoamingAcknowledgement: HTTP 200 with ``Result`` true or false and the
StatusCode saying why, within Hubject's 10 s. Nothing the caller sends gives a 500: malformed
JSON or fields are 022, an unknown provider 300, an unknown EvseID 603; an internal failure is
021. A refused caller gets 401/403 with ``Result: false`` and 017.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub.auth import public
from hub.json_body import JsonBodyError, parse_json
from hub.openapi import operation, path
from oicp import webhook_auth
from oicp.messages import acknowledgement

if TYPE_CHECKING:
    from oicp.remote import Outcome
    from oicp.runtime import OicpRuntime

log = logging.getLogger(__name__)

STATUS_CODE_SCHEMA = {
    "type": "object", "required": ["Code"],
    "properties": {"Code": {"type": "string"}, "Description": {"type": "string"},
                   "AdditionalInfo": {"type": "string"}},
}
ACK_SCHEMA = {
    "type": "object", "required": ["Result", "StatusCode"],
    "properties": {"Result": {"type": "boolean"}, "StatusCode": STATUS_CODE_SCHEMA,
                   "SessionID": {"type": "string"}, "CPOPartnerSessionID": {"type": "string"},
                   "EMPPartnerSessionID": {"type": "string"}},
}
REQUEST_SCHEMA = {
    "type": "object", "required": ["ProviderID", "EvseID"],
    "properties": {"SessionID": {"type": "string"}, "ProviderID": {"type": "string"},
                   "EvseID": {"type": "string"}, "Identification": {"type": "object"},
                   "CPOPartnerSessionID": {"type": "string"},
                   "EMPPartnerSessionID": {"type": "string"},
                   "PartnerProductID": {"type": "string"}, "Duration": {"type": "integer"}},
    "additionalProperties": True,
}
PROVIDER = path("providerID", description="the EMP's OICP ProviderID")
Action = Callable[["OicpRuntime", Any, str | None], Awaitable["Outcome"]]


def runtime(request: web.Request) -> OicpRuntime:
    from oicp import OICP

    return request.app[OICP]


def ack_response(ack: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(ack, status=status)


async def read_json(request: web.Request) -> tuple[Any, str | None]:
    """(body, None) or (None, why it is unusable)."""
    try:
        raw = await request.read()
    except Exception as error:  # noqa: BLE001 - a broken upload is still the caller's problem
        return None, f"could not read the request body: {error}"
    try:
        return parse_json(raw), None
    except JsonBodyError as error:
        return None, f"the request body {error}"


async def answer(request: web.Request, action: Action) -> web.Response:
    rt = runtime(request)
    denied = webhook_auth.check(request, rt.config)
    if denied is not None:
        log.warning("OICP webhook %s refused for %s: %s", request.path, request.remote,
                    denied.reason)
        return ack_response(acknowledgement(False, "017", denied.reason), denied.status)
    if not rt.config.enabled:
        return ack_response(acknowledgement(False, "320", "OICP is not configured on this hub"))
    body, problem = await read_json(request)
    if problem is not None:
        return ack_response(acknowledgement(False, "022", problem))
    provider = request.match_info.get("providerID")
    try:
        async with asyncio.timeout(rt.config.webhook_deadline):
            outcome = await action(rt, body, provider)
    except TimeoutError:
        return ack_response(acknowledgement(False, "501", "the charging station did not answer "
                                            "in time"))
    except Exception:
        log.exception("OICP webhook %s failed", request.path)
        return ack_response(acknowledgement(False, "021", "the hub could not process the "
                                            "request"))
    return ack_response(outcome.ack)


def _op(summary: str) -> Callable[[Any], Any]:
    refused = {"content": {"application/json": {"schema": ACK_SCHEMA}}}
    return operation(summary, tags=["oicp"], parameters=[PROVIDER], body=REQUEST_SCHEMA,
                     response=ACK_SCHEMA,
                     responses={"401": {"description": "no client certificate / secret "
                                                       "header (Result false, 017)", **refused},
                                "403": {"description": "caller not allowed, or webhook "
                                                       "authentication not configured outside "
                                                       "--dev (Result false, 017)", **refused}},
                     description="Called by Hubject (mutual TLS, IP allow-list or shared secret;"
                                 " no bearer token). Always answers an eRoamingAcknowledgement.")


@public
@_op("Hubject eRoamingAuthorizeRemoteStart v2.1 -> RemoteStartTransaction")
async def authorize_remote_start(request: web.Request) -> web.Response:
    return await answer(request, lambda rt, body, provider: rt.remote.start(body, provider))


@public
@_op("Hubject eRoamingAuthorizeRemoteStop v2.1 -> RemoteStopTransaction")
async def authorize_remote_stop(request: web.Request) -> web.Response:
    return await answer(request, lambda rt, body, provider: rt.remote.stop(body, provider))


@public
@_op("Hubject eRoamingAuthorizeRemoteReservationStart v1.1 -> ReserveNow")
async def reservation_start(request: web.Request) -> web.Response:
    return await answer(request, lambda rt, body, provider: rt.remote.reserve(body, provider))


@public
@_op("Hubject eRoamingAuthorizeRemoteReservationStop v1.1 -> CancelReservation")
async def reservation_stop(request: web.Request) -> web.Response:
    return await answer(request, lambda rt, body, provider:
                        rt.remote.cancel_reservation(body, provider))


def add_webhook_routes(app: web.Application) -> None:
    charging = "/api/oicp/charging/v21/providers/{providerID}"
    reservation = "/api/oicp/reservation/v11/providers/{providerID}"
    app.router.add_post(f"{charging}/authorize-remote/start", authorize_remote_start)
    app.router.add_post(f"{charging}/authorize-remote/stop", authorize_remote_stop)
    app.router.add_post(f"{reservation}/reservation-start-request", reservation_start)
    app.router.add_post(f"{reservation}/reservation-stop-request", reservation_stop)
    app.router.add_post(f"{charging}/authorize-remote-reservation/start", reservation_start)
    app.router.add_post(f"{charging}/authorize-remote-reservation/stop", reservation_stop)
