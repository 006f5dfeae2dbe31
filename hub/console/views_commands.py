"""Commands from a station's page: the same services the management API calls
(``hub.services.station_commands`` over ``hub.commands.call``; diagnostics and firmware through
``hub.files``, as ``/api/getDiagnostics`` and ``/api/updateFirmware`` do), the charger's real
answer shown on the next page. Operators and admins only (the guard refuses viewers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from yarl import URL

from hub.commands import CallError, CommandFailed
from hub.console.guard import action, add_flash
from hub.console.render import see
from hub.console.users import OPERATOR
from hub.console.views_estate import visible_station
from hub.context import HUB, Hub
from hub.errors import ApiError
from hub.files import diagnostics, firmware
from hub.files.service import FILES
from hub.ocpp_server.session import InvalidRequest
from hub.openapi import path
from hub.services import station_commands as commands

# The station page's trigger list shows these in this order (the first is preselected).
TRIGGERS = ("StatusNotification", "Heartbeat", "BootNotification", "MeterValues",
            "DiagnosticsStatusNotification", "FirmwareStatusNotification")
FIELDS = {
    "command": {"type": "string", "enum": ["reset", "unlock", "availability", "trigger",
                                           "remote_start", "remote_stop", "get_configuration",
                                           "change_configuration", "diagnostics", "firmware"]},
    "type": {"type": "string", "description": "Soft|Hard (reset), Operative|Inoperative"},
    "connector_id": {"type": "string", "pattern": "^[0-9]{0,4}$"},
    "message": {"type": "string", "enum": list(TRIGGERS)},
    "id_tag": {"type": "string", "maxLength": 36},
    "transaction_id": {"type": "string", "pattern": "^[0-9]{0,10}$"},
    "key": {"type": "string", "maxLength": 100},
    "value": {"type": "string", "maxLength": 500},
    "location": {"type": "string", "format": "uri", "maxLength": 512,
                 "description": "diagnostics: an external upload location (empty: the hub "
                                "receives it); firmware: an external image URL"},
    "firmware": {"type": "string", "maxLength": 200,
                 "description": "firmware: the name of an image uploaded to the hub"},
}
# What an external location may be: chargers upload and download over these.
LOCATION_SCHEMES = ("http", "https", "ftp", "ftps")


class BadInput(ValueError):
    pass


def _text(form: Any, name: str, choices: tuple[str, ...] | None = None,
          limit: int = 100) -> str:
    value = form.get(name, "")
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > limit or (choices and value not in choices):
        allowed = f" (one of {', '.join(choices)})" if choices else ""
        raise BadInput(f"{name}: required{allowed}")
    return value


def _int(form: Any, name: str, minimum: int = 0) -> int:
    value = _text(form, name, limit=10)
    if not value.isdigit() or int(value) < minimum:
        raise BadInput(f"{name}: must be an integer >= {minimum}")
    return int(value)


Runner = Callable[[Hub, str, Any], Awaitable[tuple[str, str]]]


async def _reset(hub: Hub, sid: str, form: Any) -> tuple[str, str]:
    return "Reset", await commands.reset(hub, sid, _text(form, "type", ("Soft", "Hard")))


async def _unlock(hub: Hub, sid: str, form: Any) -> tuple[str, str]:
    return "UnlockConnector", await commands.unlock_connector(hub, sid,
                                                              _int(form, "connector_id", 1))


async def _availability(hub: Hub, sid: str, form: Any) -> tuple[str, str]:
    return "ChangeAvailability", await commands.change_availability(
        hub, sid, _int(form, "connector_id"), _text(form, "type", ("Operative", "Inoperative")))


async def _trigger(hub: Hub, sid: str, form: Any) -> tuple[str, str]:
    connector = form.get("connector_id", "")
    return "TriggerMessage", await commands.trigger_message(
        hub, sid, _text(form, "message", TRIGGERS),
        _int(form, "connector_id", 1) if connector else None)


async def _remote_start(hub: Hub, sid: str, form: Any) -> tuple[str, str]:
    started = await commands.remote_start(hub, sid, _text(form, "id_tag", limit=36),
                                          _int(form, "connector_id", 1))
    return "RemoteStartTransaction", started.status


async def _remote_stop(hub: Hub, sid: str, form: Any) -> tuple[str, str]:
    return "RemoteStopTransaction", await commands.remote_stop(
        hub, sid, _int(form, "transaction_id", 1))


async def _get_configuration(hub: Hub, sid: str, form: Any) -> tuple[str, str]:
    result = await commands.get_configuration(hub, sid)
    keys = result.get("configurationKey") or result.get("configuration_key") or []
    return "GetConfiguration", f"{len(keys)} keys"


async def _change_configuration(hub: Hub, sid: str, form: Any) -> tuple[str, str]:
    return "ChangeConfiguration", await commands.change_configuration(
        hub, sid, _text(form, "key"), _text(form, "value", limit=500))


def _location(form: Any) -> str | None:
    value = form.get("location", "")
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        return None
    url = URL(value) if len(value) <= 512 else None
    if url is None or url.scheme not in LOCATION_SCHEMES or not url.host:
        raise BadInput(f"location: an absolute {'/'.join(LOCATION_SCHEMES)} URL "
                       "of at most 512 characters")
    return value


async def _diagnostics(request: web.Request, sid: str, form: Any) -> None:
    """GetDiagnostics (GetLog for 2.0.1); without a location the hub receives the file."""
    files = request.config_dict[FILES]
    started = await diagnostics.start(files, sid, diagnostics.DiagnosticsAsk(
        location=_location(form)), files.base_url(request))
    if started.action == "GetLog":
        await add_flash(request, "ok", "The station answered {action}: {status}",
                        {"action": started.action, "status": started.station_status})
    elif started.file_name:
        await add_flash(request, "ok", "The station answered {action}: it will upload {file}",
                        {"action": started.action, "file": started.file_name})
    else:
        await add_flash(request, "ok", "The station answered {action}: nothing to upload",
                        {"action": started.action})
    await _tracked(request, started.request_id)


async def _firmware(request: web.Request, sid: str, form: Any) -> None:
    """UpdateFirmware with an image uploaded to the hub (served with a per-request token)
    or an external location."""
    files = request.config_dict[FILES]
    image = form.get("firmware", "")
    image = image.strip() if isinstance(image, str) else ""
    location = None if image else _location(form)
    if not image and location is None:
        raise BadInput("firmware: choose an uploaded image or give a location")
    started = await firmware.start(files, sid, firmware.FirmwareAsk(
        firmware=image or None, location=location), files.base_url(request))
    await add_flash(request, "ok", "The station answered {action}: {status}",
                    {"action": started.action, "status": started.status})
    await _tracked(request, started.request_id)


async def _tracked(request: web.Request, request_id: int) -> None:
    # The request's state (hub.files decides it) is on op_diagnostics, not repeated here.
    await add_flash(request, "ok", "The Diagnostics page follows request {id}.",
                    {"id": request_id})


RUNNERS: dict[str, Runner] = {
    "reset": _reset, "unlock": _unlock, "availability": _availability, "trigger": _trigger,
    "remote_start": _remote_start, "remote_stop": _remote_stop,
    "get_configuration": _get_configuration, "change_configuration": _change_configuration}
# These start a tracked request in hub.files and say themselves what the station answered.
FILE_RUNNERS: dict[str, Callable[[web.Request, str, Any], Awaitable[None]]] = {
    "diagnostics": _diagnostics, "firmware": _firmware}


@action("Send a command to a station; the next page shows the charger's answer", FIELDS,
        {"csrf": "c5...", "command": "reset", "type": "Soft"}, role=OPERATOR,
        parameters=[path("station_id", {"type": "string", "maxLength": 48})])
async def send_command(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    station_id = (await visible_station(request)).id
    form = await request.post()
    name = form.get("command", "")
    name = name if isinstance(name, str) else ""
    runner, file_runner = RUNNERS.get(name), FILE_RUNNERS.get(name)
    try:
        if file_runner is not None:
            await file_runner(request, station_id, form)
        elif runner is None:
            raise BadInput("command: unknown command")
        else:
            act, status = await runner(hub, station_id, form)
            await add_flash(request, "ok", "The station answered {action}: {status}",
                            {"action": act, "status": status})
    except BadInput as exc:
        await add_flash(request, "error", "{action} failed: {reason}",
                        {"action": name, "reason": exc})
    except CallError as exc:
        await add_flash(request, "error", "{action} failed: {reason}",
                        {"action": exc.action, "reason": f"{exc.code} {exc.description}"})
    except (CommandFailed, commands.UnknownTransaction, InvalidRequest) as exc:
        await add_flash(request, "error", "{action} failed: {reason}",
                        {"action": name, "reason": exc})
    except ApiError as exc:  # hub.files refusals: unknown image, FTP off, half a signature
        await add_flash(request, "error", "{action} failed: {reason}",
                        {"action": name, "reason": exc.detail})
    return see(f"/console/stations/{station_id}")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/stations/{station_id}/commands", send_command)
