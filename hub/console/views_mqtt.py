"""The MQTT pages (the seed's names): the link's state, the topics seen with their last
message, the ignored topic filters (an admin edits them), subscriptions without traffic.

A thin layer over ``hub.mqtt.state``, the functions the ``/api/mqtt/*`` routes use; without
``[mqtt] url`` each page says MQTT is not configured. Topics and payloads are estate-wide, so a
user with an organisation sees only the connection state.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.console.estate import sees_whole_estate
from hub.console.guard import action, add_flash, current_user, page, take_flash
from hub.console.render import render, see
from hub.console.users import ADMIN
from hub.mqtt.link import MqttLink
from hub.mqtt.routes import MQTT
from hub.mqtt.state import (
    MAX_IGNORED,
    IgnoredTopicsError,
    link_status,
    set_ignored,
    silent_subscriptions,
    topics_seen,
)

IGNORE_PAGE = "/console/op_energymqtt_ignore"


def _link(request: web.Request) -> MqttLink:
    return request.config_dict[MQTT]


def _refused(request: web.Request) -> web.Response | None:
    """A 403 page for a user who may not see the whole estate's topics, else None."""
    if sees_whole_estate(current_user(request).organisation_key):
        return None
    return render(request, "mqtt_estate_only.html", http_status=403)


def _mqtt_page(request: web.Request, template: str, http_status: int = 200,
               **context: Any) -> web.Response:
    link = _link(request)
    return render(request, template, http_status=http_status, enabled=link.enabled,
                  connected=link.state.connected, **context)


@page("MQTT: connection state, broker, counters")
async def mqtt_status(request: web.Request) -> web.Response:
    return _mqtt_page(request, "mqtt_status.html", status=link_status(_link(request)),
                      whole=sees_whole_estate(current_user(request).organisation_key))


@page("MQTT: topics seen, with the last message of each")
async def energy_topics(request: web.Request) -> web.Response:
    if (refused := _refused(request)) is not None:
        return refused
    return _mqtt_page(request, "energymqtt.html", topics=topics_seen(_link(request)))


@page("MQTT: the topic filters whose messages go to nobody (an admin edits them)")
async def ignored_topics(request: web.Request, problem: IgnoredTopicsError | None = None,
                         text: str | None = None, http_status: int = 200) -> web.Response:
    if (refused := _refused(request)) is not None:
        return refused
    link = _link(request)
    return _mqtt_page(request, "energymqtt_ignore.html", http_status=http_status,
                      ignored=link.ignored, problem=problem, flash=await take_flash(request),
                      text="\n".join(link.ignored) if text is None else text,
                      may_edit=current_user(request).may(ADMIN), limit=MAX_IGNORED)


@action("MQTT: replace the ignored topic filters (admin; one filter a line)",
        {"topics": {"type": "string", "description": "topic filters, one a line"}},
        {"csrf": "c5...", "topics": "tele/+/LWT\nsite-1/meters/test"}, role=ADMIN)
async def save_ignored_topics(request: web.Request) -> web.Response:
    form = await request.post()
    raw = form.get("topics", "")
    text = raw if isinstance(raw, str) else ""
    topics = [line.strip() for line in text.splitlines() if line.strip()]
    if (refused := _refused(request)) is not None:
        return refused
    try:
        saved = set_ignored(_link(request), topics)
    except IgnoredTopicsError as exc:
        return await ignored_topics(request, problem=exc, text=text, http_status=400)
    await add_flash(request, "ok", "{count} ignored topic filters saved.", {"count": len(saved)})
    return see(IGNORE_PAGE)


@page("MQTT: subscriptions without traffic (meters that sent nothing yet)")
async def silent_topics(request: web.Request) -> web.Response:
    if (refused := _refused(request)) is not None:
        return refused
    return _mqtt_page(request, "energymqtt_disconnected.html",
                      silent=silent_subscriptions(_link(request)))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/op_mqtt_status", mqtt_status, name="op_mqtt_status")
    r.add_get("/op_energymqtt", energy_topics, name="op_energymqtt")
    r.add_get("/op_energymqtt_ignore", ignored_topics, name="op_energymqtt_ignore")
    r.add_post("/op_energymqtt_ignore", save_ignored_topics)
    r.add_get("/op_energymqtt_disconnected", silent_topics, name="op_energymqtt_disconnected")
