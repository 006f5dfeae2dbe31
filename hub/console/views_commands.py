"""Commands from a station's page: the same services the management API calls
(``hub.services.station_commands`` over ``hub.commands.call``), the charger's real answer
shown on the next page. Operators and admins only (the guard refuses viewers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hub.commands import CallError, CommandFailed
from hub.console.guard import action, add_flash
from hub.console.render import see
from hub.console.users import OPERATOR
from hub.console.views_estate import visible_station
from hub.context import HUB, Hub
from hub.openapi import path
from hub.services import station_commands as commands

# The station page's trigger list shows these in this order (the first is preselected).
TRIGGERS = ("StatusNotification", "Heartbeat", "BootNotification", "MeterValues",
            "DiagnosticsStatusNotification", "FirmwareStatusNotification")
FIELDS = {
    "command": {"type": "string", "enum": ["reset", "unlock", "availability", "trigger",
                                           "remote_start", "remote_stop", "get_configuration",
                                           "change_configuration"]},
    "type": {"type": "string", "description": "Soft|Hard (reset), Operative|Inoperative"},
    "connector_id": {"type": "string", "pattern": "^[0-9]{0,4}$"},
    "message": {"type": "string", "enum": list(TRIGGERS)},
    "id_tag": {"type": "string", "maxLength": 36},
    "transaction_id": {"type": "string", "pattern": "^[0-9]{0,10}$"},
    "key": {"type": "string", "maxLength": 100},
    "value": {"type": "string", "maxLength": 500},
}


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


RUNNERS: dict[str, Runner] = {
    "reset": _reset, "unlock": _unlock, "availability": _availability, "trigger": _trigger,
    "remote_start": _remote_start, "remote_stop": _remote_stop,
    "get_configuration": _get_configuration, "change_configuration": _change_configuration}


@action("Send a command to a station; the next page shows the charger's answer", FIELDS,
        {"csrf": "c5...", "command": "reset", "type": "Soft"}, role=OPERATOR,
        parameters=[path("station_id", {"type": "string", "maxLength": 48})])
async def send_command(request: web.Request) -> web.Response:
    hub = request.config_dict[HUB]
    station_id = (await visible_station(request)).id
    form = await request.post()
    name = form.get("command", "")
    runner = RUNNERS.get(name if isinstance(name, str) else "")
    try:
        if runner is None:
            raise BadInput("command: unknown command")
        act, status = await runner(hub, station_id, form)
        await add_flash(request, "ok", "The station answered {action}: {status}",
                        {"action": act, "status": status})
    except BadInput as exc:
        await add_flash(request, "error", "{action} failed: {reason}",
                        {"action": name, "reason": exc})
    except CallError as exc:
        await add_flash(request, "error", "{action} failed: {reason}",
                        {"action": exc.action, "reason": f"{exc.code} {exc.description}"})
    except (CommandFailed, commands.UnknownTransaction) as exc:
        await add_flash(request, "error", "{action} failed: {reason}",
                        {"action": name, "reason": exc})
    return see(f"/console/stations/{station_id}")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/stations/{station_id}/commands", send_command)
