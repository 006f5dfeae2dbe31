"""JSON views of stored files and requests, and their schemas (the OpenAPI document and the
tests validate answers against these)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.files.models import DiagnosticsRequest, FileRequestEvent, FirmwareRequest, StoredFile
from hub.management.schemas import (
    ANY_OBJECT,
    INTEGER,
    NULLABLE_STRING,
    STRING,
    TIMESTAMP,
    array,
    enum,
    obj,
)
from hub.services.timestamps import format_timestamp

DIAGNOSTICS_STATES = ("pending", "accepted", "uploading", "uploaded", "complete", "no_file",
                      "rejected", "failed", "cancelled", "timed_out")
FIRMWARE_STATES = ("pending", "accepted", "downloading", "downloaded", "installing",
                   "installed", "rejected", "failed", "cancelled", "timed_out")

FILE = obj(["name", "size", "sha256", "created_at"], name=STRING, kind=STRING, size=INTEGER,
           sha256=STRING, station_id=NULLABLE_STRING,
           request_id={"type": ["integer", "null"]}, original_name=NULLABLE_STRING,
           source=STRING, created_at=TIMESTAMP, url=STRING)
NULLABLE_FILE = {"anyOf": [FILE, {"type": "null"}]}
EVENT = obj(["at", "state"], at=TIMESTAMP, state=STRING, station_status=NULLABLE_STRING,
            detail={"type": ["object", "string", "null"]})
_COMMON = dict(id=INTEGER, station_id=STRING, ocpp_version=STRING, action=STRING,
               location=STRING, station_status=NULLABLE_STRING, error=NULLABLE_STRING,
               parameters=ANY_OBJECT, created_at=TIMESTAMP, updated_at=TIMESTAMP,
               deadline=TIMESTAMP, completed_at=TIMESTAMP, events=array(EVENT))
DIAGNOSTICS_REQUEST = obj(["id", "station_id", "state", "action", "transport"],
                          state=enum(*DIAGNOSTICS_STATES),
                          transport=enum("http", "ftp", "external"),
                          log_type=NULLABLE_STRING, file_name=NULLABLE_STRING,
                          file=NULLABLE_FILE, **_COMMON)
FIRMWARE_REQUEST = obj(["id", "station_id", "state", "action"],
                       state=enum(*FIRMWARE_STATES), signed={"type": "boolean"},
                       file=NULLABLE_FILE, firmware=NULLABLE_STRING,
                       retrieve_date=TIMESTAMP, install_date=TIMESTAMP, downloads=INTEGER,
                       last_download_at=TIMESTAMP, **_COMMON)


def iso(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def file_view(row: StoredFile) -> dict[str, Any]:
    base = "/diagnostics/" if row.kind == "diagnostics" else "/firmware/"
    return {"name": row.name, "kind": row.kind, "size": row.size, "sha256": row.sha256,
            "station_id": row.station_id, "request_id": row.request_id,
            "original_name": row.original_name or None, "source": row.source,
            "created_at": iso(row.created_at), "url": base + quote(row.name)}


def _common(row: DiagnosticsRequest | FirmwareRequest) -> dict[str, Any]:
    return {"id": row.id, "station_id": row.station_id, "ocpp_version": row.ocpp_version,
            "action": row.action, "state": row.state, "location": row.location,
            "station_status": row.station_status, "error": row.error,
            "parameters": json.loads(row.parameters) if row.parameters else {},
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
            "deadline": iso(row.deadline), "completed_at": iso(row.completed_at)}


def diagnostics_view(row: DiagnosticsRequest, stored: StoredFile | None) -> dict[str, Any]:
    return {**_common(row), "log_type": row.log_type, "transport": row.transport,
            "file_name": row.file_name, "file": stored and file_view(stored)}


def firmware_view(row: FirmwareRequest, stored: StoredFile | None) -> dict[str, Any]:
    return {**_common(row), "signed": row.signed, "firmware": row.file_name,
            "file": stored and file_view(stored), "retrieve_date": iso(row.retrieve_date),
            "install_date": iso(row.install_date), "downloads": row.downloads,
            "last_download_at": iso(row.last_download_at)}


async def files_by_id(session: AsyncSession, ids: list[int | None]) -> dict[int, StoredFile]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = (await session.execute(sa.select(StoredFile).where(
        StoredFile.id.in_(wanted)))).scalars().all()
    return {row.id: row for row in rows}


async def events(session: AsyncSession, request_type: str,
                 request_id: int) -> list[dict[str, Any]]:
    rows = (await session.execute(sa.select(FileRequestEvent).where(
        FileRequestEvent.request_type == request_type,
        FileRequestEvent.request_id == request_id).order_by(FileRequestEvent.id))).scalars()
    views = []
    for row in rows:
        detail: Any = row.detail
        if detail:
            try:
                detail = json.loads(detail)
            except ValueError:
                pass
        views.append({"at": iso(row.at), "state": row.state,
                      "station_status": row.station_status, "detail": detail})
    return views
