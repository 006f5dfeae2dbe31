"""The MQTT state routes (what the seed's dashboard shows on its MQTT pages), as JSON.

- ``GET /api/mqtt/status``: broker, connected or not, counters;
- ``GET /api/mqtt/topics``: every topic seen, with its last message;
- ``GET``/``PUT /api/mqtt/ignored-topics``: topic filters whose messages go to nobody;
- ``GET /api/mqtt/silent``: subscriptions (e.g. site meters) that received nothing yet.

Reads admit ``read`` tokens; changing the ignored list needs an admin token.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.errors import bad_request
from hub.json_body import read_json
from hub.mqtt.link import WATCHED, MqttLink, topic_matches
from hub.mqtt.settings import filter_problem
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
    link = request.app[MQTT]
    state, url = link.state, link.settings.broker
    return web.json_response({
        "enabled": link.enabled,
        "broker": f"{url.host}:{url.port}" if link.enabled else None,
        "client_id": link.client_id, "connected": state.connected,
        "connected_since": _time(state.connected_since), "last_error": state.last_error,
        "connects": state.connects, "published": state.published,
        "queued": link.queued, "dropped": state.dropped, "received": state.received,
        "ignored_messages": state.ignored, "subscriptions": len(link.subscriptions),
        "topic_prefix": link.settings.topic_prefix})


@operation("MQTT topics seen, with the last message of each", tags=TAGS, response=TOPICS)
async def get_topics(request: web.Request) -> web.Response:
    link = request.app[MQTT]
    topics = [{
        "topic": topic, "messages": seen.messages, "last_at": _time(seen.last_at),
        "last_payload": seen.last_payload.decode("utf-8", "replace"),
        "ignored": link.is_ignored(topic),
        "subscribers": [s.label for s in link.subscriptions.values()
                        if s.label != WATCHED and topic_matches(topic, s.topic)]}
        for topic, seen in sorted(link.state.topics.items())]
    return web.json_response({"topics": topics})


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
    topics = body.get("topics")
    if not isinstance(topics, list) or len(topics) > 1000:
        raise bad_request("topics", "must be an array of at most 1000 topic filters")
    for i, topic in enumerate(topics):
        if not isinstance(topic, str) or not 0 < len(topic) <= 1024:
            raise bad_request(f"topics[{i}]", "must be a string of 1 to 1024 characters")
        problem = filter_problem(topic)
        if problem:
            raise bad_request(f"topics[{i}]", problem)
    link = request.app[MQTT]
    link.ignored = list(dict.fromkeys(topics))
    return web.json_response({"topics": link.ignored})


@operation("MQTT subscriptions without traffic (e.g. meters that sent nothing yet)", tags=TAGS,
           response=SILENT)
async def get_silent(request: web.Request) -> web.Response:
    link = request.app[MQTT]
    return web.json_response({"subscriptions": [
        {"topic": s.topic, "label": s.label}
        for s in sorted(link.subscriptions.values(), key=lambda s: s.topic)
        if not s.messages and s.label != WATCHED]})


def add_routes(app: web.Application) -> list[web.AbstractRoute]:
    r = app.router
    return [r.add_get("/api/mqtt/status", get_status), r.add_get("/api/mqtt/topics", get_topics),
            r.add_get("/api/mqtt/ignored-topics", get_ignored),
            r.add_put("/api/mqtt/ignored-topics", put_ignored),
            r.add_get("/api/mqtt/silent", get_silent)]
