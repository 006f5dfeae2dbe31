"""Diagnostics uploads over HTTP, as the seed's Diagnostic Server takes them.

These routes are public in hub.auth terms (chargers cannot send bearer tokens) and authorised
by the one-time token in the location the hub gave the station. Accepted forms:

- ``PUT /upload_diagnostics/<token>/<file>``: the location plus the station's file name;
- ``PUT /upload_diagnostics/<token>`` or ``.../<token><file>`` (no slash): chargers that PUT
  to the location itself or append their name without a separator;
- ``PUT /upload_diagnostics/<file>?token=<token>``: the seed's route with the token as query;
- ``POST /upload_diagnostics/<token>`` and ``POST /upload_diagnostics?token=<token>``:
  multipart, the file in field ``diag`` (``file`` is accepted too), the token may also be a
  form field ``token`` before the file; ``GET /upload_diagnostics`` shows a minimal form.

A request with ``Expect: 100-continue`` is checked (token, announced size) before the body is
sent, so a charger does not push megabytes to be refused. The answer to an accepted upload is
200 with the stored name, size and SHA-256.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from urllib.parse import unquote

from aiohttp import web

from hub.auth import public
from hub.errors import ApiError, bad_request, error_response
from hub.files import diagnostics
from hub.files.multipart import form_parts, part_chunks
from hub.files.names import UnsafeName, safe_file_name
from hub.files.service import FILES, Files
from hub.files.store import CHUNK, Sink, StorageRefused
from hub.files.tokens import UPLOAD_PREFIX, split_token
from hub.management.schemas import FILE_BODY, INTEGER, STRING, error, obj
from hub.openapi import operation, query

TAGS = ["diagnostics uploads (chargers)"]
STORED = obj(["name", "size", "sha256", "request_id"], name=STRING, size=INTEGER,
             sha256=STRING, request_id=INTEGER, station_id=STRING)
REFUSALS = {
    "401": error("no upload token"),
    "403": error("unknown, foreign, used or expired upload token"),
    "409": error("an upload with this token is already in progress"),
    "413": error("larger than [files] max_upload_bytes"),
    "507": error("the storage quota is used up"),
}
MULTIPART_SLACK = 64 * 1024
TOKEN_QUERY = query("token", STRING, description="the upload token (else in the path)")


def _files(request: web.Request) -> Files:
    return request.app[FILES]


def _checked_name(given: str | None) -> str | None:
    """Refuse traversal before anything else happens; None when no name was given."""
    if not given:
        return None
    try:
        safe_file_name(given, "x")
    except UnsafeName as exc:
        raise ApiError(400, "invalid_file_name", str(exc), field="filename") from None
    return given


def _put_target(request: web.Request) -> tuple[str | None, str | None]:
    """(token, file name) of any PUT form."""
    token = request.query.get("token")
    if "token" in request.match_info:
        return request.match_info["token"], request.match_info.get("name")
    name = request.match_info.get("name")
    if token is None and name is not None:
        split = split_token(name, UPLOAD_PREFIX)
        if split is not None:
            return split[0], split[1] or None
    return token, name


async def _receive(files: Files, claim: diagnostics.Claim, given: str | None,
                   length: int | None, chunks: AsyncIterator[bytes],
                   source: str) -> dict[str, object]:
    name = diagnostics.upload_name(claim, given)
    sink: Sink = files.store.sink(files.config.max_upload_bytes)
    try:
        sink.check_announced(length)
        async for chunk in chunks:
            sink.write(chunk)
        return await diagnostics.store_upload(files, claim, sink, name, given, source)
    except StorageRefused as exc:
        raise ApiError(exc.status, exc.error, str(exc)) from None
    finally:
        sink.discard()


@public
@operation("Upload diagnostics, raw body (the token from the location, in path or query)",
           tags=TAGS, parameters=[TOKEN_QUERY], response=STORED, responses=REFUSALS,
           body=FILE_BODY, body_type="application/octet-stream")
async def put_upload(request: web.Request) -> web.Response:
    files = _files(request)
    token, given = _put_target(request)
    given = _checked_name(given)
    claim = await diagnostics.claim_upload(files, token)
    try:
        result = await _receive(files, claim, given, request.content_length,
                                request.content.iter_chunked(CHUNK), "http-put")
    finally:
        diagnostics.release(files, claim)
    return web.json_response(result)


async def expect_upload(request: web.Request) -> web.StreamResponse | None:
    """Refuse before the body is sent: bad token, bad name or too large."""
    files = _files(request)
    try:
        if request.method == "PUT":
            token, given = _put_target(request)
            _checked_name(given)
        else:
            token = request.match_info.get("token") or request.query.get("token")
        if token is not None or request.method == "PUT":
            await diagnostics.check_token(files, token)
        length = request.content_length
        # A multipart body is a little larger than its file: leave room for the envelope.
        slack = 0 if request.method == "PUT" else MULTIPART_SLACK
        if length is not None and length > files.config.max_upload_bytes + slack:
            raise ApiError(413, "upload_too_large",
                           f"the upload is {length} bytes; the limit is "
                           f"{files.config.max_upload_bytes}")
    except ApiError as exc:
        return exc.response()
    if request.headers.get("Expect", "").lower() != "100-continue":
        return error_response(417, "expectation_failed", "only Expect: 100-continue is known")
    if request.version >= (1, 1):
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the real answer's size starts after this line
    return None


@public
@operation("Upload diagnostics, multipart form (field diag); token in path, query or form",
           tags=TAGS, parameters=[TOKEN_QUERY], response=STORED,
           body={"type": "object", "required": ["diag"], "properties": {
               "diag": FILE_BODY, "token": {"type": "string", "maxLength": 256}}},
           body_type="multipart/form-data",
           responses={**REFUSALS, "415": error("not a multipart body")})
async def post_upload(request: web.Request) -> web.Response:
    files = _files(request)
    token = request.match_info.get("token") or request.query.get("token")
    async for part in form_parts(request, "the file in field diag"):
        if part.name == "token" and token is None:
            token = (await part.read_chunk(256)).decode("ascii", "replace").strip()
            continue
        if part.name in ("diag", "file"):
            # Some clients (aiohttp's FormData among them) percent-encode the file name.
            given = _checked_name(part.filename and unquote(part.filename))
            claim = await diagnostics.claim_upload(files, token)
            try:
                result = await _receive(files, claim, given, None, part_chunks(part),
                                        "http-multipart")
            finally:
                diagnostics.release(files, claim)
            return web.json_response(result)
        await part.release()
    await diagnostics.check_token(files, token)  # a token problem first, then the file's
    raise bad_request("diag", "a file is required")


@public
@operation("A minimal upload form (as the seed's Diagnostic Server has)", tags=TAGS,
           parameters=[TOKEN_QUERY], response={"type": "string"}, response_type="text/html",
           response_example="<!doctype html><html>...<form method='post' ...>")
async def upload_form(request: web.Request) -> web.Response:
    token = html.escape(request.query.get("token", ""), quote=True)
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>Upload diagnostics"
            "</title></head><body><h1>Upload diagnostics</h1>"
            "<form method='post' action='/upload_diagnostics' enctype='multipart/form-data'>"
            f"<p><label>Upload token <input name='token' value='{token}' size='40'></label></p>"
            "<p><input type='file' name='diag'></p><p><button>Upload</button></p>"
            "</form></body></html>")
    return web.Response(text=page, content_type="text/html")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_route("PUT", "/upload_diagnostics/{name}", put_upload, expect_handler=expect_upload)
    r.add_route("PUT", "/upload_diagnostics/{token}/{name}", put_upload,
                expect_handler=expect_upload)
    r.add_route("POST", "/upload_diagnostics", post_upload, expect_handler=expect_upload)
    r.add_route("POST", "/upload_diagnostics/{token}", post_upload,
                expect_handler=expect_upload)
    r.add_get("/upload_diagnostics", upload_form)

