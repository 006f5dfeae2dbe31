"""The seed REST API's data endpoints, on the hub's own tables: devices seen, meter values,
id tags ("tokens"), transactions ("sessions") and charge records by RFID."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from hub.db.base import utcnow
from hub.db.models import IdTag, LatestReading, MeterValue, Station, Transaction
from hub.errors import ApiError, bad_request
from hub.json_body import read_json
from hub.management import schemas as s
from hub.management.common import (
    MISSING,
    bool_field,
    hub_of,
    int_field,
    iso,
    number_field,
    pick,
    require_station,
    text_field,
    timestamp_field,
)
from hub.openapi import operation, query
from hub.services import transactions
from hub.services.authorization import local_status

TAGS = ["data"]
OWNERS = {"ocpp16": "1.6", "ocpp1.6": "1.6", "1.6": "1.6",
          "ocpp201": "2.0.1", "ocpp2.0.1": "2.0.1", "2.0.1": "2.0.1"}
OWNER_NAMES = {"1.6": "ocpp16", "2.0.1": "ocpp201"}
MAX_BATCH = 5000


# -- views and pagination ------------------------------------------------------------------


def session_view(row: Transaction) -> dict[str, Any]:
    return {"id": row.id, "transaction_id": row.id, "station_id": row.station_id,
            "connector_id": row.connector_id, "id_tag": row.id_tag, "status": row.status,
            "start_timestamp": iso(row.start_timestamp), "stop_timestamp": iso(row.stop_timestamp),
            "meter_start": row.meter_start, "meter_stop": row.meter_stop,
            "energy_wh": row.energy_wh, "stop_reason": row.stop_reason,
            "reservation_id": row.reservation_id}


def token_view(tag: IdTag) -> dict[str, Any]:
    status = local_status(tag).status
    return {"uid": tag.id_tag, "id_tag": tag.id_tag, "parent_id_tag": tag.parent_id_tag,
            "expiry_date": iso(tag.expiry_date), "blocked": tag.blocked,
            "valid": status == "Accepted", "status": status, "last_updated": iso(tag.updated_at)}


def sample_view(row: MeterValue | LatestReading) -> dict[str, Any]:
    return {"timestamp": iso(row.timestamp), "connector_id": row.connector_id,
            "transaction_id": row.transaction_id, "measurand": row.measurand,
            "value": row.value, "numeric_value": row.numeric_value, "unit": row.unit,
            "phase": row.phase or None, "location": row.location or None,
            "context": getattr(row, "context", None)}


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise bad_request("cursor", "is not a cursor this API handed out") from None


class Page:
    """``limit`` with either ``cursor`` (stable under inserts) or ``offset``."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.limit = int_field(params, "limit", default=50, minimum=1, maximum=1000)
        self.offset = int_field(params, "offset", minimum=0)
        raw = params.get("cursor")
        if raw is not None and self.offset is not None:
            raise bad_request("cursor", "give cursor or offset, not both")
        self.cursor = decode_cursor(raw) if raw else None

    def answer(self, rows: list[Any], total: int, last_key: Any) -> dict[str, Any]:
        more = len(rows) > self.limit
        return {"limit": self.limit, "total": total, "offset": self.offset,
                "next_cursor": encode_cursor(last_key) if more else None}


# -- devices ----------------------------------------------------------------------------


def owner_version(params: dict[str, Any]) -> str | None:
    owner = params.get("owner")
    if owner is None:
        return None
    if owner.lower() not in OWNERS:
        raise bad_request("owner", "must be ocpp16 or ocpp201")
    return OWNERS[owner.lower()]


DEVICE = s.obj(["device", "station_id", "owner", "connected", "last_seen"], device=s.STRING,
               station_id=s.STRING, owner=s.NULLABLE_STRING, connected=s.BOOLEAN,
               last_seen=s.TIMESTAMP)


def _device(row: Station, live: Any) -> dict[str, Any]:
    version = live.ocpp_version if live else row.ocpp_version
    return {"device": row.id, "station_id": row.id, "owner": OWNER_NAMES.get(version or ""),
            "ocpp_version": version, "connected": live is not None,
            "last_seen": iso(live.last_seen_at if live else row.last_seen_at),
            "disconnected_at": None if live else iso(row.disconnected_at)}


