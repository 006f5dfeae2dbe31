"""pnc: Plug&Charge over OCPP — the ISO 15118 certificate lifecycle on the chargers.

Flows are written once on OCPP 2.0.1 payloads (``signing``, ``contracts``, ``ocsp_status``) and
reached through thin adapters (``adapters``): native 2.0.1, the 1.6 DataTransfer tunnel
(``tunnel``) and the 1.6 Security Whitepaper. Commands to stations go through ``charger``;
durable work through ``jobs``; automation through ``lifecycle``; HTTP through ``api``. The hub's
own OCSP responder is served at ``/ocsp`` (public: chargers and OCSP clients send no tokens).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from aiohttp import web
from cryptography.x509 import ocsp

from certs.ocsp_responder import _unsuccessful
from certs.settings import PkiSettings
from hub.auth import public
from hub.feature_api import CONFIG, HUB
from hub.openapi import operation, path
from pnc.runtime import PNC, Pnc, PncHolder
from pnc.settings import PncSettings, pki_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def _pki_settings(app: web.Application) -> PkiSettings:
    return PkiSettings.from_mapping(pki_settings(app[CONFIG]))


# DER OCSPRequest / OCSPResponse (RFC 6960).
OCSP_BODY = {"type": "string", "contentMediaType": "application/octet-stream"}


def _try_later() -> web.Response:
    return web.Response(body=_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER),
                        content_type="application/ocsp-response")


@public
@operation("OCSP responder of the hub's CAs (RFC 6960, POST)", tags=["pnc"],
           body=OCSP_BODY, body_type="application/ocsp-request",
           response=OCSP_BODY, response_type="application/ocsp-response")
async def ocsp_post(request: web.Request) -> web.StreamResponse:
    pnc = request.app[PNC].pnc
    if pnc is None or pnc.responder is None:
        return _try_later()
    return await pnc.responder.handle_post(request)


@public
@operation("OCSP responder of the hub's CAs (RFC 6960 A.1, GET)", tags=["pnc"], parameters=[
    path("request", {"type": "string", "minLength": 1, "maxLength": 16384},
         "URL-encoded base64 of the DER OCSPRequest")],
    response=OCSP_BODY, response_type="application/ocsp-response")
async def ocsp_get(request: web.Request) -> web.StreamResponse:
    pnc = request.app[PNC].pnc
    if pnc is None or pnc.responder is None:
        return _try_later()
    return await pnc.responder.handle_get(request)


def setup(app: web.Application) -> None:
    from pnc import opcp_webhook
    from pnc.api import add_routes

    # Fail at start-up, naming the key, rather than at the first charger message.
    settings = PncSettings.from_mapping(app[CONFIG].section("pnc"))
    _pki_settings(app)
    holder = PncHolder()
    app[PNC] = holder
    add_routes(app)
    from pnc.console_pages import add_pages

    add_pages(app)
    opcp_webhook.add_routes(app)
    app.router.add_post("/ocsp", ocsp_post)
    app.router.add_get("/ocsp/{request:.+}", ocsp_get)

    @contextlib.asynccontextmanager
    async def runtime(app: web.Application) -> AsyncIterator[None]:
        from pnc.adapters import register

        pnc = Pnc(app[HUB], settings, _pki_settings(app))
        await pnc.start()
        register(pnc)
        holder.pnc = pnc
        try:
            yield
        finally:
            holder.pnc = None
            await pnc.stop()

    app.cleanup_ctx.append(runtime)


def ocpp_handlers(hub: Any) -> None:
    """Register this feature's OCPP handlers on ``hub`` as the runtime does (``adapters``),
    without starting it: for ``pnc-hub ocpp actions``, which only reads who answers what."""
    from pnc.adapters import register

    register(cast(Pnc, SimpleNamespace(hub=hub)))


__all__ = ["MIGRATIONS", "PNC", "Pnc", "ocpp_handlers", "setup"]
