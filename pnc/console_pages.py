"""Plug&Charge in the operator console (``/console/op_pnc``): certificates each station holds
(with their expiry where the hub knows the certificate), open sign/renew/install jobs, and the
OCSP responses the hub keeps. Within the user's organisation; OCSP for users of the whole
estate only (responses are not per station)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from aiohttp import web

from hub.console.pages import ConsolePage, add_console_page, current_user, page, render, scoped
from hub.db.models import PkiCertificate
from hub.feature_api import HUB
from pnc.models import OPEN_STATES, PncInstalledCertificate, PncJob, PncOcspResponse

LIMIT = 500
GERMAN = {
    "Plug&Charge": "Plug&Charge",
    "Certificates at stations": "Zertifikate an Stationen",
    "Type": "Typ",
    "Serial": "Seriennummer",
    "Source": "Quelle",
    "Seen": "Gesehen",
    "Open jobs": "Offene Aufträge",
    "Kind": "Art",
    "Step": "Schritt",
    "Attempts": "Versuche",
    "Next run": "Nächster Lauf",
    "OCSP responses": "OCSP-Antworten",
    "Next update": "Nächste Aktualisierung",
    "No certificates reported.": "Keine Zertifikate gemeldet.",
    "No open jobs.": "Keine offenen Aufträge.",
}


@page("Plug&Charge: certificates at stations, open jobs, OCSP state")
async def pnc_page(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    org = current_user(request).organisation_key
    async with hub.sessions() as session:
        certificates = (await session.execute(scoped(
            sa.select(PncInstalledCertificate, PkiCertificate.not_after)
            .outerjoin(PkiCertificate,
                       PkiCertificate.fingerprint == PncInstalledCertificate.fingerprint)
            .order_by(PncInstalledCertificate.station_id, PncInstalledCertificate.id)
            .limit(LIMIT), org, PncInstalledCertificate.station_id))).all()
        jobs = list((await session.execute(scoped(
            sa.select(PncJob).where(PncJob.state.in_(OPEN_STATES))
            .order_by(PncJob.next_run_at).limit(LIMIT), org, PncJob.station_id))).scalars())
        ocsp = [] if org is not None else (await session.execute(
            sa.select(PncOcspResponse.cert_status, sa.func.count(),
                      sa.func.min(PncOcspResponse.next_update))
            .group_by(PncOcspResponse.cert_status))).all()
    return render(request, "pnc.html", certificates=certificates, jobs=jobs, ocsp=ocsp)


def add_pages(app: web.Application) -> None:
    add_console_page(app, ConsolePage(
        "op_pnc", "Plug&Charge", pnc_page, templates=Path(__file__).parent / "console_templates",
        german=GERMAN))