@operation("Devices that sent messages within the last hour (owner = OCPP version)", tags=TAGS,
           parameters=[query("owner", s.enum("ocpp16", "ocpp201")),
                       query("minutes", {"type": "number", "minimum": 0, "maximum": 525600},
                             description="window (default 60)")],
           response=s.obj(["devices", "count"], devices=s.array(DEVICE), count=s.INTEGER))
async def connected_devices(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    version = owner_version(params)
    minutes = number_field(params, "minutes", default=60.0, maximum=525600)
    since = utcnow() - timedelta(minutes=minutes)
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(Station).order_by(Station.id))).scalars().all()
    devices = []
    for row in rows:
        live = hub.stations.get(row.id)
        seen = live.last_seen_at if live else row.last_seen_at
        if seen is None or seen < since:
            continue
        device = _device(row, live)
        if version is None or device["ocpp_version"] == version:
            devices.append(device)
    return web.json_response({"devices": devices, "count": len(devices),
                              "since": iso(since)})


@operation("Known devices that are not connected now", tags=TAGS,
           parameters=[query("owner", s.enum("ocpp16", "ocpp201"))],
           response=s.obj(["devices", "count"], devices=s.array(DEVICE), count=s.INTEGER))
async def disconnected_devices(request: web.Request) -> web.Response:
    hub = hub_of(request)
    version = owner_version(dict(request.query))
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(Station).order_by(Station.id))).scalars().all()
    devices = [_device(row, None) for row in rows if row.id not in hub.stations
               and (version is None or row.ocpp_version == version)]
    return web.json_response({"devices": devices, "count": len(devices)})


@operation("Latest and recent meter values of a device", tags=TAGS,
           parameters=[s.path("device", s.STATION_ID), query("connector_id", s.CONNECTOR_ID),
                       s.LIMIT_QUERY],
           response=s.obj(["device", "latest", "recent"], device=s.STRING,
                          latest=s.array(s.METER_SAMPLE), recent=s.array(s.METER_SAMPLE)),
           responses=s.NOT_FOUND)
async def meter(request: web.Request) -> web.Response:
    hub = hub_of(request)
    device = request.match_info["device"]
    params = dict(request.query)
    connector_id = int_field(params, "connector_id")
    limit = int_field(params, "limit", default=50, minimum=1, maximum=1000)
    await require_station(hub, device)
    latest = sa.select(LatestReading).where(LatestReading.station_id == device)
    recent = sa.select(MeterValue).where(MeterValue.station_id == device)
    if connector_id is not None:
        latest = latest.where(LatestReading.connector_id == connector_id)
        recent = recent.where(MeterValue.connector_id == connector_id)
    async with hub.sessions() as session:
        latest_rows = (await session.execute(latest.order_by(
            LatestReading.connector_id, LatestReading.measurand, LatestReading.phase))).scalars()
        latest_views = [sample_view(r) for r in latest_rows]
        recent_rows = (await session.execute(recent.order_by(
            MeterValue.timestamp.desc(), MeterValue.id.desc()).limit(limit))).scalars()
        recent_views = [sample_view(r) for r in recent_rows]
    return web.json_response({"device": device, "station_id": device, "latest": latest_views,
                              "recent": recent_views})


# -- tokens (id tags) ---------------------------------------------------------------------


@operation("Id tags, paginated by cursor or offset", tags=TAGS, parameters=s.PAGE_QUERIES,
           response=s.obj(["tokens", "limit", "next_cursor"], tokens=s.array(s.TOKEN),
                          **s.PAGE))
async def list_tokens(request: web.Request) -> web.Response:
    hub = hub_of(request)
    page = Page(dict(request.query))
    stmt = sa.select(IdTag).order_by(IdTag.id_tag)
    if page.cursor is not None:
        stmt = stmt.where(IdTag.id_tag > str(page.cursor))
    if page.offset:
        stmt = stmt.offset(page.offset)
    async with hub.sessions() as session:
        rows = list((await session.execute(stmt.limit(page.limit + 1))).scalars())
        total = (await session.execute(sa.select(sa.func.count()).select_from(IdTag))).scalar()
    shown = rows[:page.limit]
    return web.json_response({"tokens": [token_view(t) for t in shown],
                              **page.answer(rows, total, shown[-1].id_tag if shown else None)})


def _items(body: Any, name: str) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get(name), list):
        items = body[name]
    elif isinstance(body, list):
        items = body
    else:
        items = [body]
    if not items or len(items) > MAX_BATCH:
        raise bad_request(name, f"give 1 to {MAX_BATCH} entries")
    return items


def _each(items: list[Any], name: str, parse: Any) -> list[Any]:
    parsed = []
    for index, item in enumerate(items):
        where = f"{name}[{index}]" if len(items) > 1 else name
        if not isinstance(item, dict):
            raise bad_request(where, "must be an object")
        try:
            parsed.append(parse(item))
        except ApiError as exc:
            raise bad_request(f"{where}.{exc.fields.get('field')}",
                              exc.detail.split(": ", 1)[-1]) from None
    return parsed


