"""The MQTT state routes (what the seed's dashboard shows on its MQTT pages), as JSON.

- ``GET /api/mqtt/status``: broker, connected or not, counters;
- ``GET /api/mqtt/topics``: every topic seen, with its last message;
- ``GET``/``PUT /api/mqtt/ignored-topics``: topic filters whose messages go to nobody;
- ``GET /api/mqtt/silent``: subscriptions (e.g. site meters) that received nothing yet.

Reads admit ``read`` tokens; changing the ignored list needs an admin token.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from hub.errors import bad_request
from hub.json_body import read_json
from hub.mqtt.link import MqttLink
from hub.mqtt.state import (
    IgnoredTopicsError,
    link_status,
    set_ignored,
    silent_subscriptions,
    topics_seen,
)
from hub.openapi import operation
from hub.services.timestamps import format_timestamp

MQTT = web.AppKey("mqtt_link", MqttLink)
TAGS = ["mqtt"]
TIME = {"type": ["string", "null"], "format": "date-time"}
STATUS = {"type": "object", "required": ["enabled", "connected"], "properties": {
    "enabled": {"type": "boolean", "description": "false: no [mqtt] url, no broker"},
    "broker": {"type": ["string", "null"], "description": "host:port (no credentials)"},
    "client_id": {"type": "string"}, "connected": {"type": "boolean"},
    "connected_since": TIME, "last_error": {"type": ["string", "null"]},
    "connects": {"type": "integer"}, "published": {"type": "integer"},
    "queued": {"type": "integer"}, "dropped": {"type": "integer"},
    "received": {"type": "integer"}, "ignored_messages": {"type": "integer"},
    "subscriptions": {"type": "integer"}, "topic_prefix": {"type": "string"}}}
TOPICS = {"type": "object", "required": ["topics"], "properties": {"topics": {
    "type": "array", "items": {"type": "object", "properties": {
        "topic": {"type": "string"}, "messages": {"type": "integer"}, "last_at": TIME,
        "last_payload": {"type": "string", "description": "the first 1 KiB, as text"},
        "ignored": {"type": "boolean"},
        "subscribers": {"type": "array", "items": {"type": "string"}}}}}}}
FILTERS = {"type": "object", "required": ["topics"], "additionalProperties": False,
           "properties": {"topics": {"type": "array", "maxItems": 1000, "items": {
               "type": "string", "minLength": 1, "maxLength": 1024,
               "examples": ["tele/+/LWT"]}}}}
SILENT = {"type": "object", "required": ["subscriptions"], "properties": {"subscriptions": {
    "type": "array", "items": {"type": "object", "properties": {
        "topic": {"type": "string"}, "label": {"type": "string"}}}}}}


def _time(value: Any) -> str | None:
    return format_timestamp(value) if value is not None else None


@operation("MQTT connection state: broker, connected, counters", tags=TAGS, response=STATUS)
async def get_status(request: web.Request) -> web.Response:
    status = asdict(link_status(request.app[MQTT]))
    status["connected_since"] = _time(status["connected_since"])
    return web.json_response(status)


@operation("MQTT topics seen, with the last message of each", tags=TAGS, response=TOPICS)
async def get_topics(request: web.Request) -> web.Response:
    return web.json_response({"topics": [
        {**asdict(view), "last_at": _time(view.last_at)}
        for view in topics_seen(request.app[MQTT])]})


@operation("MQTT topic filters whose messages are counted but handed to nobody", tags=TAGS,
           response=FILTERS)
async def get_ignored(request: web.Request) -> web.Response:
    return web.json_response({"topics": request.app[MQTT].ignored})


@operation("Replace the list of ignored MQTT topic filters (admin)", tags=TAGS, body=FILTERS,
           response=FILTERS)
async def put_ignored(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    for name in body:
        if name != "topics":
            raise bad_request(name, "unknown field")
    try:
        return web.json_response({"topics": set_ignored(request.app[MQTT], body.get("topics"))})
    except IgnoredTopicsError as exc:
        raise bad_request(exc.field, exc.message) from None


@operation("MQTT subscriptions without traffic (e.g. meters that sent nothing yet)", tags=TAGS,
           response=SILENT)
async def get_silent(request: web.Request) -> web.Response:
    return web.json_response({"subscriptions": [
        asdict(s) for s in silent_subscriptions(request.app[MQTT])]})


def add_routes(app: web.Application) -> list[web.AbstractRoute]:
    r = app.router
    return [r.add_get("/api/mqtt/status", get_status), r.add_get("/api/mqtt/topics", get_topics),
            r.add_get("/api/mqtt/ignored-topics", get_ignored),
            r.add_put("/api/mqtt/ignored-topics", put_ignored),
            r.add_get("/api/mqtt/silent", get_silent)]
