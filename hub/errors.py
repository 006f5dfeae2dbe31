"""One JSON error shape for every HTTP route: ``{"error": CODE, "detail": TEXT, ...}``.

Command failures map to the status a caller can act on: unknown station 404, station offline
409, charger timeout 504, CALLERROR from the charger 502 (with its code), invalid input 400.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hub import commands
from hub.ocpp_server.session import InvalidRequest

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.fields = fields

    def response(self) -> web.Response:
        return error_response(self.status, self.error, self.detail, **self.fields)


def error_response(status: int, error: str, detail: str, **fields: Any) -> web.Response:
    return web.json_response({"error": error, "detail": detail, **fields}, status=status)


def bad_request(field: str, detail: str) -> ApiError:
    return ApiError(400, "invalid_request", f"{field}: {detail}", field=field)


def unknown_station(station_id: str) -> ApiError:
    return ApiError(404, "unknown_station", f"station {station_id} is not registered",
                    station_id=station_id)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except commands.StationRedirected as exc:  # before its base class, StationOffline
        return error_response(409, "station_redirected", str(exc), station_id=exc.station_id)
    except commands.StationOffline as exc:
        return error_response(409, "station_offline", str(exc), station_id=exc.station_id)
    except commands.CallTimeout as exc:
        return error_response(504, "charger_timeout", str(exc), station_id=exc.station_id,
                              action=exc.action)
    except commands.CallError as exc:
        return error_response(502, "charger_error", exc.description or str(exc),
                              station_id=exc.station_id, action=exc.action, code=exc.code,
                              details=exc.details)
    except InvalidRequest as exc:
        return error_response(400, "invalid_request", str(exc), field=exc.field)
    except json.JSONDecodeError as exc:
        return error_response(400, "invalid_json", f"request body is not valid JSON: {exc.msg}")
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"),
                              exc.text or exc.reason, )
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the hub could not process this request")
