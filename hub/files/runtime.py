"""Wiring of hub.files into the app: routes, the runtime (store, FTP server, deadline sweeper)
and the hooks that let station notifications move requests along."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import HUB
from hub.events import StationNotified
from hub.files import diagnostics, firmware, http_uploads, routes
from hub.files.ftp import start_ftp
from hub.files.service import FILES, Files

log = logging.getLogger(__name__)


def add_file_routes(app: web.Application) -> None:
    http_uploads.add_routes(app)
    routes.add_routes(app)
    app.cleanup_ctx.append(files_runtime)


async def files_runtime(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    files = Files.create(hub)
    await files.start()
    app[FILES] = files
    hub.bus.on_commit(StationNotified, diagnostics.on_notification)
    hub.bus.on_commit(StationNotified, firmware.on_notification)
    if files.config.ftp_enabled:
        files.ftp = await start_ftp(files)
    sweeper = asyncio.create_task(_sweep_forever(files))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        if files.ftp is not None and files.ftp.close is not None:
            await files.ftp.close()


async def sweep(files: Files) -> int:
    """Time out requests past their deadline; returns how many were due."""

    async def work(conn: AsyncConnection) -> int:
        return await diagnostics.expire(conn) + await firmware.expire(conn)

    return await files.hub.committer.run(work)


async def _sweep_forever(files: Files) -> None:
    while True:
        await asyncio.sleep(files.config.sweep_interval)
        try:
            if await files.hub.cluster.lead("files-sweep"):  # once per cluster
                await sweep(files)
        except Exception:
            log.exception("could not time out diagnostics/firmware requests")
