"""Diagnostics and firmware: the requests sent to stations, their state, and the uploaded
files to download (the same tables and store ``/api/diagnostics`` and ``/api/firmware`` use)."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from hub.console.estate import scoped
from hub.console.guard import current_user, page
from hub.console.render import render
from hub.context import HUB
from hub.files.models import DiagnosticsRequest, FirmwareRequest, StoredFile
from hub.files.service import FILES
from hub.openapi import path

ROWS = 100


@page("Diagnostics and firmware requests, with the uploaded files")
async def diagnostics(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    org = current_user(request).organisation_key
    async with hub.sessions() as session:
        diag = list((await session.execute(scoped(
            sa.select(DiagnosticsRequest).order_by(DiagnosticsRequest.id.desc()).limit(ROWS),
            org, DiagnosticsRequest.station_id))).scalars())
        firmware = list((await session.execute(scoped(
            sa.select(FirmwareRequest).order_by(FirmwareRequest.id.desc()).limit(ROWS),
            org, FirmwareRequest.station_id))).scalars())
        files = list((await session.execute(scoped(
            sa.select(StoredFile).where(StoredFile.kind == "diagnostics")
            .order_by(StoredFile.id.desc()).limit(ROWS), org, StoredFile.station_id)))
            .scalars())
    return render(request, "diagnostics.html", diagnostics=diag, firmware=firmware,
                  files=files)


@page("Download an uploaded diagnostics file", parameters=[
    path("id", {"type": "integer", "minimum": 1})], response_type="application/octet-stream",
    example=None)
async def download(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["id"]
    hub = request.config_dict[HUB]
    org = current_user(request).organisation_key
    row = None
    if raw.isdigit():
        async with hub.sessions() as session:
            row = (await session.execute(scoped(
                sa.select(StoredFile).where(StoredFile.id == int(raw),
                                            StoredFile.kind == "diagnostics"),
                org, StoredFile.station_id))).scalar_one_or_none()
    if row is None:
        raise web.HTTPNotFound(text=f"no diagnostics file {raw}")
    response = web.FileResponse(request.config_dict[FILES].store.path(row.relpath))
    response.content_type = "application/octet-stream"
    response.headers["Content-Disposition"] = f'attachment; filename="{row.name}"'
    response.headers["X-Content-SHA256"] = row.sha256
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/op_diagnostics", diagnostics, name="op_diagnostics")
    app.router.add_get("/files/{id}", download)
