"""What every management handler needs: the hub, validated input, station checks, commands.

Input errors name the field (``bad_request``); command failures are raised as they come from
``hub.commands`` and turned into 404/409/502/504 by ``hub.errors.error_middleware``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from aiohttp import web

from hub.context import HUB, Hub
from hub.db.models import Station
from hub.errors import ApiError, bad_request, unknown_station
from hub.json_body import read_json_object
from hub.ocpp_server.endpoint import valid_station_id
from hub.services.timestamps import InvalidTimestamp, format_timestamp, parse_timestamp

MISSING: Any = object()
# OCPP 1.6 is what the command routes speak; the OCPP 2.0.1 issue maps them for its stations.
COMMAND_VERSIONS = frozenset({"1.6"})


def hub_of(request: web.Request) -> Hub:
    return request.app[HUB]


def iso(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


# -- request bodies ------------------------------------------------------------------------


# The request body as a JSON object, or 400 naming ``body`` (the hub's one reader).
json_body = read_json_object


def pick(data: dict[str, Any], *names: str, default: Any = MISSING) -> Any:
    """The first of ``names`` present in ``data`` (seed scripts mix snake and camel case)."""
    for name in names:
        if name in data and data[name] is not None:
            return data[name]
    return default


def text_field(data: dict[str, Any], *names: str, required: bool = True, max_length: int = 255,
               default: str | None = None) -> str | None:
    value = pick(data, *names)
    if value is MISSING:
        if required:
            raise bad_request(names[0], "is required")
        return default
    if not isinstance(value, str) or not value.strip():
        raise bad_request(names[0], "must be a non-empty string")
    if len(value) > max_length:
        raise bad_request(names[0], f"must be at most {max_length} characters")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; nothing legitimate contains it.
        raise bad_request(names[0], "must not contain NUL characters")
    return value


def int_field(data: dict[str, Any], *names: str, required: bool = False, default: int | None = None,
              minimum: int | None = 0, maximum: int | None = 2**31 - 1) -> int | None:
    value = pick(data, *names)
    if value is MISSING:
        if required:
            raise bad_request(names[0], "is required")
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)  # query strings and lenient seed scripts send numbers as text
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(names[0], "must be an integer")
    if minimum is not None and value < minimum:
        raise bad_request(names[0], f"must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise bad_request(names[0], f"must be <= {maximum}")
    return value


def number_field(data: dict[str, Any], name: str, *, default: float | None = None,
                 minimum: float = 0, maximum: float = 10**7) -> float | None:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise bad_request(name, "must be a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(name, "must be a number")
    if not minimum <= value <= maximum:
        raise bad_request(name, f"must be between {minimum:g} and {maximum:g}")
    return float(value)


def choice_field(data: dict[str, Any], *names: str, choices: tuple[str, ...],
                 default: str | None = None) -> str:
    value = pick(data, *names)
    if value is MISSING:
        if default is None:
            raise bad_request(names[0], f"is required (one of {', '.join(choices)})")
        return default
    if value not in choices:
        raise bad_request(names[0], f"must be one of {', '.join(choices)}")
    return value


def bool_field(data: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise bad_request(name, "must be true or false")


def timestamp_field(data: dict[str, Any], *names: str) -> datetime | None:
    value = pick(data, *names)
    if value is MISSING:
        return None
    if not isinstance(value, str):
        raise bad_request(names[0], "must be an RFC 3339 timestamp string")
    try:
        return parse_timestamp(value)
    except InvalidTimestamp:
        raise bad_request(names[0], "must be an RFC 3339 timestamp") from None


def query(request: web.Request) -> dict[str, Any]:
    return dict(request.query)


# -- stations and commands -------------------------------------------------------------------


async def require_station(hub: Hub, station_id: str) -> Station:
    """The stations row, or 404: a command to a station the hub never knew is a typo."""
    if not valid_station_id(station_id):
        raise unknown_station(station_id)  # no such id can have been registered
    async with hub.sessions() as session:
        row = await session.get(Station, station_id)
    if row is None:
        raise unknown_station(station_id)
    return row


async def station_from(hub: Hub, data: dict[str, Any]) -> str:
    """The ``station_id`` field (400 if missing or malformed). Existence is checked by send()."""
    station_id = text_field(data, "station_id", "stationId", "chargePointId", max_length=48)
    assert station_id is not None
    return station_id


async def ensure_known(hub: Hub, station_id: str) -> None:
    """404 for a station the hub never knew. A connected station always has its row, so the
    table is only asked about stations that are not connected (those then end in 409)."""
    if not hub.commands.is_connected(station_id):
        await require_station(hub, station_id)


async def send(hub: Hub, station_id: str, request: Any, timeout: float | None = None) -> Any:
    """Send an OCPP 1.6 call (for commands without a 2.0.1 mapping in
    ``hub.services.station_commands``) and return the charger's answer.

    Unknown station 404, offline 409, other OCPP version 409, CALLERROR 502, timeout 504.
    """
    await ensure_known(hub, station_id)
    version = hub.commands.ocpp_version(station_id)
    if version is not None and version not in COMMAND_VERSIONS:
        raise ApiError(409, "unsupported_ocpp_version",
                       f"station {station_id} speaks OCPP {version}; this route sends OCPP 1.6",
                       station_id=station_id, ocpp_version=version)
    return await hub.commands.call(station_id, request, timeout=timeout)


def command_timeout(data: dict[str, Any]) -> float | None:
    """Optional per-request ``timeout`` (seconds) instead of the configured default."""
    return number_field(data, "timeout", minimum=0.1, maximum=300)


# -- responses ---------------------------------------------------------------------------


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def text_or_json(request: web.Request, text: str, payload: dict[str, Any]) -> web.Response:
    """The seed's GET-style routes answered plain text; JSON for clients that ask for it."""
    if wants_json(request):
        return web.json_response(payload)
    return web.Response(text=text, content_type="text/plain")
