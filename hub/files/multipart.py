"""Reading multipart/form-data uploads (diagnostics from chargers, firmware from operators)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from hub.errors import ApiError, bad_request
from hub.files.store import CHUNK


async def form_parts(request: web.Request, wanted: str) -> AsyncIterator[BodyPartReader]:
    """The body's parts, one level deep. ``wanted`` completes "send multipart/form-data with
    ..." in the 415 for another content type; a malformed or nested body is a 400."""
    if not request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", f"send multipart/form-data with {wanted}")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError):
        raise ApiError(415, "unsupported_media_type",
                       "not a readable multipart body") from None
    while True:
        try:
            part = await reader.next()
        except (ValueError, HttpProcessingError) as exc:
            # aiohttp raises InvalidHeader (an HttpProcessingError) for a bad part header.
            raise bad_request("body", f"malformed multipart body: {exc}") from None
        if part is None:
            return
        if not isinstance(part, BodyPartReader):
            raise bad_request("body", "nested multipart bodies are not accepted")
        yield part


async def part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk
