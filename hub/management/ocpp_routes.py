"""The seed's "OCPP Server" command routes. Each sends its command through
``hub.services.station_commands`` (OCPP 1.6, or the 2.0.1 equivalent for 2.0.1 stations, via
``hub.commands.call``) and answers with what the charger answered, in the 1.6 vocabulary."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from hub import commands
from hub.context import Hub
from hub.db.models import IdTag, Transaction
from hub.errors import ApiError, bad_request
from hub.management import schemas as s
from hub.management.common import (
    MISSING,
    choice_field,
    command_timeout,
    ensure_known,
    hub_of,
    int_field,
    json_body,
    number_field,
    pick,
    require_station,
    station_from,
    text_field,
)
from hub.management.tracker import WATCHER
from hub.ocpp_server.codec import to_snake
from hub.openapi import operation
from hub.services import station_commands
from hub.services.authorization import local_status
from hub.services.timestamps import format_timestamp

TAGS = ["ocpp commands"]
OCPP16_ID_TAG_MAX = 20
LOCAL_AUTH_KEYS = ("LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength",
                   "LocalAuthorizeOffline", "LocalPreAuthorize", "AuthorizationCacheEnabled",
                   "AllowOfflineTxForUnknownId")
LOCAL_AUTH_WRITABLE = ("LocalAuthListEnabled", "LocalAuthorizeOffline", "LocalPreAuthorize",
                       "AuthorizationCacheEnabled", "AllowOfflineTxForUnknownId")
TRIGGER_BODY = s.station_body(("requested_message",), connector_id=s.CONNECTOR_ID,
                              requested_message=s.enum(*station_commands.TRIGGERABLE))


def config_value(value: Any, field: str) -> str:
    """OCPP configuration values are strings; seed scripts send booleans and numbers too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and len(value) <= 500 and "\x00" not in value:
        return value
    raise bad_request(field, "must be a string (at most 500 characters, no NUL), number or "
                             "boolean")


# -- configuration ------------------------------------------------------------------------


@operation("Read a station's OCPP configuration (GetConfiguration)", tags=TAGS,
           parameters=[s.STATION_QUERY, s.query("key", s.STRING,
                                                description="comma-separated keys (default all)")],
           response=s.GET_CONFIGURATION, responses=s.COMMAND_ERRORS)
