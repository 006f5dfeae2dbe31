"""Write routes of the backoffice: sites, local controller, fuse tree, chargers, ports.

Each write is one transaction that first bumps the site's version (``writes.lock_site``), so
concurrent edits of a site are serialised; send ``If-Match: "<version>"`` (the ETag of your last
read) to have an edit refused with 412 when someone else changed the site meanwhile. Every
answer is the whole site as it is after the write, with its new ETag.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import requires_scope
from hub.db.group_commit import emit
from hub.errors import ApiError, bad_request
from hub.events import EvseDataChanged
from hub.feature_api import HUB
from hub.json_body import read_json
from hub.openapi import operation
from sites_api import inputs, writes
from sites_api.fields import parse
from sites_api.load.runner import LOAD
from sites_api.readmodel import load_site
from sites_api.routes import SITE_PATH, scope_of, site_answer, site_id_of, site_response
from sites_api.schemas import ref

WRITE = "sites:write"
TAGS = ["sites"]
_ETAG = re.compile(r'^(W/)?"(\d{1,18})"$')
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
             "description": "the ETag of your last read; 412 when the site changed since",
             "schema": {"type": "string"}}
_RESPONSES = {"404": {"description": "no such site, charger, port or node"},
              "409": {"description": "a concurrent write took the same unique value"},
              "412": {"description": "If-Match does not match the site's version"}}

Work = Callable[[AsyncConnection], Awaitable[Any]]


def if_match(request: web.Request) -> int | None:
    value = request.headers.get("If-Match")
    if value is None or value.strip() == "*":
        return None
    found = _ETAG.match(value.strip())
    if found is None:
        raise bad_request("If-Match", 'must be an ETag of this API, e.g. "3"')
    return int(found.group(2))


async def body_of(request: web.Request) -> Any:
    """The JSON body (object or array; the caller checks which), or 400 naming ``body``."""
    return await read_json(request)


async def _transaction(request: web.Request, work: Work, evse_data: bool = False) -> Any:
    """Run ``work`` in one transaction. ``evse_data``: the write may change what roaming
    publishes about EVSEs (EvseDataChanged runs in the same transaction, so that e.g. an OICP
    outbox row exists exactly when the change does)."""
    hub = request.app[HUB]
    event = EvseDataChanged(reason=f"{request.method} {request.path}") if evse_data else None
    try:
        # Its own transaction, not a batch: the checks in ``work`` answer 4xx by raising.
        async with hub.committer.transaction() as conn:
            result = await work(conn)
            if event is not None:
                await emit(conn, event)
    except sa.exc.IntegrityError as exc:
        # The checks ran first; only a concurrent write of the same unique value lands here.
        raise ApiError(409, "conflict", "a concurrent write conflicted with this one; "
                                        "reload and retry") from exc
    return result


async def _site_write(request: web.Request, work: Work, status: int = 200,
                      location: Callable[[Any], str] | None = None,
                      evse_data: bool = False) -> web.Response:
    """Run ``work`` after locking the site, answer with the site after the write."""
    scope = scope_of(request)
    site_id = site_id_of(request)
    expected = if_match(request)

    async def locked(conn: AsyncConnection) -> tuple[Any, dict[str, Any] | None]:
        await writes.lock_site(conn, scope, site_id, expected)
        result = await work(conn)
        # Read in the write's transaction, under the site's lock: read after the commit, the
        # answer (and its ETag) could show a concurrent write that committed meanwhile, or,
        # on PostgreSQL (a snapshot per statement), parts of both.
        site = await conn.run_sync(lambda sync: load_site(sync, scope, site_id))
        return result, site

    result, site = await _transaction(request, locked, evse_data)
    _load_changed(request, site_id)
    headers = {"Location": location(result)} if location else None
    return site_answer(request.app, site, site_id, status, headers)


def _load_changed(request: web.Request, site_id: int) -> None:
    """Tree edits re-plan the site (the load manager reads the tree again)."""
    manager = request.app.get(LOAD)
    if manager is not None:
        manager.site_changed(site_id)


def _site_doc(summary: str, body: str | None = None, status: int = 200) -> Any:
    return operation(summary, tags=TAGS, parameters=[_IF_MATCH],
                     body=ref(body) if body else None, response=ref("Site"),
                     responses=_RESPONSES, status=status)


# -- sites -----------------------------------------------------------------------------------


@requires_scope(WRITE)
@operation("Create a site (optionally with local controller, fuse tree, chargers and ports)",
           tags=TAGS, body=ref("SiteInput"), response=ref("Site"), status=201,
           responses={"409": _RESPONSES["409"]})
async def create_site(request: web.Request) -> web.Response:
    body = inputs.parse_site_create(await body_of(request))
    scope = scope_of(request)
    site_id = await _transaction(request, lambda conn: writes.create_site(conn, scope, body),
                                 evse_data=True)
    _load_changed(request, site_id)
    return await site_response(request.app, scope, site_id, 201,
                               {"Location": f"/sites/{site_id}"})


@requires_scope(WRITE)
@_site_doc("Update a site's own fields (name, address, timezone, ...)", "SitePatch")
async def patch_site(request: web.Request) -> web.Response:
    values = parse(await body_of(request), inputs.SITE_FIELDS, partial=True)
    if "timezone" in values and values["timezone"] is None:
        raise bad_request("timezone", "must not be null")
    if "status" in values and values["status"] is None:
        raise bad_request("status", "must not be null")
    return await _site_write(request, lambda conn: writes.update_site(
        conn, site_id_of(request), values), evse_data=True)


@requires_scope(WRITE)
@operation("Delete a site and everything on it", tags=TAGS, parameters=[_IF_MATCH],
           responses=_RESPONSES, status=204)
async def delete_site(request: web.Request) -> web.Response:
    scope, site_id, expected = scope_of(request), site_id_of(request), if_match(request)
    await _transaction(request, lambda conn: writes.delete_site(conn, scope, site_id, expected),
                       evse_data=True)
    _load_changed(request, site_id)
    return web.Response(status=204)


# -- local controller ------------------------------------------------------------------------


@requires_scope(WRITE)
@_site_doc("Set the site's local controller", "LocalControllerInput")
async def put_local_controller(request: web.Request) -> web.Response:
    values = parse(await body_of(request), inputs.LOCAL_CONTROLLER_FIELDS)
    return await _site_write(request, lambda conn: writes.put_local_controller(
        conn, site_id_of(request), values))


@requires_scope(WRITE)
@_site_doc("Remove the site's local controller")
async def delete_local_controller(request: web.Request) -> web.Response:
    return await _site_write(request, lambda conn: writes.delete_local_controller(
        conn, site_id_of(request)))


# -- fuse tree -------------------------------------------------------------------------------


@requires_scope(WRITE)
@operation("Replace the whole fuse tree", tags=TAGS, parameters=[_IF_MATCH],
           body={"type": "array", "items": ref("FuseNodeInput")}, response=ref("Site"),
           responses=_RESPONSES)
async def put_fuse_tree(request: web.Request) -> web.Response:
    nodes = inputs.parse_fuse_tree(await body_of(request), "fuse_tree")
    return await _site_write(request, lambda conn: writes.replace_tree(
        conn, scope_of(request), site_id_of(request), nodes))


def _node_id(value: Any, name: str) -> int | None:
    return inputs.parse_node_id(value, name)


@requires_scope(WRITE)
@_site_doc("Add a node (with its subtree) to the fuse tree", "FuseNodeCreate", 201)
async def add_fuse_node(request: web.Request) -> web.Response:
    body = await body_of(request)
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    parent_id = _node_id(body.get("parent_id"), "parent_id")
    node = inputs.parse_node({k: v for k, v in body.items() if k != "parent_id"})
    scope, site_id = scope_of(request), site_id_of(request)
    return await _site_write(
        request, lambda conn: writes.add_node(conn, scope, site_id, parent_id, node), 201,
        lambda node_id: f"/sites/{site_id}/fuse-tree/nodes/{node_id}")


@requires_scope(WRITE)
@_site_doc("Edit one fuse tree node: type, parameters (partial), or move it", "FuseNodePatch")
async def patch_fuse_node(request: web.Request) -> web.Response:
    body = await body_of(request)
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    move_to = None
    if "parent_id" in body:
        move_to = (_node_id(body["parent_id"], "parent_id"),)
    rest = parse({k: v for k, v in body.items() if k != "parent_id"},
                 {k: f for k, f in inputs.NODE_PATCH_FIELDS.items() if k != "parent_id"},
                 partial=True)
    values: dict[str, Any] = {}
    if rest.get("type") is not None:
        values["type"] = rest["type"]
    elif "type" in rest:
        raise bad_request("type", "must not be null")
    connectors = None
    if rest.get("parameters") is not None:
        params, connectors = inputs.parse_parameters(rest["parameters"], "parameters",
                                                     partial=True)
        values.update(params)
    node_id = int(request.match_info["node_id"])
    return await _site_write(request, lambda conn: writes.update_node(
        conn, scope_of(request), site_id_of(request), node_id, values, connectors, move_to))


@requires_scope(WRITE)
@_site_doc("Remove a fuse tree node and its subtree")
async def delete_fuse_node(request: web.Request) -> web.Response:
    node_id = int(request.match_info["node_id"])
    return await _site_write(request, lambda conn: writes.delete_node(
        conn, site_id_of(request), node_id))


# -- chargers and ports ----------------------------------------------------------------------


@requires_scope(WRITE)
@_site_doc("Add a charger (optionally with its ports)", "ChargerInput", 201)
async def add_charger(request: web.Request) -> web.Response:
    body = inputs.parse_charger_create(await body_of(request))
    site_id = site_id_of(request)

    async def work(conn: AsyncConnection) -> int:
        refs = writes.References(scope_of(request))
        charger_id = await writes.insert_charger(conn, site_id, body, "", refs)
        await refs.check(conn)
        return charger_id

    return await _site_write(request, work, 201,
                             lambda charger_id: f"/sites/{site_id}/chargers/{charger_id}",
                             evse_data=True)


@requires_scope(WRITE)
@_site_doc("Update a charger", "ChargerPatch")
async def patch_charger(request: web.Request) -> web.Response:
    values = parse(await body_of(request), inputs.CHARGER_FIELDS, partial=True)
    for name in ("name", "type"):
        if name in values and values[name] is None:
            raise bad_request(name, "must not be null")
    scope, charger_id = scope_of(request), int(request.match_info["charger_id"])
    return await _site_write(request, lambda conn: writes.update_charger(
        conn, scope, site_id_of(request), charger_id, values), evse_data=True)


@requires_scope(WRITE)
@_site_doc("Remove a charger and its ports")
async def delete_charger(request: web.Request) -> web.Response:
    return await _site_write(request, lambda conn: writes.delete_charger(
        conn, site_id_of(request), int(request.match_info["charger_id"])), evse_data=True)


@requires_scope(WRITE)
@_site_doc("Add a port to a charger", "PortInput", 201)
async def add_port(request: web.Request) -> web.Response:
    body = parse(await body_of(request), inputs.PORT_FIELDS)
    site_id, charger_id = site_id_of(request), int(request.match_info["charger_id"])
    scope = scope_of(request)
    return await _site_write(
        request, lambda conn: writes.create_port(conn, scope, site_id, charger_id, body), 201,
        lambda port_id: f"/sites/{site_id}/chargers/{charger_id}/ports/{port_id}",
        evse_data=True)


@requires_scope(WRITE)
@_site_doc("Update a port", "PortPatch")
async def patch_port(request: web.Request) -> web.Response:
    values = parse(await body_of(request), inputs.PORT_FIELDS, partial=True)
    for name in ("name", "port_number", "connector_type"):
        if name in values and values[name] is None:
            raise bad_request(name, "must not be null")
    return await _site_write(request, lambda conn: writes.update_port(
        conn, scope_of(request), site_id_of(request), int(request.match_info["charger_id"]),
        int(request.match_info["port_id"]), values), evse_data=True)


@requires_scope(WRITE)
@_site_doc("Remove a port")
async def delete_port(request: web.Request) -> web.Response:
    return await _site_write(request, lambda conn: writes.delete_port(
        conn, site_id_of(request), int(request.match_info["charger_id"]),
        int(request.match_info["port_id"])), evse_data=True)


def add_write_routes(app: web.Application) -> None:
    site = SITE_PATH
    charger = site + r"/chargers/{charger_id:\d{1,18}}"
    node = site + r"/fuse-tree/nodes/{node_id:\d{1,18}}"
    r = app.router
    r.add_post("/sites", create_site)
    r.add_patch(site, patch_site)
    r.add_delete(site, delete_site)
    r.add_put(site + "/local-controller", put_local_controller)
    r.add_delete(site + "/local-controller", delete_local_controller)
    r.add_put(site + "/fuse-tree", put_fuse_tree)
    r.add_post(site + "/fuse-tree/nodes", add_fuse_node)
    r.add_patch(node, patch_fuse_node)
    r.add_delete(node, delete_fuse_node)
    r.add_post(site + "/chargers", add_charger)
    r.add_patch(charger, patch_charger)
    r.add_delete(charger, delete_charger)
    r.add_post(charger + "/ports", add_port)
    r.add_patch(charger + r"/ports/{port_id:\d{1,18}}", patch_port)
    r.add_delete(charger + r"/ports/{port_id:\d{1,18}}", delete_port)