def _parse_token(item: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {"id_tag": text_field(item, "uid", "id_tag", "idTag",
                                                   max_length=36)}
    parent = pick(item, "parent_id_tag", "parentIdTag")
    if parent is not MISSING:
        values["parent_id_tag"] = text_field(item, "parent_id_tag", "parentIdTag",
                                             max_length=36)
    if pick(item, "expiry_date", "expiryDate") is not MISSING:
        values["expiry_date"] = timestamp_field(item, "expiry_date", "expiryDate")
    blocked = bool_field(item, "blocked")
    valid = bool_field(item, "valid")
    if blocked is not None and valid is not None and blocked == valid:
        raise bad_request("valid", "contradicts blocked")
    if blocked is not None or valid is not None:
        values["blocked"] = blocked if blocked is not None else not valid
    return values


@operation("Create or update id tags (one object, a list, or {tokens: [...]})", tags=TAGS,
           body={"oneOf": [s.TOKEN_INPUT, s.array(s.TOKEN_INPUT),
                           s.obj(["tokens"], tokens=s.array(s.TOKEN_INPUT))]},
           response=s.obj(["tokens", "created", "updated"], tokens=s.array(s.TOKEN),
                          created=s.INTEGER, updated=s.INTEGER))
async def put_tokens(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await read_json(request)
    parsed = _each(_items(body, "tokens"), "tokens", _parse_token)
    created = updated = 0
    now = utcnow()
    async with hub.sessions() as session, session.begin():
        tags = []
        for values in {v["id_tag"]: v for v in parsed}.values():
            tag = await session.get(IdTag, values["id_tag"])
            if tag is None:
                tag = IdTag(**{"blocked": False, **values}, created_at=now)
                session.add(tag)
                created += 1
            else:
                for key, value in values.items():
                    setattr(tag, key, value)
                updated += 1
            tag.updated_at = now
            tags.append(tag)
    hub.id_tag_cache.forget(t.id_tag for t in tags)
    return web.json_response({"tokens": [token_view(t) for t in tags], "created": created,
                              "updated": updated})


# -- sessions (transactions) ----------------------------------------------------------------


@operation("Charging sessions (transactions), newest first", tags=TAGS,
           parameters=[query("stationId", s.STATION_ID),
                       query("status", s.enum("active", "completed")), *s.PAGE_QUERIES],
           response=s.obj(["sessions", "limit", "next_cursor"], sessions=s.array(s.SESSION),
                          **s.PAGE))
async def list_sessions(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    page = Page(params)
    status = params.get("status")
    if status not in (None, "active", "completed"):
        raise bad_request("status", "must be active or completed")
    station_id = text_field(params, "stationId", "station_id", required=False, max_length=48)
    where = []
    if station_id is not None:
        where.append(Transaction.station_id == station_id)
    if status is not None:
        where.append(Transaction.status == status)
    stmt = sa.select(Transaction).where(*where).order_by(Transaction.id.desc())
    if page.cursor is not None:
        if isinstance(page.cursor, bool) or not isinstance(page.cursor, int):
            raise bad_request("cursor", "is not a cursor this API handed out")
        stmt = stmt.where(Transaction.id < page.cursor)
    if page.offset:
        stmt = stmt.offset(page.offset)
    async with hub.sessions() as session:
        rows = list((await session.execute(stmt.limit(page.limit + 1))).scalars())
        total = (await session.execute(sa.select(sa.func.count()).select_from(
            Transaction).where(*where))).scalar()
    shown = rows[:page.limit]
    return web.json_response({"sessions": [session_view(r) for r in shown],
                              **page.answer(rows, total, shown[-1].id if shown else None)})


def _parse_session(item: dict[str, Any]) -> dict[str, Any]:
    stop = {
        "meter_stop": int_field(item, "meter_stop", "meterStop", minimum=None,
                                maximum=2**63 - 1),
        "stop_timestamp": timestamp_field(item, "stop_timestamp", "stopTimestamp", "stop"),
        "reason": text_field(item, "stop_reason", "stopReason", "reason", required=False,
                             max_length=32),
    }
    status = pick(item, "status", default=None)
    if status not in (None, "active", "completed"):
        raise bad_request("status", "must be active or completed")
    wants_stop = status == "completed" or any(v is not None for v in stop.values())
    if "id" in item or "transaction_id" in item:
        tx_id = int_field(item, "id", "transaction_id", required=True, minimum=1)
        if not wants_stop:
            raise bad_request("status", "an existing session can only be stopped "
                                        "(status completed and/or meter_stop, stop_timestamp)")
        return {"id": tx_id, "stop": stop}
    start = timestamp_field(item, "start_timestamp", "startTimestamp", "start")
    return {
        "id": None, "stop": stop if wants_stop else None,
        "station_id": text_field(item, "station_id", "stationId", max_length=48),
        "connector_id": int_field(item, "connector_id", "connectorId", required=True, minimum=1),
        "id_tag": text_field(item, "id_tag", "idTag", required=False, max_length=36),
        "meter_start": int_field(item, "meter_start", "meterStart", minimum=None,
                                 maximum=2**63 - 1),
        "start": start or utcnow(),
    }


@operation("Create sessions, or stop existing ones (one object, a list, or {sessions: [...]})",
           tags=TAGS, body={"oneOf": [s.SESSION_INPUT, s.array(s.SESSION_INPUT),
                                      s.obj(["sessions"], sessions=s.array(s.SESSION_INPUT))]},
           response=s.obj(["sessions", "created", "updated", "unchanged"],
                          sessions=s.array(s.SESSION), created=s.INTEGER, updated=s.INTEGER,
                          unchanged=s.INTEGER),
           responses=s.NOT_FOUND)
async def upsert_sessions(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await read_json(request)
    entries = _each(_items(body, "sessions"), "sessions", _parse_session)
    # Check every reference before changing anything.
    async with hub.sessions() as session:
        for entry in entries:
            if entry["id"] is None:
                await require_station(hub, entry["station_id"])
            else:
                row = await session.get(Transaction, entry["id"])
                if row is None:
                    raise ApiError(404, "unknown_session", f"session {entry['id']} not found",
                                   id=entry["id"])
                entry["station_id"] = row.station_id
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    ids = []
    for entry in entries:
        tx_id = entry["id"]
        if tx_id is None:
            started = await transactions.start_transaction(
                hub, entry["station_id"], entry["connector_id"], entry["id_tag"],
                entry["meter_start"], entry["start"])
            tx_id = started.transaction_id
            counts["created" if not started.duplicate else "unchanged"] += 1
        if entry["stop"] is not None:
            stop = entry["stop"]
            stopped = await transactions.stop_transaction(
                hub, entry["station_id"], tx_id, stop["meter_stop"],
                stop["stop_timestamp"] or utcnow(), reason=stop["reason"] or "Other")
            if entry["id"] is not None:
                counts["unchanged" if stopped.already_stopped else "updated"] += 1
        ids.append(tx_id)
    async with hub.sessions() as session:
        rows = {r.id: r for r in (await session.execute(
            sa.select(Transaction).where(Transaction.id.in_(ids)))).scalars()}
    return web.json_response({"sessions": [session_view(rows[i]) for i in ids], **counts})


@operation("One session with its meter values: by transaction_id, or the active session of "
           "station_id (and connector_id)", tags=TAGS,
           parameters=[query("transaction_id", s.INTEGER), query("station_id", s.STATION_ID),
                       query("connector_id", s.CONNECTOR_ID)],
           response=s.obj(["session", "meter_values"], session=s.SESSION,
                          meter_values=s.array(s.METER_SAMPLE)),
           responses=s.NOT_FOUND)
async def get_session(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    tx_id = int_field(params, "transaction_id", "transactionId", "session_id", minimum=1)
    station_id = text_field(params, "station_id", "stationId", required=False, max_length=48)
    connector_id = int_field(params, "connector_id", "connectorId")
    if tx_id is None and station_id is None:
        raise bad_request("transaction_id", "give transaction_id or station_id")
    stmt = sa.select(Transaction)
    if tx_id is not None:
        stmt = stmt.where(Transaction.id == tx_id)
    else:
        stmt = stmt.where(Transaction.station_id == station_id, Transaction.status == "active")
        if connector_id is not None:
            stmt = stmt.where(Transaction.connector_id == connector_id)
    async with hub.sessions() as session:
        row = (await session.execute(stmt.order_by(Transaction.id.desc()).limit(1))).scalar()
        if row is None:
            raise ApiError(404, "unknown_session", "no such session",
                           transaction_id=tx_id, station_id=station_id)
        samples = (await session.execute(sa.select(MeterValue).where(
            MeterValue.transaction_id == row.id, MeterValue.station_id == row.station_id
        ).order_by(MeterValue.timestamp.desc(), MeterValue.id.desc()).limit(500))).scalars()
        views = [sample_view(m) for m in samples]
    return web.json_response({"session": session_view(row), "meter_values": views})


@operation("Charging history of one RFID (id tag), newest first", tags=TAGS,
           parameters=[query("rfId", {"type": "string", "minLength": 1, "maxLength": 36},
                             required=True), s.LIMIT_QUERY, s.OFFSET_QUERY],
           response=s.obj(["rfId", "records", "count", "total"], rfId=s.STRING,
                          records=s.array(s.SESSION), count=s.INTEGER, total=s.INTEGER))
async def charge_records_by_rfid(request: web.Request) -> web.Response:
    hub = hub_of(request)
    params = dict(request.query)
    rf_id = text_field(params, "rfId", "rfid", "id_tag", max_length=36)
    limit = int_field(params, "limit", default=50, minimum=1, maximum=1000)
    offset = int_field(params, "offset", default=0)
    where = sa.or_(Transaction.id_tag == rf_id, Transaction.stop_id_tag == rf_id)
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(Transaction).where(where).order_by(
            Transaction.id.desc()).offset(offset).limit(limit))).scalars().all()
        total = (await session.execute(sa.select(sa.func.count()).select_from(
            Transaction).where(where))).scalar()
    return web.json_response({"rfId": rf_id, "records": [session_view(r) for r in rows],
                              "count": len(rows), "total": total})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/connected", connected_devices)
    r.add_get("/api/disconnected", disconnected_devices)
    r.add_get("/api/meter/{device}", meter)
    # Id tags: /api/id-tags is the canonical name (the CLI's "token" means API tokens);
    # /tokens stays for the seed's callers. Same handlers, both in the OpenAPI document.
    for id_tags_path in ("/api/id-tags", "/tokens"):
        r.add_get(id_tags_path, list_tokens)
        r.add_put(id_tags_path, put_tokens)
    r.add_get("/sessions", list_sessions)
    r.add_post("/sessions", upsert_sessions)
    r.add_put("/sessions", upsert_sessions)
    r.add_get("/api/getsession", get_session)
    r.add_get("/Charge/GetChargeRecordsByRfId", charge_records_by_rfid)
