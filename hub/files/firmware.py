"""Firmware: images an operator uploads, served to chargers, and update cycles to Installed.

Serving: chargers cannot send bearer tokens, and firmware images are often the vendor's
property, so ``GET /firmware/{name}`` is not public by default. The hub gives each update
request its own download token in the location (``/firmware/<token>/<name>``), valid for that
file, that station's request, until the request's deadline, and for any number of (range)
requests: chargers resume interrupted downloads. An admin bearer token also works, and
``[files] firmware_public = true`` restores the seed Broker's public serving.

Cycle (UpdateFirmware 1.6; SignedUpdateFirmware 1.6 Security Whitepaper; UpdateFirmware 2.0.1)::

    pending -> accepted -> downloading -> downloaded -> installing -> installed
    terminal: installed, failed (DownloadFailed, InstallationFailed, InstallVerificationFailed,
    InvalidSignature, or the command failed), rejected (Rejected, InvalidCertificate,
    RevokedCertificate), cancelled (a later request replaced it: AcceptedCanceled),
    timed_out (not installed before the deadline)

1.6 FirmwareStatusNotification has no requestId: it belongs to the station's latest
UpdateFirmware request. SignedFirmwareStatusNotification and 2.0.1 carry the requestId.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.commands import CallError, CallTimeout, StationOffline
from hub.db.base import utcnow
from hub.errors import ApiError
from hub.events import StationNotified
from hub.files.models import FileRequestEvent, FirmwareRequest, StoredFile
from hub.files.service import Files, add_event, expire_requests
from hub.files.store import AlreadyStored, Sink
from hub.files.tokens import DOWNLOAD_PREFIX, looks_like, new_token, redact, token_hash
from hub.ocpp_server.session import InvalidRequest
from hub.services.station_commands import V201, station_version
from hub.services.timestamps import format_timestamp

REQUEST_TYPE = "firmware"
OPEN = ("pending", "accepted", "downloading", "downloaded", "installing")
RANK = {state: rank for rank, state in enumerate(OPEN)}
STATION_STATES = {
    "DownloadScheduled": "downloading", "Downloading": "downloading",
    "DownloadPaused": "downloading", "Downloaded": "downloaded",
    "SignatureVerified": "downloaded", "InstallScheduled": "downloaded",
    "Installing": "installing", "InstallRebooting": "installing", "Installed": "installed",
    "DownloadFailed": "failed", "InstallationFailed": "failed",
    "InstallVerificationFailed": "failed", "InvalidSignature": "failed",
}
ACCEPTED = ("Accepted", "AcceptedCanceled")
# Downloads are refused once a request has ended without the station wanting the file.
CLOSED_FOR_DOWNLOAD = ("rejected", "cancelled", "timed_out")


@dataclass(frozen=True)
class FirmwareAsk:
    firmware: str | None = None  # the name of an uploaded image, or
    location: str | None = None  # an external location
    retrieve_date: datetime | None = None
    install_date: datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None
    signing_certificate: str | None = None
    signature: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class FirmwareStarted:
    request_id: int
    action: str
    status: str
    location: str  # credentials redacted
    retrieve_date: datetime


async def images(files: Files) -> list[StoredFile]:
    """The firmware images the hub serves, by name."""
    async with files.hub.sessions() as session:
        return list((await session.execute(sa.select(StoredFile).where(
            StoredFile.kind == "firmware").order_by(StoredFile.name))).scalars())


async def firmware_file(files: Files, name: str) -> StoredFile:
    async with files.hub.sessions() as session:
        row = (await session.execute(sa.select(StoredFile).where(
            StoredFile.kind == "firmware", StoredFile.name == name))).scalar_one_or_none()
    if row is None:
        raise ApiError(404, "unknown_firmware", f"no firmware file named {name!r}", name=name)
    return row


async def start(files: Files, station_id: str, ask: FirmwareAsk,
                base_url: str) -> FirmwareStarted:
    hub = files.hub
    version = station_version(hub, station_id)
    signed = bool(ask.signing_certificate or ask.signature)
    if version != V201 and signed and not (ask.signing_certificate and ask.signature):
        raise ApiError(400, "invalid_request",
                       "signing_certificate and signature: SignedUpdateFirmware needs both",
                       field="signature" if ask.signing_certificate else "signing_certificate")
    action = "SignedUpdateFirmware" if version != V201 and signed else "UpdateFirmware"
    stored = await firmware_file(files, ask.firmware) if ask.firmware else None
    token = new_token(DOWNLOAD_PREFIX) if stored else None
    now = utcnow()
    retrieve = ask.retrieve_date or now
    parameters = {k: v for k, v in {
        "retries": ask.retries, "retry_interval": ask.retry_interval,
        "signing_certificate": ask.signing_certificate, "signature": ask.signature,
    }.items() if v is not None}
    if stored:
        location = f"{base_url}/firmware/{token}/{quote(stored.name)}"
    else:
        assert ask.location is not None
        location = ask.location
    shown = redact(location)
    async with hub.sessions() as session, session.begin():
        row = FirmwareRequest(
            station_id=station_id, ocpp_version=version, action=action, signed=signed,
            file_id=stored and stored.id, file_name=stored and stored.name, location=shown,
            token_hash=token and token_hash(token), state="pending", retrieve_date=retrieve,
            install_date=ask.install_date,
            parameters=json.dumps(parameters) if parameters else None, downloads=0,
            created_at=now, updated_at=now,
            deadline=max(now, retrieve) + timedelta(seconds=files.config.firmware_timeout))
        session.add(row)
        await session.flush()
        request_id = row.id
        session.add(FileRequestEvent(
            request_type=REQUEST_TYPE, request_id=request_id, at=now, state="pending",
            detail=json.dumps({"action": action, "location": shown})))

    try:
        if action == "UpdateFirmware" and version != V201:
            # UpdateFirmware.conf (1.6) has no status: a CALLRESULT is the station's acceptance.
            await hub.commands.call(station_id, call16.UpdateFirmware(
                location=location, retrieve_date=format_timestamp(retrieve),
                retries=ask.retries, retry_interval=ask.retry_interval), timeout=ask.timeout)
            status = "Accepted"
        else:
            firmware: dict[str, Any] = {"location": location,
                                        "retrieve_date_time": format_timestamp(retrieve)}
            if ask.install_date:
                firmware["install_date_time"] = format_timestamp(ask.install_date)
            if ask.signing_certificate:
                firmware["signing_certificate"] = ask.signing_certificate
            if ask.signature:
                firmware["signature"] = ask.signature
            module = call201 if version == V201 else call16
            request = (module.UpdateFirmware if version == V201
                       else call16.SignedUpdateFirmware)
            answer = await hub.commands.call(station_id, request(
                request_id=request_id, firmware=firmware, retries=ask.retries,
                retry_interval=ask.retry_interval), timeout=ask.timeout)
            status = answer.status
    except CallTimeout as exc:
        await _write(files, request_id, "pending", detail={"error": str(exc)})
        raise
    except (StationOffline, CallError, InvalidRequest) as exc:
        await _close(files, request_id, "failed", f"{type(exc).__name__}: {exc}")
        raise

    await _answered(files, request_id, station_id, status)
    return FirmwareStarted(request_id, action, status, shown, retrieve)


async def _write(files: Files, request_id: int, state: str, **kw: Any) -> None:
    async def work(conn: AsyncConnection) -> None:
        await add_event(conn, REQUEST_TYPE, request_id, state, **kw)

    await files.hub.committer.run(work)


async def _close(files: Files, request_id: int, state: str, error: str) -> None:
    async def work(conn: AsyncConnection) -> None:
        now = utcnow()
        await conn.execute(sa.update(FirmwareRequest).where(
            FirmwareRequest.id == request_id, FirmwareRequest.state.in_(OPEN)).values(
            state=state, error=error, updated_at=now, completed_at=now))
        await add_event(conn, REQUEST_TYPE, request_id, state, detail={"error": error})

    await files.hub.committer.run(work)


async def _answered(files: Files, request_id: int, station_id: str, status: str) -> None:
    state = "accepted" if status in ACCEPTED else "rejected"

    async def work(conn: AsyncConnection) -> None:
        now = utcnow()
        table = FirmwareRequest
        changed = (await conn.execute(sa.update(table).where(
            table.id == request_id, table.state == "pending").values(
            state=state, updated_at=now, completed_at=None if state == "accepted" else now,
            error=None if state == "accepted" else f"station answered {status}"))).rowcount
        shown = state
        if not changed:  # a notification was faster than the answer
            shown = (await conn.execute(sa.select(table.state).where(
                table.id == request_id))).scalar_one()
        await add_event(conn, REQUEST_TYPE, request_id, shown, detail={"answer": status})
        if status == "AcceptedCanceled":
            ids = (await conn.execute(sa.select(table.id).where(
                table.station_id == station_id, table.id != request_id,
                table.state.in_(OPEN)))).scalars().all()
            for other in ids:
                error = f"replaced by request {request_id}"
                await conn.execute(sa.update(table).where(table.id == other).values(
                    state="cancelled", error=error, updated_at=now, completed_at=now))
                await add_event(conn, REQUEST_TYPE, other, "cancelled", detail={"error": error})

    await files.hub.committer.run(work)


async def on_notification(conn: AsyncConnection, event: StationNotified) -> None:
    if event.kind not in ("FirmwareStatus", "SignedFirmwareStatus"):
        return
    table = FirmwareRequest
    query = sa.select(table.id, table.state).where(table.station_id == event.station_id)
    if event.request_id is not None:
        query = query.where(table.id == event.request_id)
    else:
        action = ("SignedUpdateFirmware" if event.kind == "SignedFirmwareStatus"
                  else "UpdateFirmware")
        query = query.where(table.action == action).order_by(table.id.desc()).limit(1)
    row = (await conn.execute(query)).first()
    if row is None:
        return
    target = STATION_STATES.get(event.status)
    if target is None and row.state not in OPEN:
        return  # Idle after the request ended says nothing about it
    now = utcnow()
    await conn.execute(sa.update(table).where(table.id == row.id).values(
        station_status=event.status[:32], updated_at=now))
    if target is None:  # Idle: nothing in progress
        await add_event(conn, REQUEST_TYPE, row.id, row.state, event.status)
        return
    if target in RANK:
        allowed = [s for s in OPEN if RANK[s] < RANK[target]]
        values: dict[str, Any] = {"state": target}
    else:
        allowed = list(OPEN)
        values = {"state": target, "completed_at": now}
        if target == "failed":
            values["error"] = f"station reported {event.status}"
    changed = (await conn.execute(sa.update(table).where(
        table.id == row.id, table.state.in_(allowed)).values(**values))).rowcount
    await add_event(conn, REQUEST_TYPE, row.id, target if changed else row.state, event.status)


# -- the firmware store (admin) -------------------------------------------------------------


async def ensure_free_name(files: Files, name: str) -> None:
    async with files.hub.sessions() as session:
        taken = (await session.execute(sa.select(StoredFile.id).where(
            StoredFile.kind == "firmware", StoredFile.name == name))).first()
    if taken:
        raise AlreadyStored(f"a firmware file named {name!r} exists; delete it first "
                            "(replacing an image a charger may be downloading is refused)")


async def store_firmware(files: Files, sink: Sink, name: str, original_name: str | None,
                         source: str) -> StoredFile:
    relpath = f"firmware/{name}"
    await sink.finish()
    sink.place(relpath)
    row = StoredFile(kind="firmware", name=name, original_name=(original_name or "")[:255],
                     relpath=relpath, size=sink.size, sha256=sink.sha256, source=source,
                     created_at=utcnow())
    try:
        async with files.hub.sessions() as session, session.begin():
            session.add(row)
    except sa.exc.IntegrityError:
        sink.unplace()
        raise AlreadyStored(f"a firmware file named {name!r} exists") from None
    except BaseException:
        sink.unplace()
        raise
    return row


async def delete_firmware(files: Files, name: str) -> None:
    stored = await firmware_file(files, name)
    async with files.hub.sessions() as session, session.begin():
        busy = (await session.execute(sa.select(FirmwareRequest.id).where(
            FirmwareRequest.file_id == stored.id,
            FirmwareRequest.state.in_(OPEN)))).scalars().all()
        if busy:
            raise ApiError(409, "firmware_in_use",
                           f"firmware {name!r} is used by open update requests",
                           request_ids=list(busy))
        await session.execute(sa.delete(StoredFile).where(StoredFile.id == stored.id))
    files.store.remove(stored.relpath, stored.size)


# -- downloads -------------------------------------------------------------------------------


async def authorize_download(files: Files, token: str, name: str) -> StoredFile:
    """The file a download token opens; ApiError 403 for a token that does not open ``name``."""
    if not looks_like(token, DOWNLOAD_PREFIX):
        raise ApiError(403, "invalid_download_token", "this is not a firmware download token")
    async with files.hub.sessions() as session:
        row = (await session.execute(sa.select(FirmwareRequest).where(
            FirmwareRequest.token_hash == token_hash(token)))).scalar_one_or_none()
        stored = None if row is None or row.file_id is None else await session.get(
            StoredFile, row.file_id)
    if row is None or stored is None:
        raise ApiError(403, "invalid_download_token", "unknown firmware download token")
    if stored.name != name:
        raise ApiError(403, "invalid_download_token", "this token is for another file")
    if row.state in CLOSED_FOR_DOWNLOAD or utcnow() >= row.deadline:
        raise ApiError(403, "download_token_expired",
                       f"request {row.id} is {row.state}; its download token has expired")
    request_id = row.id

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(sa.update(FirmwareRequest).where(
            FirmwareRequest.id == request_id).values(
            downloads=FirmwareRequest.downloads + 1, last_download_at=utcnow()))

    await files.hub.committer.run(work)
    return stored


async def expire(conn: AsyncConnection) -> int:
    """Time out open requests past their deadline (the sweeper calls this)."""
    return await expire_requests(conn, FirmwareRequest, REQUEST_TYPE, OPEN,
                                 "not installed before the deadline")