async def get_configuration(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = await station_from(hub, dict(request.query))
    keys = [k.strip() for k in request.query.get("key", "").split(",") if k.strip()]
    if any(len(k) > 50 or "\x00" in k for k in keys):
        raise bad_request("key", "each key must be at most 50 characters, without NUL")
    await ensure_known(hub, station_id)
    answer = await station_commands.get_configuration(hub, station_id, keys or None)
    return web.json_response({
        "status": "Accepted",
        "configurationKey": [{"key": k["key"], "readonly": k.get("readonly", False),
                              "value": k.get("value")} for k in answer["configuration_key"]],
        "unknownKey": list(answer["unknown_key"]),
    })


async def change_configuration(hub: Hub, station_id: str, key: str, value: str,
                               timeout: float | None) -> str:
    await ensure_known(hub, station_id)
    return await station_commands.change_configuration(hub, station_id, key, value, timeout)


@operation("Change one configuration key (ChangeConfiguration)", tags=TAGS,
           body=s.SET_CONFIGURATION_BODY, response=s.STATUS, responses=s.COMMAND_ERRORS)
async def set_configuration(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    key = text_field(body, "key", max_length=50)
    if "value" not in body:
        raise bad_request("value", "is required")
    value = config_value(body["value"], "value")
    station_id = await station_from(hub, body)
    status = await change_configuration(hub, station_id, key, value, command_timeout(body))
    return web.json_response({"status": status, "key": key})


@operation("Send a custom ChangeConfiguration payload ({key, value} or payload: {...})",
           tags=TAGS, body=s.CUSTOM_CONFIGURATION_BODY, response=s.STATUS,
           responses=s.COMMAND_ERRORS)
async def change_configuration_custom(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    payload = body.get("payload", body)
    field_prefix = "payload." if "payload" in body else ""
    if not isinstance(payload, dict):
        raise bad_request("payload", "must be an object with key and value")
    key = text_field(payload, "key", max_length=50) if "key" in payload else None
    if key is None:
        raise bad_request(f"{field_prefix}key", "is required")
    if "value" not in payload:
        raise bad_request(f"{field_prefix}value", "is required")
    value = config_value(payload["value"], f"{field_prefix}value")
    station_id = await station_from(hub, body)
    status = await change_configuration(hub, station_id, key, value, command_timeout(body))
    return web.json_response({"status": status, "key": key, "value": value})


# -- local authorization list -------------------------------------------------------------


@operation("Local Authorization List configuration keys of a station", tags=TAGS,
           parameters=[s.STATION_QUERY],
           response=s.obj(**{k: s.NULLABLE_STRING for k in LOCAL_AUTH_KEYS}),
           responses=s.COMMAND_ERRORS,
           description="Keys the station does not know are answered as null.")
async def local_auth_configuration(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = await station_from(hub, dict(request.query))
    await ensure_known(hub, station_id)
    answer = await station_commands.get_configuration(hub, station_id, list(LOCAL_AUTH_KEYS))
    known = {k["key"]: k.get("value") for k in answer["configuration_key"]}
    return web.json_response({key: known.get(key) for key in LOCAL_AUTH_KEYS})


@operation("Set Local Authorization List configuration keys", tags=TAGS,
           body=s.station_body(**{k: s.CONFIG_VALUE for k in LOCAL_AUTH_WRITABLE}),
           response=s.obj(["status", "results"], status=s.STRING, results=s.ANY_OBJECT),
           responses=s.COMMAND_ERRORS)
async def set_local_auth_configuration(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    settings = {}
    for name, value in body.items():
        if name in ("station_id", "stationId", "timeout"):
            continue
        if name not in LOCAL_AUTH_WRITABLE:
            raise bad_request(name, "is not a writable Local Auth List key "
                                    f"({', '.join(LOCAL_AUTH_WRITABLE)})")
        settings[name] = config_value(value, name)
    if not settings:
        raise bad_request("body", f"name at least one of {', '.join(LOCAL_AUTH_WRITABLE)}")
    station_id = await station_from(hub, body)
    timeout = command_timeout(body)
    results = {key: await change_configuration(hub, station_id, key, value, timeout)
               for key, value in settings.items()}
    failed = [status for status in results.values() if status not in ("Accepted",)]
    return web.json_response({"status": failed[0] if failed else "Accepted", "results": results})


@operation("The station's Local Authorization List version (GetLocalListVersion)", tags=TAGS,
           parameters=[s.STATION_QUERY], response=s.obj(["listVersion"], listVersion=s.INTEGER),
           responses=s.COMMAND_ERRORS)
async def local_list_version(request: web.Request) -> web.Response:
    hub = hub_of(request)
    station_id = await station_from(hub, dict(request.query))
    await ensure_known(hub, station_id)
    return web.json_response({"listVersion": await station_commands.get_local_list_version(
        hub, station_id)})


async def _local_list_from_database(hub: Hub) -> list[dict[str, Any]]:
    async with hub.sessions() as session:
        tags = (await session.execute(sa.select(IdTag).order_by(IdTag.id_tag))).scalars().all()
    entries = []
    for tag in tags:
        if len(tag.id_tag) > OCPP16_ID_TAG_MAX:
            continue  # an OCPP 2.0.1 token; it does not fit a 1.6 idTag
        auth = local_status(tag)
        info: dict[str, Any] = {"status": auth.status}
        if tag.parent_id_tag and len(tag.parent_id_tag) <= OCPP16_ID_TAG_MAX:
            info["parent_id_tag"] = tag.parent_id_tag
        if tag.expiry_date:
            info["expiry_date"] = format_timestamp(tag.expiry_date)
        entries.append({"id_tag": tag.id_tag, "id_tag_info": info})
    return entries


@operation("Send a Local Authorization List (SendLocalList)", tags=TAGS,
           body=s.SEND_LOCAL_LIST_BODY,
           response=s.obj(["status", "listVersion"], status=s.STRING, listVersion=s.INTEGER,
                          entries=s.INTEGER),
           responses=s.COMMAND_ERRORS,
           description="Without localAuthorizationList, a Full update with the hub's id tags is "
                       "sent; without listVersion, the station's last known version + 1.")
async def send_local_list(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    update_type = choice_field(body, "updateType", "update_type", choices=("Full", "Differential"),
                               default="Full")
    entries = pick(body, "localAuthorizationList", "local_authorization_list")
    if entries is not MISSING and not isinstance(entries, list):
        raise bad_request("localAuthorizationList", "must be a list")
    if entries is MISSING and update_type == "Differential":
        raise bad_request("localAuthorizationList", "is required for a Differential update")
    version = int_field(body, "listVersion", "list_version", minimum=0)
    station_id = text_field(body, "station_id", "stationId", max_length=48)
    station = await require_station(hub, station_id)
    if version is None:
        version = (station.local_list_version or 0) + 1
    if entries is MISSING:
        entries = await _local_list_from_database(hub)
    else:
        if not all(isinstance(e, dict) for e in entries):
            raise bad_request("localAuthorizationList", "must be a list of objects")
        # The OCPP (camelCase) form; station_commands takes the 1.6 field names in snake case.
        entries = to_snake(entries)
    status = await station_commands.send_local_list(hub, station_id, version, update_type,
                                                    entries, command_timeout(body))
    return web.json_response({"status": status, "listVersion": version,
                              "entries": len(entries)})


# -- availability, triggers, reset ---------------------------------------------------------


@operation("Switch a connector (0 = the whole station) Operative/Inoperative", tags=TAGS,
           body=s.CHANGE_AVAILABILITY_BODY, response=s.STATUS, responses=s.COMMAND_ERRORS)
async def change_availability(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    kind = choice_field(body, "type", "availability", choices=("Operative", "Inoperative"))
    connector_id = int_field(body, "connector_id", "connectorId", default=0)
    station_id = await station_from(hub, body)
    await ensure_known(hub, station_id)
    status = await station_commands.change_availability(
        hub, station_id, connector_id, kind, command_timeout(body))
    return web.json_response({"status": status, "connector_id": connector_id,
                              "type": kind})


async def trigger(hub: Hub, body: dict[str, Any], message: str) -> web.Response:
    connector_id = int_field(body, "connector_id", "connectorId")
    station_id = await station_from(hub, body)
    await ensure_known(hub, station_id)
    try:
        status = await station_commands.trigger_message(
            hub, station_id, message, connector_id, command_timeout(body))
    except station_commands.UnknownTrigger as exc:
        raise bad_request("requested_message", str(exc)) from None
    return web.json_response({"status": status, "requested_message": message})


def _trigger_route(message: str, with_connector: bool) -> Any:
    @operation(f"TriggerMessage {message}", tags=TAGS,
               body=s.CONNECTOR_BODY if with_connector else s.STATION_ONLY_BODY,
               response=s.STATUS, responses=s.COMMAND_ERRORS)
    async def handler(request: web.Request) -> web.Response:
        return await trigger(hub_of(request), await json_body(request), message)

    handler.__name__ = f"trigger_{message}"
    return handler


@operation("Send any TriggerMessage (1.6 and 2.0.1 names; 1.6 ExtendedTriggerMessage for "
           "LogStatusNotification and certificate signing)", tags=TAGS, body=TRIGGER_BODY,
           response=s.STATUS, responses=s.COMMAND_ERRORS,
           description="A name of the other version is translated where OCPP has one "
                       "(DiagnosticsStatusNotification <-> LogStatusNotification, "
                       "SignChargePointCertificate <-> SignChargingStationCertificate); "
                       "a name the station's version lacks is a 400.")
async def trigger_message(request: web.Request) -> web.Response:
    body = await json_body(request)
    message = choice_field(body, "requested_message", "requestedMessage",
                           choices=station_commands.TRIGGERABLE)
    return await trigger(hub_of(request), body, message)


@operation("TriggerMessage StatusNotification to every connected station", tags=TAGS,
           body=s.obj(timeout=s.TIMEOUT),
           response=s.obj(["triggered", "not_triggered"], triggered=s.array(s.STRING),
                          not_triggered=s.ANY_OBJECT))
async def status_round_call(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request) if request.can_read_body else {}
    timeout = number_field(body, "timeout", minimum=0.1, maximum=300)
    station_ids = sorted(st.id for st in hub.stations)

    async def one(station_id: str) -> str:
        try:
            return await station_commands.trigger_message(
                hub, station_id, "StatusNotification", timeout=timeout)
        except commands.CallError as exc:
            return f"CallError:{exc.code}"
        except commands.CallTimeout:
            return "Timeout"
        except commands.StationOffline:
            return "Offline"

    results = await asyncio.gather(*(one(sid) for sid in station_ids))
    outcome = dict(zip(station_ids, results, strict=True))
    return web.json_response({
        "triggered": [sid for sid, status in outcome.items() if status == "Accepted"],
        "not_triggered": {sid: status for sid, status in outcome.items() if status != "Accepted"},
    })


async def reset(hub: Hub, station_id: str, kind: str, timeout: float | None = None) -> str:
    await ensure_known(hub, station_id)
    return await station_commands.reset(hub, station_id, kind, timeout)


@operation("Reset a station (Soft by default)", tags=TAGS, body=s.RESET_BODY, response=s.STATUS,
           responses=s.COMMAND_ERRORS)
async def reset_station(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    kind = choice_field(body, "type", choices=("Soft", "Hard"), default="Soft")
    station_id = await station_from(hub, body)
    status = await reset(hub, station_id, kind, command_timeout(body))
    return web.json_response({"status": status, "type": kind})


async def disconnect(hub: Hub, station_id: str) -> None:
    await require_station(hub, station_id)
    session = hub.stations.get(station_id)
    if session is None:
        raise commands.StationOffline(station_id)
    await session.ws.close(code=1000, message=b"disconnected by operator")


@operation("Close a station's WebSocket connection", tags=TAGS, body=s.STATION_ONLY_BODY,
           response=s.obj(["status", "station_id"], status=s.STRING, station_id=s.STRING),
           responses=s.COMMAND_ERRORS)
async def disconnect_station(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    station_id = text_field(body, "station_id", "stationId", max_length=48)
    await disconnect(hub, station_id)
    return web.json_response({"status": "disconnected", "station_id": station_id})


# -- transactions ------------------------------------------------------------------------


@operation("Remote start (RemoteStartTransaction); reports the transaction it produced",
           tags=TAGS, body=s.START_BODY,
           response=s.obj(["status", "transaction_id"], status=s.STRING,
                          transaction_id=s.NULLABLE_INTEGER),
           responses=s.COMMAND_ERRORS,
           description="After Accepted the hub waits up to wait_seconds (default 5) for the "
                       "charger's StartTransaction; transaction_id is null if none came.")
async def start_transaction(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    id_tag = text_field(body, "id_tag", "idTag", max_length=36)
    connector_id = int_field(body, "connector_id", "connectorId", minimum=1)
    profile = pick(body, "charging_profile", "chargingProfile", default=None)
    if profile is not None and not isinstance(profile, dict):
        raise bad_request("charging_profile", "must be an object")
    wait_seconds = number_field(body, "wait_seconds", default=5.0, maximum=60)
    station_id = await station_from(hub, body)
    if len(id_tag) > OCPP16_ID_TAG_MAX and hub.commands.ocpp_version(station_id) != "2.0.1":
        raise bad_request("id_tag", f"OCPP 1.6 idTag is at most {OCPP16_ID_TAG_MAX} characters")
    watcher = request.app[WATCHER]
    waiter = watcher.expect(station_id, connector_id, id_tag)
    try:
        await ensure_known(hub, station_id)
        answer = await station_commands.remote_start(
            hub, station_id, id_tag, connector_id, profile, timeout=command_timeout(body))
    except BaseException:
        watcher.discard(waiter)
        raise
    transaction_id = None
    if answer.status == "Accepted" and wait_seconds:
        transaction_id = await watcher.wait(waiter, wait_seconds)
    watcher.discard(waiter)
    return web.json_response({"status": answer.status, "transaction_id": transaction_id})


@operation("Remote stop (RemoteStopTransaction); without transaction_id the station's active "
           "transaction (on connector_id, if given) is stopped", tags=TAGS, body=s.STOP_BODY,
           response=s.obj(["status", "transaction_id"], status=s.STRING,
                          transaction_id=s.INTEGER),
           responses=s.COMMAND_ERRORS)
async def stop_transaction(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    transaction_id = int_field(body, "transaction_id", "transactionId")
    connector_id = int_field(body, "connector_id", "connectorId")
    station_id = await station_from(hub, body)
    await ensure_known(hub, station_id)
    if transaction_id is None:
        stmt = sa.select(Transaction.id).where(Transaction.station_id == station_id,
                                               Transaction.status == "active")
        if connector_id is not None:
            stmt = stmt.where(Transaction.connector_id == connector_id)
        async with hub.sessions() as session:
            transaction_id = (await session.execute(
                stmt.order_by(Transaction.id.desc()).limit(1))).scalar()
        if transaction_id is None:
            raise ApiError(404, "no_active_transaction",
                           f"station {station_id} has no active transaction",
                           station_id=station_id)
    try:
        status = await station_commands.remote_stop(hub, station_id, transaction_id,
                                                    command_timeout(body))
    except station_commands.UnknownTransaction as exc:
        raise ApiError(404, "unknown_transaction", str(exc), station_id=station_id,
                       transaction_id=transaction_id) from None
    return web.json_response({"status": status, "transaction_id": transaction_id})


@operation("Unlock a connector (UnlockConnector)", tags=TAGS,
           body=s.station_body(("connector_id",), connector_id={"type": "integer",
                                                                "minimum": 1}),
           response=s.STATUS, responses=s.COMMAND_ERRORS)
async def unlock_connector(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    connector_id = int_field(body, "connector_id", "connectorId", required=True, minimum=1)
    station_id = await station_from(hub, body)
    await ensure_known(hub, station_id)
    status = await station_commands.unlock_connector(
        hub, station_id, connector_id, command_timeout(body))
    return web.json_response({"status": status, "connector_id": connector_id})


@operation("Send a DataTransfer to a station", tags=TAGS, body=s.DATA_TRANSFER_BODY,
           response=s.obj(["status", "data"], status=s.STRING, data=s.NULLABLE_STRING),
           responses=s.COMMAND_ERRORS)
async def data_transfer(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await json_body(request)
    vendor_id = text_field(body, "vendor_id", "vendorId")
    message_id = text_field(body, "message_id", "messageId", required=False, max_length=50)
    data = body.get("data")
    if data is not None and not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"))
    station_id = await station_from(hub, body)
    await ensure_known(hub, station_id)
    status, answer = await station_commands.data_transfer(
        hub, station_id, vendor_id, message_id, data, command_timeout(body))
    return web.json_response({"status": status, "data": answer})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/getConfiguration", get_configuration)
    r.add_post("/api/setConfiguration", set_configuration)
    r.add_post("/api/changeConfiguration/custom", change_configuration_custom)
    r.add_get("/api/localAuth/configuration", local_auth_configuration)
    r.add_post("/api/localAuth/configuration", set_local_auth_configuration)
    r.add_get("/api/localAuth/listVersion", local_list_version)
    r.add_post("/api/localAuth/sendLocalList", send_local_list)
    r.add_post("/api/changeAvailability", change_availability)
    r.add_post("/api/triggerBootNotification", _trigger_route("BootNotification", False))
    r.add_post("/api/triggerMeterValues", _trigger_route("MeterValues", True))
    r.add_post("/api/triggerStatusNotification", _trigger_route("StatusNotification", True))
    r.add_post("/api/triggerMessage", trigger_message)
    r.add_post("/api/statusRoundCall", status_round_call)
    r.add_post("/api/reset", reset_station)
    r.add_post("/api/disconnect", disconnect_station)
    r.add_post("/api/startTransaction", start_transaction)
    r.add_post("/api/stopTransaction", stop_transaction)
    r.add_post("/api/unlockConnector", unlock_connector)
    r.add_post("/api/datatransfer", data_transfer)


