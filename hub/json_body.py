"""The one reader of JSON request bodies, for every HTTP route of the hub and its features.

Parsing is the standard library's C scanner, which stops a hostile 100,000-deep body at the
interpreter's recursion limit with RecursionError, caught here (it used to be a 500 with a
traceback). Not orjson: version 3.8 crashes the process (SIGSEGV) on objects nested 100,000
deep. The parsed value is then checked against the hub's much lower nesting limit, without
recursion: no request of any API nests deeper than a few levels, so ``MAX_DEPTH`` only ever
stops abuse.
Every problem is a 400 naming ``body``; routes with their own error shape (the OICP webhooks'
eRoamingAcknowledgement) use ``parse_json`` and answer ``JsonBodyError`` their way.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hub.errors import bad_request

MAX_DEPTH = 64


class JsonBodyError(ValueError):
    """A body that is not usable JSON; ``str()`` says why (without the field name)."""


def nesting_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays/objects more than ``limit`` levels deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """``raw`` parsed, or JsonBodyError: empty, not JSON / not UTF-8, or nested too deep."""
    if not raw:
        raise JsonBodyError("is empty")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise JsonBodyError(f"is nested deeper than {max_depth} levels") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, NaN, an int of 4,300+ digits
        raise JsonBodyError("is not valid JSON (UTF-8)") from None
    if isinstance(value, dict | list) and nesting_depth_exceeds(value, max_depth):
        raise JsonBodyError(f"is nested deeper than {max_depth} levels")
    return value


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (any JSON value; the caller checks its shape), or 400 naming
    ``body``."""
    if not request.can_read_body:
        raise bad_request("body", "a JSON body is required")
    try:
        return parse_json(await request.read())
    except JsonBodyError as error:
        raise bad_request("body", str(error)) from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """``read_json`` for routes that take one JSON object."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    return body
