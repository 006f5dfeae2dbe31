"""Diagnostics and log requests, from the command to the file's arrival.

A request is created before the command goes out (a fast charger may upload before its answer
reaches the hub), then follows the station's answer, its DiagnosticsStatusNotification (1.6,
no requestId: the station's latest GetDiagnostics request) or LogStatusNotification (requestId
= this request's id), and the upload itself:

    pending -> accepted -> uploading -> uploaded -> complete
    terminal: complete, no_file (GetDiagnostics answered without a file name), rejected
    (GetLog refused), failed (command failed, or the station reported a failure),
    cancelled (2.0.1 AcceptedCanceled), timed_out (no file before the deadline)

With a hub location the request is complete when the file has arrived (its size and SHA-256
are then known); with an external location, when the station reports Uploaded. A file that
arrives after the station reported a failure still completes the request: the file wins.

OCPP 2.0.1 stations have no GetDiagnostics: the same route sends GetLog (DiagnosticsLog).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.commands import CallError, CallTimeout, StationOffline
from hub.db.base import utcnow
from hub.errors import ApiError
from hub.events import StationNotified
from hub.files.models import DiagnosticsRequest, FileRequestEvent, StoredFile
from hub.files.names import safe_file_name, station_dir
from hub.files.service import Files, add_event, expire_requests
from hub.files.store import Sink
from hub.files.tokens import UPLOAD_PREFIX, looks_like, new_token, redact, token_hash
from hub.ocpp_server.session import InvalidRequest
from hub.services.station_commands import V201, station_version
from hub.services.timestamps import format_timestamp

REQUEST_TYPE = "diagnostics"
OPEN = ("pending", "accepted", "uploading", "uploaded")
RANK = {state: rank for rank, state in enumerate(OPEN)}
# States in which the upload token is no longer honoured.
CLOSED_FOR_UPLOAD = ("no_file", "rejected", "cancelled", "timed_out")
STATION_STATES = {
    "Uploading": "uploading", "Uploaded": "uploaded",
    "UploadFailed": "failed", "UploadFailure": "failed", "BadMessage": "failed",
    "NotSupportedOperation": "failed", "PermissionDenied": "failed",
    "AcceptedCanceled": "cancelled",
}
ACCEPTED = ("Accepted", "AcceptedCanceled")


@dataclass(frozen=True)
class DiagnosticsAsk:
    location: str | None = None  # an external location; None: the hub receives the file
    transport: str | None = None  # http or ftp for a hub location (default: configured)
    use_get_log: bool = False  # GetLog also for 1.6 stations (Security Whitepaper)
    log_type: str = "DiagnosticsLog"
    start_time: datetime | None = None
    stop_time: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class DiagnosticsStarted:
    request_id: int
    action: str
    status: str  # queued, no_diagnostics_available, rejected
    file_name: str | None
    location: str  # as sent, credentials redacted
    transport: str
    station_status: str | None = None  # GetLog's answer


class UploadDenied(ApiError):
    """An upload the hub refuses before writing anything (HTTP status, FTP 530/550)."""


async def start(files: Files, station_id: str, ask: DiagnosticsAsk,
                base_url: str) -> DiagnosticsStarted:
    hub = files.hub
    version = station_version(hub, station_id)
    action = "GetLog" if version == V201 or ask.use_get_log else "GetDiagnostics"
    transport = "external" if ask.location else (ask.transport or files.config.default_transport)
    if transport == "ftp" and files.ftp is None:
        raise ApiError(409, "ftp_disabled",
                       "the hub's FTP server is off ([files] ftp_enabled = true)")
    token = None if transport == "external" else new_token(UPLOAD_PREFIX)
    now = utcnow()
    parameters = {k: v for k, v in {
        "start_time": ask.start_time and format_timestamp(ask.start_time),
        "stop_time": ask.stop_time and format_timestamp(ask.stop_time),
        "retries": ask.retries, "retry_interval": ask.retry_interval}.items() if v is not None}
    async with hub.sessions() as session, session.begin():
        row = DiagnosticsRequest(
            station_id=station_id, ocpp_version=version, action=action,
            log_type=ask.log_type if action == "GetLog" else None, transport=transport,
            location="", token_hash=token and token_hash(token), state="pending",
            parameters=json.dumps(parameters) if parameters else None, created_at=now,
            updated_at=now, deadline=now + timedelta(seconds=files.config.diagnostics_timeout))
        session.add(row)
        await session.flush()
        request_id = row.id
        location, shown = _locations(files, request_id, transport, token, base_url, ask)
        row.location = shown
        session.add(FileRequestEvent(
            request_type=REQUEST_TYPE, request_id=request_id, at=now, state="pending",
            detail=json.dumps({"action": action, "location": shown})))

    try:
        if action == "GetDiagnostics":
            answer = await hub.commands.call(station_id, call16.GetDiagnostics(
                location=location, retries=ask.retries, retry_interval=ask.retry_interval,
                start_time=ask.start_time and format_timestamp(ask.start_time),
                stop_time=ask.stop_time and format_timestamp(ask.stop_time)),
                timeout=ask.timeout)
            file_name, station_status = answer.file_name, None
            # No fileName: the station has no diagnostics to upload (OCPP 1.6).
            state = "accepted" if file_name else "no_file"
        else:
            module = call201 if version == V201 else call16
            log = {"remote_location": location}
            if ask.start_time:
                log["oldest_timestamp"] = format_timestamp(ask.start_time)
            if ask.stop_time:
                log["latest_timestamp"] = format_timestamp(ask.stop_time)
            answer = await hub.commands.call(station_id, module.GetLog(
                log=log, log_type=ask.log_type, request_id=request_id, retries=ask.retries,
                retry_interval=ask.retry_interval), timeout=ask.timeout)
            file_name, station_status = answer.filename, answer.status
            state = "accepted" if answer.status in ACCEPTED else "rejected"
    except CallTimeout as exc:
        # The station may still act on it: the request stays open until its deadline.
        await _write(files, request_id, "pending", detail={"error": str(exc)})
        raise
    except (StationOffline, CallError, InvalidRequest) as exc:
        await _fail(files, request_id, f"{type(exc).__name__}: {exc}")
        raise

    await _answered(files, request_id, station_id, state, file_name, station_status)
    status = {"accepted": "queued", "no_file": "no_diagnostics_available"}.get(state, state)
    return DiagnosticsStarted(request_id, action, status, file_name, shown, transport,
                              station_status)


def _locations(files: Files, request_id: int, transport: str, token: str | None,
               base_url: str, ask: DiagnosticsAsk) -> tuple[str, str]:
    """(the location sent to the station, the same with its credentials redacted)."""
    if transport == "external":
        assert ask.location is not None
        location = ask.location
    elif transport == "ftp":
        location = files.ftp_location(request_id, token, base_url)
    else:
        # The token is a path segment: PUT <location>/<file>, PUT <location> and multipart POST
        # <location> all carry it, whichever way a charger builds its upload URL.
        location = f"{base_url}/upload_diagnostics/{token}"
    return location, redact(location)


async def _write(files: Files, request_id: int, state: str, **kw: Any) -> None:
    async def work(conn: AsyncConnection) -> None:
        await add_event(conn, REQUEST_TYPE, request_id, state, **kw)

    await files.hub.committer.run(work)


async def _fail(files: Files, request_id: int, error: str) -> None:
    async def work(conn: AsyncConnection) -> None:
        now = utcnow()
        await conn.execute(sa.update(DiagnosticsRequest).where(
            DiagnosticsRequest.id == request_id, DiagnosticsRequest.state.in_(OPEN)).values(
            state="failed", error=error, updated_at=now, completed_at=now))
        await add_event(conn, REQUEST_TYPE, request_id, "failed", detail={"error": error})

    await files.hub.committer.run(work)


async def _answered(files: Files, request_id: int, station_id: str, state: str,
                    file_name: str | None, station_status: str | None) -> None:
    async def work(conn: AsyncConnection) -> None:
        now = utcnow()
        table = DiagnosticsRequest
        await conn.execute(sa.update(table).where(table.id == request_id).values(
            file_name=file_name and file_name[:255], updated_at=now))
        terminal = state not in OPEN
        # Only forward: an upload or notification may already have moved the request on.
        changed = (await conn.execute(sa.update(table).where(
            table.id == request_id, table.state == "pending").values(
            state=state, updated_at=now, completed_at=now if terminal else None,
            error=f"station answered {station_status}" if state == "rejected" else None
        ))).rowcount
        shown = state
        if not changed:  # the upload or a notification was faster than the answer
            shown = (await conn.execute(sa.select(table.state).where(
                table.id == request_id))).scalar_one()
        await add_event(conn, REQUEST_TYPE, request_id, shown, station_status,
                        {"answer": station_status or "fileName", "file_name": file_name})
        if station_status == "AcceptedCanceled":
            # The station dropped its ongoing log upload for this one.
            await _close_others(conn, station_id, request_id, "cancelled",
                                f"replaced by request {request_id}")

    await files.hub.committer.run(work)


async def _close_others(conn: AsyncConnection, station_id: str, request_id: int, state: str,
                        error: str) -> None:
    table = DiagnosticsRequest
    ids = (await conn.execute(sa.select(table.id).where(
        table.station_id == station_id, table.action == "GetLog", table.id != request_id,
        table.state.in_(OPEN)))).scalars().all()
    if ids:
        now = utcnow()
        await conn.execute(sa.update(table).where(table.id.in_(ids)).values(
            state=state, error=error, updated_at=now, completed_at=now))
        for other in ids:
            await add_event(conn, REQUEST_TYPE, other, state, detail={"error": error})


# -- station notifications (inside the notification's transaction) ---------------------------


async def on_notification(conn: AsyncConnection, event: StationNotified) -> None:
    if event.kind not in ("DiagnosticsStatus", "LogStatus"):
        return
    table = DiagnosticsRequest
    query = sa.select(table.id, table.state, table.transport).where(
        table.station_id == event.station_id)
    if event.kind == "LogStatus" and event.request_id is not None:
        query = query.where(table.id == event.request_id)
    else:
        action = "GetDiagnostics" if event.kind == "DiagnosticsStatus" else "GetLog"
        query = query.where(table.action == action).order_by(table.id.desc()).limit(1)
    row = (await conn.execute(query)).first()
    if row is None:
        return
    request_id, _, transport = row
    target = STATION_STATES.get(event.status)
    if target is None and row.state not in OPEN:
        return  # Idle after the request ended says nothing about it
    now = utcnow()
    await conn.execute(sa.update(table).where(table.id == request_id).values(
        station_status=event.status[:32], updated_at=now))
    if target == "uploaded" and transport == "external":
        target = "complete"  # nothing arrives here: the station's word is all there is
    if target is None:
        await add_event(conn, REQUEST_TYPE, request_id, row.state, event.status)
        return
    if target in RANK:
        allowed = [s for s in OPEN if RANK[s] < RANK[target]]
        values: dict[str, Any] = {"state": target}
    else:
        allowed = list(OPEN)
        values = {"state": target, "completed_at": now}
        if target != "complete":
            values["error"] = f"station reported {event.status}"
    changed = (await conn.execute(sa.update(table).where(
        table.id == request_id, table.state.in_(allowed)).values(**values))).rowcount
    await add_event(conn, REQUEST_TYPE, request_id, target if changed else row.state,
                    event.status)


# -- uploads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    request_id: int
    station_id: str
    announced_name: str | None


async def check_token(files: Files, token: str | None) -> DiagnosticsRequest:
    """The request an upload token belongs to; UploadDenied if the token is missing, unknown
    (forged, or issued for something else), used or expired."""
    if not token:
        raise UploadDenied(401, "upload_token_required",
                           "uploads need the token from the location the hub gave the station")
    if not looks_like(token, UPLOAD_PREFIX):
        raise UploadDenied(403, "invalid_upload_token", "this is not an upload token")
    async with files.hub.sessions() as session:
        row = (await session.execute(sa.select(DiagnosticsRequest).where(
            DiagnosticsRequest.token_hash == token_hash(token)))).scalar_one_or_none()
    if row is None:
        raise UploadDenied(403, "invalid_upload_token", "unknown upload token")
    if row.token_used_at is not None:
        raise UploadDenied(403, "upload_token_used",
                           "this upload token was used already (tokens are one-time)")
    if row.state in CLOSED_FOR_UPLOAD or utcnow() >= row.deadline:
        raise UploadDenied(403, "upload_token_expired",
                           f"request {row.id} is {row.state}; its upload token has expired")
    return row


async def claim_upload(files: Files, token: str | None) -> Claim:
    """check_token, and reserve the request for this upload (one upload per token at a time)."""
    row = await check_token(files, token)
    if row.id in files.uploading:
        raise UploadDenied(409, "upload_in_progress",
                           "an upload with this token is already in progress")
    files.uploading.add(row.id)
    return Claim(row.id, row.station_id, row.file_name)


def release(files: Files, claim: Claim) -> None:
    files.uploading.discard(claim.request_id)


def upload_name(claim: Claim, given: str | None) -> str:
    """The stored name: the uploader's (validated), else the name the station announced."""
    fallback = "diagnostics.bin"
    if claim.announced_name:
        try:
            fallback = safe_file_name(claim.announced_name, fallback)
        except ValueError:
            pass
    return safe_file_name(given, fallback)


