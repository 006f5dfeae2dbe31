"""The runtime of hub.files: configuration, the store, the URLs chargers are given, and the
history rows both request cycles write."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection
from yarl import URL

from hub.auth import TokenVerifier
from hub.config import FilesConfig
from hub.context import Hub
from hub.db.base import utcnow
from hub.errors import ApiError
from hub.files.models import FileRequestEvent, StoredFile
from hub.files.store import FileStore


@dataclass
class FtpEndpoint:
    """Where the running FTP server is reachable (the port is known once it listens)."""

    port: int
    close: Any = None


@dataclass
class Files:
    hub: Hub
    config: FilesConfig
    store: FileStore
    # Diagnostics requests with an upload in progress: one upload per token at a time.
    uploading: set[int] = field(default_factory=set)
    ftp: FtpEndpoint | None = None
    # Admin bearer tokens on routes that are public for chargers (GET /firmware/{name}).
    verifier: TokenVerifier | None = None

    @classmethod
    def create(cls, hub: Hub) -> Files:
        config = hub.config.files
        return cls(hub=hub, config=config,
                   store=FileStore(Path(config.data_dir), config.quota_bytes),
                   verifier=TokenVerifier(hub.sessions))

    async def start(self) -> None:
        self.store.prepare()
        async with self.hub.sessions() as session:
            used = (await session.execute(sa.select(sa.func.sum(StoredFile.size)))).scalar()
        self.store.used_bytes = int(used or 0)

    # -- the URLs chargers are given ------------------------------------------------------------

    def base_url(self, request: web.Request | None = None) -> str:
        """The hub's HTTP base as chargers reach it."""
        configured = self.config.public_url or self.hub.config.server.public_url
        if configured:
            return configured.rstrip("/")
        if request is not None:
            return f"{request.scheme}://{request.host}"
        return f"http://127.0.0.1:{self.hub.config.server.port}"

    def ftp_location(self, request_id: int, token: str | None, base_url: str) -> str:
        """ftp://diag<id>:<token>@host:port/ (token None: the redacted form)."""
        if self.ftp is None:
            raise ApiError(409, "ftp_disabled",
                           "the hub's FTP server is off ([files] ftp_enabled = true)")
        host = self.config.ftp_public_host or URL(base_url).host or "127.0.0.1"
        url = URL.build(scheme="ftp", user=f"diag{request_id}", password=token or "***",
                        host=host, port=self.ftp.port, path="/")
        return str(url)


async def add_event(conn: AsyncConnection, request_type: str, request_id: int, state: str,
                    station_status: str | None = None,
                    detail: str | dict[str, Any] | None = None) -> None:
    text = json.dumps(detail) if isinstance(detail, dict) else detail
    await conn.execute(sa.insert(FileRequestEvent).values(
        request_type=request_type, request_id=request_id, at=utcnow(), state=state,
        station_status=station_status, detail=text))


async def expire_requests(conn: AsyncConnection, table: Any, request_type: str,
                          open_states: tuple[str, ...], error: str) -> int:
    """Time out the open requests of ``table`` past their deadline, each with a "timed_out"
    event, in two statements; returns how many."""
    now = utcnow()
    ids = (await conn.execute(sa.update(table).where(
        table.state.in_(open_states), table.deadline < now).values(
        state="timed_out", error=error, updated_at=now, completed_at=now,
    ).returning(table.id))).scalars().all()
    if ids:
        await conn.execute(sa.insert(FileRequestEvent), [
            {"request_type": request_type, "request_id": request_id, "at": now,
             "state": "timed_out", "station_status": None, "detail": None}
            for request_id in ids])
    return len(ids)


FILES = web.AppKey("files", Files)
