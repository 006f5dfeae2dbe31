"""Operator routes for files and requests (admin token), and firmware serving for chargers.

- ``GET /diagnostics`` lists the uploaded diagnostics and logs; ``GET /diagnostics/{name}``
  downloads one; ``DELETE /diagnostics/{name}`` removes it.
- ``PUT /api/firmware/{name}`` (raw body) or ``POST /api/firmware`` (multipart, field ``file``)
  uploads a firmware image; ``GET /api/firmware`` lists them; ``DELETE`` removes one that no
  open update uses.
- ``GET /firmware/<token>/<name>`` is the location chargers are given (public, the token is
  the credential); ``GET /firmware/{name}`` takes ``?token=``, an admin bearer token, or
  nothing when ``[files] firmware_public`` is on. Both answer range requests (FileResponse).
- ``GET /api/diagnostics/requests[/{id}]`` and ``GET /api/firmware/requests[/{id}]``: every
  request's state, file (size, SHA-256) and history.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web

from hub.auth import public
from hub.errors import ApiError, bad_request, error_response
from hub.files import firmware
from hub.files.models import DiagnosticsRequest, FirmwareRequest, StoredFile
from hub.files.multipart import form_parts, part_chunks
from hub.files.names import UnsafeName, safe_file_name
from hub.files.service import FILES, Files
from hub.files.store import CHUNK, StorageRefused
from hub.files.views import (
    DIAGNOSTICS_REQUEST,
    DIAGNOSTICS_STATES,
    FILE,
    FIRMWARE_REQUEST,
    FIRMWARE_STATES,
    diagnostics_view,
    events,
    file_view,
    files_by_id,
    firmware_view,
)
from hub.management.common import int_field
from hub.management.schemas import (
    FILE_BODY,
    INTEGER,
    NOT_FOUND,
    STATION_ID,
    STRING,
    array,
    enum,
    error,
    obj,
)
from hub.openapi import operation, path, query

TAGS = ["diagnostics and firmware"]
NAME_PATH = path("name", {"type": "string", "minLength": 1, "maxLength": 200})
ID_PATH = path("id", {"type": "integer", "minimum": 1})
LIST_QUERIES = [query("station_id", STATION_ID),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                      description="default 100")]
BINARY = {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                              "format": "binary"}}}}
STORE_REFUSALS = {"409": error("a file of that name exists"),
                  "413": error("larger than [files] max_firmware_bytes"),
                  "507": error("the storage quota is used up")}


def _files(request: web.Request) -> Files:
    return request.app[FILES]


def _limit(request: web.Request) -> int:
    value = int_field(dict(request.query), "limit", default=100, minimum=1, maximum=1000)
    assert value is not None
    return value


def _station_filter(request: web.Request) -> str | None:
    station_id = request.query.get("station_id")
    if station_id and "\x00" in station_id:
        raise bad_request("station_id", "must not contain NUL characters")
    return station_id or None


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    try:
        if safe_file_name(name, "") != name:
            raise UnsafeName("no such file name can be stored")
    except UnsafeName:
        raise ApiError(404, "not_found", "no such file") from None
    return name


async def _stored(files: Files, kind: str, name: str) -> StoredFile:
    async with files.hub.sessions() as session:
        row = (await session.execute(sa.select(StoredFile).where(
            StoredFile.kind == kind, StoredFile.name == name))).scalar_one_or_none()
    if row is None:
        raise ApiError(404, "not_found", f"no {kind} file named {name!r}", name=name)
    return row


def _serve(files: Files, row: StoredFile, attachment: bool) -> web.FileResponse:
    response = web.FileResponse(files.store.path(row.relpath), chunk_size=CHUNK)
    response.content_type = "application/octet-stream"
    if attachment:
        response.headers["Content-Disposition"] = f'attachment; filename="{row.name}"'
    response.headers["X-Content-SHA256"] = row.sha256
    return response


# -- diagnostics files -----------------------------------------------------------------------


@operation("Uploaded diagnostics and log files", tags=TAGS, parameters=LIST_QUERIES,
           response=obj(["files", "count"], files=array(FILE), count=INTEGER))
async def list_diagnostics(request: web.Request) -> web.Response:
    files = _files(request)
    statement = sa.select(StoredFile).where(StoredFile.kind == "diagnostics")
    station_id = _station_filter(request)
    if station_id:
        statement = statement.where(StoredFile.station_id == station_id)
    async with files.hub.sessions() as session:
        rows = (await session.execute(statement.order_by(StoredFile.id.desc()).limit(
            _limit(request)))).scalars().all()
    return web.json_response({"files": [file_view(r) for r in rows], "count": len(rows)})


@operation("Download an uploaded diagnostics file", tags=TAGS, parameters=[NAME_PATH],
           responses={"200": {"description": "the file", **BINARY}, **NOT_FOUND})
async def download_diagnostics(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    return _serve(files, await _stored(files, "diagnostics", _name(request)), attachment=True)


@operation("Delete an uploaded diagnostics file", tags=TAGS, parameters=[NAME_PATH],
           response=obj(["deleted"], deleted=FILE), responses=NOT_FOUND)
async def delete_diagnostics(request: web.Request) -> web.Response:
    files = _files(request)
    row = await _stored(files, "diagnostics", _name(request))
    async with files.hub.sessions() as session, session.begin():
        await session.execute(sa.delete(StoredFile).where(StoredFile.id == row.id))
    files.store.remove(row.relpath, row.size)
    return web.json_response({"deleted": file_view(row)})


# -- firmware files --------------------------------------------------------------------------


async def _store_firmware(files: Files, name: str | None, original: str | None,
                          chunks: Any, length: int | None, source: str) -> web.Response:
    try:
        clean = safe_file_name(name, "")
    except UnsafeName as exc:
        raise ApiError(400, "invalid_file_name", str(exc), field="name") from None
    if not clean:
        raise bad_request("name", "a file name is required")
    sink = files.store.sink(files.config.max_firmware_bytes)
    try:
        sink.check_announced(length)
        await firmware.ensure_free_name(files, clean)
        async for chunk in chunks:
            sink.write(chunk)
        row = await firmware.store_firmware(files, sink, clean, original, source)
    except StorageRefused as exc:
        raise ApiError(exc.status, exc.error, str(exc)) from None
    finally:
        sink.discard()
    return web.json_response(file_view(row), status=201)


@operation("Upload a firmware image (raw body); names are sanitised, never overwritten",
           tags=TAGS, parameters=[NAME_PATH], response=FILE, status=201,
           body=FILE_BODY, body_type="application/octet-stream", responses=STORE_REFUSALS)
async def put_firmware(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    return await _store_firmware(_files(request), name, name,
                                 request.content.iter_chunked(CHUNK), request.content_length,
                                 "admin")


@operation("Upload a firmware image (multipart, field file; optional field name)", tags=TAGS,
           response=FILE, status=201, body_type="multipart/form-data",
           body=obj(["file"], file=FILE_BODY, name={"type": "string", "maxLength": 200}),
           responses={**STORE_REFUSALS, "415": error("not a multipart body")})
async def post_firmware(request: web.Request) -> web.Response:
    name = None
    async for part in form_parts(request, "the image in field file"):
        if part.name == "name":
            name = (await part.read_chunk(512)).decode("utf-8", "replace").strip()
            continue
        if part.name in ("file", "firmware"):
            return await _store_firmware(_files(request), name or part.filename,
                                         part.filename, part_chunks(part), None, "admin")
    raise bad_request("file", "a file is required")


@operation("Firmware images the hub serves", tags=TAGS,
           response=obj(["files", "count"], files=array(FILE), count=INTEGER))
async def list_firmware(request: web.Request) -> web.Response:
    rows = await firmware.images(_files(request))
    return web.json_response({"files": [file_view(r) for r in rows], "count": len(rows)})


@operation("Delete a firmware image (refused while an open update uses it)", tags=TAGS,
           parameters=[NAME_PATH], response=obj(["deleted"], deleted=STRING),
           responses={**NOT_FOUND, "409": error("an open update request uses it")})
async def delete_firmware(request: web.Request) -> web.Response:
    files = _files(request)
    name = _name(request)
    try:
        await firmware.delete_firmware(files, name)
    except ApiError as exc:
        if exc.error == "unknown_firmware":
            raise ApiError(404, "not_found", exc.detail, name=name) from None
        raise
    return web.json_response({"deleted": name})


SERVE_REFUSALS = {"401": error("no token (and firmware is not public)"),
                  "403": error("a token that does not open this file, or expired"),
                  **NOT_FOUND}


@public
@operation("Firmware download for chargers: the location the hub hands out", tags=TAGS,
           parameters=[path("token", {"type": "string"}), NAME_PATH],
           responses={"200": {"description": "the image (range requests supported)",
                              **BINARY}, "206": {"description": "a range", **BINARY},
                      **SERVE_REFUSALS})
async def serve_firmware_token(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    stored = await firmware.authorize_download(files, request.match_info["token"],
                                               request.match_info["name"])
    return _serve(files, stored, attachment=False)


@public
@operation("Firmware download: ?token=, an admin bearer token, or public if configured",
           tags=TAGS, parameters=[NAME_PATH, query("token", {"type": "string"})],
           responses={"200": {"description": "the image (range requests supported)",
                              **BINARY}, "206": {"description": "a range", **BINARY},
                      **SERVE_REFUSALS})
async def serve_firmware(request: web.Request) -> web.StreamResponse:
    files = _files(request)
    name = request.match_info["name"]
    token = request.query.get("token")
    if token:
        stored = await firmware.authorize_download(files, token, name)
    elif files.config.firmware_public or await _is_admin(files, request):
        stored = await _stored(files, "firmware", _name(request))
    else:
        response = error_response(401, "unauthorized",
                                  "firmware downloads need the token from the location "
                                  "(or an admin bearer token)")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return _serve(files, stored, attachment=False)


async def _is_admin(files: Files, request: web.Request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or files.verifier is None:
        return False
    info = await files.verifier.verify(token.strip())
    return info is not None and info.is_admin


# -- requests --------------------------------------------------------------------------------


def _state_query(states: tuple[str, ...]) -> dict[str, Any]:
    return query("state", enum(*states))


@operation("Diagnostics and log requests, newest first", tags=TAGS,
           parameters=[*LIST_QUERIES, _state_query(DIAGNOSTICS_STATES)],
           response=obj(["requests", "count"], requests=array(DIAGNOSTICS_REQUEST),
                        count=INTEGER))
async def list_diagnostics_requests(request: web.Request) -> web.Response:
    return await _list(request, DiagnosticsRequest, diagnostics_view, DIAGNOSTICS_STATES)


@operation("One diagnostics or log request: state, file (size, SHA-256) and history",
           tags=TAGS, parameters=[ID_PATH], response=DIAGNOSTICS_REQUEST,
           responses=NOT_FOUND)
async def get_diagnostics_request(request: web.Request) -> web.Response:
    return await _one(request, DiagnosticsRequest, diagnostics_view, "diagnostics")


@operation("Firmware update requests, newest first", tags=TAGS,
           parameters=[*LIST_QUERIES, _state_query(FIRMWARE_STATES)],
           response=obj(["requests", "count"], requests=array(FIRMWARE_REQUEST),
                        count=INTEGER))
async def list_firmware_requests(request: web.Request) -> web.Response:
    return await _list(request, FirmwareRequest, firmware_view, FIRMWARE_STATES)


@operation("One firmware update request: state, file and history", tags=TAGS,
           parameters=[ID_PATH], response=FIRMWARE_REQUEST, responses=NOT_FOUND)
async def get_firmware_request(request: web.Request) -> web.Response:
    return await _one(request, FirmwareRequest, firmware_view, "firmware")


async def _list(request: web.Request, model: Any, view: Any,
                states: tuple[str, ...]) -> web.Response:
    files = _files(request)
    statement = sa.select(model)
    station_id = _station_filter(request)
    if station_id:
        statement = statement.where(model.station_id == station_id)
    state = request.query.get("state")
    if state is not None:
        if state not in states:
            raise bad_request("state", f"must be one of {', '.join(states)}")
        statement = statement.where(model.state == state)
    async with files.hub.sessions() as session:
        rows = (await session.execute(statement.order_by(model.id.desc()).limit(
            _limit(request)))).scalars().all()
        stored = await files_by_id(session, [row.file_id for row in rows])
    return web.json_response({"requests": [view(r, stored.get(r.file_id)) for r in rows],
                              "count": len(rows)})


async def _one(request: web.Request, model: Any, view: Any, kind: str) -> web.Response:
    files = _files(request)
    raw = request.match_info["id"]
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise ApiError(404, "not_found", f"no {kind} request {raw}")
    async with files.hub.sessions() as session:
        row = await session.get(model, int(raw))
        if row is None:
            raise ApiError(404, "not_found", f"no {kind} request {raw}")
        stored = row.file_id and await session.get(StoredFile, row.file_id)
        history = await events(session, kind, row.id)
    return web.json_response({**view(row, stored or None), "events": history})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/diagnostics", list_diagnostics)
    r.add_get("/diagnostics/{name}", download_diagnostics)
    r.add_delete("/diagnostics/{name}", delete_diagnostics)
    r.add_get("/api/diagnostics/requests", list_diagnostics_requests)
    r.add_get("/api/diagnostics/requests/{id}", get_diagnostics_request)
    r.add_get("/api/firmware", list_firmware)
    r.add_post("/api/firmware", post_firmware)
    r.add_put("/api/firmware/{name}", put_firmware)
    r.add_delete("/api/firmware/{name}", delete_firmware)
    r.add_get("/api/firmware/requests", list_firmware_requests)
    r.add_get("/api/firmware/requests/{id}", get_firmware_request)
    r.add_get("/firmware/{name}", serve_firmware)
    r.add_get("/firmware/{token}/{name}", serve_firmware_token)