async def store_upload(files: Files, claim: Claim, sink: Sink, name: str,
                       original_name: str | None, source: str) -> dict[str, Any]:
    """Keep a finished upload and complete its request, atomically with the token's use."""
    relpath = f"diagnostics/{station_dir(claim.station_id)}/{claim.request_id}/{name}"
    public_name = f"{claim.request_id}-{name}"
    await sink.finish()
    sink.place(relpath)
    size, sha256 = sink.size, sink.sha256

    async def work(conn: AsyncConnection) -> int:
        now = utcnow()
        file_id = (await conn.execute(sa.insert(StoredFile).values(
            kind="diagnostics", name=public_name, original_name=(original_name or "")[:255],
            relpath=relpath, station_id=claim.station_id, request_id=claim.request_id,
            size=size, sha256=sha256, source=source, created_at=now
        ).returning(StoredFile.id))).scalar_one()
        used = (await conn.execute(sa.update(DiagnosticsRequest).where(
            DiagnosticsRequest.id == claim.request_id,
            DiagnosticsRequest.token_used_at.is_(None)).values(
            token_used_at=now, file_id=file_id, state="complete", error=None,
            updated_at=now, completed_at=now))).rowcount
        if used != 1:
            raise UploadDenied(403, "upload_token_used", "this upload token was used already")
        await add_event(conn, REQUEST_TYPE, claim.request_id, "complete", detail={
            "file": public_name, "size": size, "sha256": sha256, "via": source})
        return file_id

    commit = asyncio.ensure_future(files.hub.committer.run(work))
    try:
        await asyncio.shield(commit)
    except asyncio.CancelledError:
        # The commit goes on without us; the file stays exactly when the row is written.
        commit.add_done_callback(lambda done: _unplace_unless_committed(done, sink))
        raise
    except Exception:
        sink.unplace()
        raise
    return {"name": public_name, "size": size, "sha256": sha256,
            "request_id": claim.request_id, "station_id": claim.station_id}


def _unplace_unless_committed(commit: asyncio.Future[Any], sink: Sink) -> None:
    if commit.cancelled() or commit.exception() is not None:
        sink.unplace()


# -- deadlines -------------------------------------------------------------------------------


async def expire(conn: AsyncConnection) -> int:
    """Time out open requests past their deadline (the sweeper calls this)."""
    return await expire_requests(conn, DiagnosticsRequest, REQUEST_TYPE, OPEN,
                                 "no file before the deadline")
