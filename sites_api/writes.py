"""Writes to a site and everything it owns, each inside one database transaction.

Every write to an existing site starts with ``lock_site``: ``UPDATE sites SET version =
version + 1`` (conditional on the caller's ``If-Match`` version). That row update is the lock:
PostgreSQL makes a concurrent writer of the same site wait until we commit, SQLite has one
writer anyway, so two edits of one fuse tree never interleave, and an edit based on a stale
version is refused (412) instead of silently overwriting.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.base import utcnow
from hub.db.models import Connector, Station
from hub.errors import ApiError, bad_request
from sites_api.fields import field_name
from sites_api.inputs import MAX_TREE_DEPTH, MAX_TREE_NODES, NodeInput
from sites_api.models import (
    Charger,
    FuseNode,
    FuseNodeConnector,
    LocalController,
    Organisation,
    Port,
    Site,
)
from sites_api.readmodel import Scope

S = Site.__table__
O = Organisation.__table__  # noqa: E741
C = Charger.__table__
P = Port.__table__
LC = LocalController.__table__
FN = FuseNode.__table__
FNC = FuseNodeConnector.__table__


def not_found(what: str, ident: Any) -> ApiError:
    return ApiError(404, "not_found", f"{what} {ident} does not exist")


def _visible(scope: Scope) -> sa.ColumnElement[bool]:
    return S.c.organisation_id.in_(sa.select(O.c.id).where(scope.condition()))


async def lock_site(conn: AsyncConnection, scope: Scope, site_id: int,
                    if_match: int | None) -> int:
    """Bump the site's version (taking its row lock); return the new version."""
    stmt = (sa.update(S).where(S.c.id == site_id, _visible(scope))
            .values(version=S.c.version + 1, updated_at=utcnow()).returning(S.c.version))
    if if_match is not None:
        stmt = stmt.where(S.c.version == if_match)
    row = (await conn.execute(stmt)).first()
    if row is not None:
        return row[0]
    current = (await conn.execute(
        sa.select(S.c.version).where(S.c.id == site_id, _visible(scope)))).scalar()
    if current is None:
        raise not_found("site", site_id)
    raise ApiError(412, "precondition_failed",
                   f"site {site_id} is at version {current}, not {if_match}: reload and retry",
                   current_version=current)


# -- organisations ---------------------------------------------------------------------------


async def organisation_for_create(conn: AsyncConnection, scope: Scope, key: str | None,
                                  name: str | None) -> int:
    """The organisation a new site goes to. Organisations are created explicitly (``PUT
    /organisations/{key}``, admin), so that a mistyped key is an error, not a new one."""
    if not scope.everything:
        if scope.organisation_key is None:
            raise ApiError(403, "forbidden", "this token belongs to no organisation")
        if key is not None and key != scope.organisation_key:
            raise bad_request("organization_id", "a token may only create sites of its own "
                              "organisation")
        key = scope.organisation_key
    if key is None:
        raise bad_request("organization_id", "is required with an admin token")
    org_id = (await conn.execute(sa.select(O.c.id).where(O.c.key == key))).scalar()
    if org_id is None:
        raise bad_request("organization_id", f"unknown organisation {key!r} (an admin creates "
                          "it with PUT /organisations/{key})")
    if name:
        await conn.execute(sa.update(O).where(O.c.id == org_id).values(name=name))
    return org_id


async def ensure_organisation(conn: AsyncConnection, key: str, name: str | None) -> int:
    org_id = (await conn.execute(sa.select(O.c.id).where(O.c.key == key))).scalar()
    if org_id is None:
        org_id = (await conn.execute(sa.insert(O).values(
            key=key, name=name or key, created_at=utcnow()).returning(O.c.id))).scalar_one()
    elif name:
        await conn.execute(sa.update(O).where(O.c.id == org_id).values(name=name))
    return org_id


# -- references ------------------------------------------------------------------------------


def unknown_station(field: str, station_id: str) -> ApiError:
    """The answer for a station the caller may not use. An organisation token gets exactly
    this for a station that exists but is not its own: it learns nothing about the others."""
    return bad_request(field, f"unknown station {station_id!r} (register it with "
                              "`pnc-hub station add` or let it connect)")


class References:
    """Checks station/connector references with two queries for a whole request.

    A referenced station must be registered and, for an organisation's token, owned by that
    organisation (``stations.organisation_key``, set by an admin): an organisation attaches
    only its own stations, and an unowned station only an admin. A connector must be one the
    station reported; a station that has not reported any connector yet (configured before its
    first boot) accepts any connector number.
    """

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._wanted: list[tuple[str, str, int | None, str]] = []

    def station(self, field: str, station_id: str) -> None:
        self._wanted.append((field, station_id, None, ""))

    def connector(self, field: str, station_id: str, connector_id: int,
                  connector_field: str) -> None:
        self._wanted.append((field, station_id, connector_id, connector_field))

    def may_use(self, owner: str | None) -> bool:
        return self.scope.everything or (
            owner is not None and owner == self.scope.organisation_key)

    async def check(self, conn: AsyncConnection) -> None:
        """Check what was collected since the last check. Call it before inserting rows with
        a foreign key to a station, so that the 400 names the field, not the constraint."""
        if not self._wanted:
            return
        wanted, self._wanted = self._wanted, []
        ids = sorted({w[1] for w in wanted})
        owners = dict((await conn.execute(sa.select(Station.id, Station.organisation_key)
                                          .where(Station.id.in_(ids)))).all())
        usable = {i for i, owner in owners.items() if self.may_use(owner)}
        reported: dict[str, set[int]] = defaultdict(set)
        for station_id, connector_id in (await conn.execute(
                sa.select(Connector.station_id, Connector.connector_id).where(
                    Connector.station_id.in_(usable), Connector.connector_id > 0))).all():
            reported[station_id].add(connector_id)
        for field, station_id, connector_id, connector_field in wanted:
            if station_id not in usable:
                raise unknown_station(field, station_id)
            if connector_id is not None and reported[station_id] and (
                    connector_id not in reported[station_id]):
                raise bad_request(connector_field, f"station {station_id!r} has no connector "
                                  f"{connector_id} (it reported "
                                  f"{', '.join(map(str, sorted(reported[station_id])))})")


async def _station_free(conn: AsyncConnection, refs: References, field: str, station_id: str,
                        exclude: int | None) -> None:
    """A station sits on one charger. Whose charger holds it is told only to an admin or to
    the organisation that charger belongs to; anyone else gets the unknown-station answer."""
    stmt = (sa.select(C.c.id, O.c.key).select_from(C.join(S, S.c.id == C.c.site_id)
                                                   .join(O, O.c.id == S.c.organisation_id))
            .where(C.c.station_id == station_id))
    if exclude is not None:
        stmt = stmt.where(C.c.id != exclude)
    other = (await conn.execute(stmt.limit(1))).first()
    if other is None:
        return
    if not refs.may_use(other.key):
        raise unknown_station(field, station_id)
    raise bad_request(field, f"{station_id!r} already belongs to charger {other.id}")


async def _evse_id_free(conn: AsyncConnection, refs: References, field: str, evse_id: str,
                        exclude: int | None) -> None:
    """EvseIDs are unique across the hub. Which port holds one is told only to an admin or to
    that port's organisation; to another organisation the EvseID is only "not available"."""
    stmt = (sa.select(P.c.id, O.c.key).select_from(
        P.join(C, C.c.id == P.c.charger_id).join(S, S.c.id == C.c.site_id)
        .join(O, O.c.id == S.c.organisation_id)).where(P.c.evse_id == evse_id))
    if exclude is not None:
        stmt = stmt.where(P.c.id != exclude)
    other = (await conn.execute(stmt.limit(1))).first()
    if other is None:
        return
    if not refs.may_use(other.key):
        raise bad_request(field, f"{evse_id!r} is not available")
    raise bad_request(field, f"{evse_id!r} already belongs to port {other.id}")


# -- sites -----------------------------------------------------------------------------------


async def create_site(conn: AsyncConnection, scope: Scope, body: dict[str, Any]) -> int:
    org_id = await organisation_for_create(conn, scope, body.pop("organization_id", None),
                                           body.pop("organization_name", None))
    controller = body.pop("local_controller", None)
    tree: list[NodeInput] = body.pop("fuse_tree", [])
    chargers: list[dict[str, Any]] = body.pop("chargers", [])
    now = utcnow()
    values = {k: v for k, v in body.items() if v is not None}
    site_id = (await conn.execute(sa.insert(S).values(
        organisation_id=org_id, version=1, created_at=now, updated_at=now, **values,
    ).returning(S.c.id))).scalar_one()
    refs = References(scope)
    if controller is not None:
        await conn.execute(sa.insert(LC).values(site_id=site_id, **controller))
    for i, charger in enumerate(chargers):
        await insert_charger(conn, site_id, charger, f"chargers[{i}]", refs)
    await insert_nodes(conn, site_id, None, tree, refs)
    await refs.check(conn)
    return site_id


async def update_site(conn: AsyncConnection, site_id: int, values: dict[str, Any]) -> None:
    if values:
        await conn.execute(sa.update(S).where(S.c.id == site_id).values(**values))


async def delete_site(conn: AsyncConnection, scope: Scope, site_id: int,
                      if_match: int | None) -> None:
    await lock_site(conn, scope, site_id, if_match)
    await conn.execute(sa.delete(S).where(S.c.id == site_id))


async def put_local_controller(conn: AsyncConnection, site_id: int,
                               values: dict[str, Any]) -> None:
    """PUT semantics: fields left out are cleared."""
    values = {"serial_no": None, "device_id": None, **values}
    updated = await conn.execute(sa.update(LC).where(LC.c.site_id == site_id).values(**values))
    if updated.rowcount == 0:
        await conn.execute(sa.insert(LC).values(site_id=site_id, **values))


async def delete_local_controller(conn: AsyncConnection, site_id: int) -> None:
    deleted = await conn.execute(sa.delete(LC).where(LC.c.site_id == site_id))
    if deleted.rowcount == 0:
        raise not_found("local controller of site", site_id)


# -- chargers and ports ----------------------------------------------------------------------


async def insert_charger(conn: AsyncConnection, site_id: int, body: dict[str, Any],
                         where: str, refs: References) -> int:
    ports = body.pop("ports", [])
    station_id = body.pop("ocpp_id", None)
    if station_id is not None:
        refs.station(field_name(where, "ocpp_id"), station_id)
        await refs.check(conn)
        await _station_free(conn, refs, field_name(where, "ocpp_id"), station_id, None)
    charger_id = (await conn.execute(sa.insert(C).values(
        site_id=site_id, station_id=station_id, created_at=utcnow(),
        **{k: v for k, v in body.items() if v is not None}).returning(C.c.id))).scalar_one()
    for i, port in enumerate(ports):
        await insert_port(conn, charger_id, station_id, port,
                          f"{field_name(where, 'ports')}[{i}]", refs)
    return charger_id


async def charger_of_site(conn: AsyncConnection, site_id: int, charger_id: int) -> Any:
    row = (await conn.execute(sa.select(C.c.id, C.c.station_id).where(
        C.c.id == charger_id, C.c.site_id == site_id))).first()
    if row is None:
        raise not_found("charger", charger_id)
    return row


async def update_charger(conn: AsyncConnection, scope: Scope, site_id: int, charger_id: int,
                         values: dict[str, Any]) -> None:
    await charger_of_site(conn, site_id, charger_id)
    refs = References(scope)
    if "ocpp_id" in values:
        station_id = values.pop("ocpp_id")
        values["station_id"] = station_id
        if station_id is not None:
            refs.station("ocpp_id", station_id)
            await refs.check(conn)
            await _station_free(conn, refs, "ocpp_id", station_id, charger_id)
            for number in (await conn.execute(sa.select(P.c.port_number).where(
                    P.c.charger_id == charger_id))).scalars():
                refs.connector("ocpp_id", station_id, number, "ocpp_id")
    await refs.check(conn)
    if values:
        await conn.execute(sa.update(C).where(C.c.id == charger_id).values(**values))


async def delete_charger(conn: AsyncConnection, site_id: int, charger_id: int) -> None:
    await charger_of_site(conn, site_id, charger_id)
    await conn.execute(sa.delete(C).where(C.c.id == charger_id))


async def insert_port(conn: AsyncConnection, charger_id: int, station_id: str | None,
                      body: dict[str, Any], where: str, refs: References) -> int:
    await _port_checks(conn, charger_id, station_id, body, where, refs, exclude=None)
    return (await conn.execute(sa.insert(P).values(
        charger_id=charger_id, created_at=utcnow(),
        **{k: v for k, v in body.items() if v is not None}).returning(P.c.id))).scalar_one()


async def _port_checks(conn: AsyncConnection, charger_id: int, station_id: str | None,
                       body: dict[str, Any], where: str, refs: References,
                       exclude: int | None) -> None:
    if body.get("evse_id") is not None:
        await _evse_id_free(conn, refs, field_name(where, "evse_id"), body["evse_id"], exclude)
    if "port_number" in body:
        stmt = sa.select(P.c.id).where(P.c.charger_id == charger_id,
                                       P.c.port_number == body["port_number"])
        if exclude is not None:
            stmt = stmt.where(P.c.id != exclude)
        if (await conn.execute(stmt)).first() is not None:
            raise bad_request(field_name(where, "port_number"),
                              f"the charger already has port {body['port_number']}")
        if station_id is not None:
            refs.connector(field_name(where, "port_number"), station_id, body["port_number"],
                           field_name(where, "port_number"))


async def create_port(conn: AsyncConnection, scope: Scope, site_id: int, charger_id: int,
                      body: dict[str, Any]) -> int:
    charger = await charger_of_site(conn, site_id, charger_id)
    refs = References(scope)
    port_id = await insert_port(conn, charger_id, charger.station_id, body, "", refs)
    await refs.check(conn)
    return port_id


async def update_port(conn: AsyncConnection, scope: Scope, site_id: int, charger_id: int,
                      port_id: int, values: dict[str, Any]) -> None:
    charger = await charger_of_site(conn, site_id, charger_id)
    mine = sa.and_(P.c.id == port_id, P.c.charger_id == charger_id)
    if (await conn.execute(sa.select(P.c.id).where(mine))).first() is None:
        raise not_found("port", port_id)
    refs = References(scope)
    await _port_checks(conn, charger_id, charger.station_id, values, "", refs, exclude=port_id)
    if values:
        await conn.execute(sa.update(P).where(mine).values(**values))
    await refs.check(conn)


async def delete_port(conn: AsyncConnection, site_id: int, charger_id: int,
                      port_id: int) -> None:
    await charger_of_site(conn, site_id, charger_id)
    deleted = await conn.execute(sa.delete(P).where(P.c.id == port_id,
                                                    P.c.charger_id == charger_id))
    if deleted.rowcount == 0:
        raise not_found("port", port_id)


# -- fuse tree -------------------------------------------------------------------------------


async def insert_nodes(conn: AsyncConnection, site_id: int, parent_id: int | None,
                       nodes: Iterable[NodeInput], refs: References) -> list[int]:
    ids = []
    for node in nodes:
        node_id = (await conn.execute(sa.insert(FN).values(
            site_id=site_id, parent_id=parent_id, type=node.type,
            **{"order": 0, **node.params}).returning(FN.c.id))).scalar_one()
        await _insert_connectors(conn, site_id, node_id, node.connectors or [],
                                 field_name(node.where, "parameters.connectors"), refs)
        await insert_nodes(conn, site_id, node_id, node.children, refs)
        ids.append(node_id)
    return ids


async def _insert_connectors(conn: AsyncConnection, site_id: int, node_id: int,
                             connectors: list[dict[str, Any]], where: str,
                             refs: References) -> None:
    rows = []
    for i, c in enumerate(connectors):
        name = f"{where}[{i}]"
        refs.connector(f"{name}.charging_station_id", c["charging_station_id"],
                       c["connector_id"], f"{name}.connector_id")
        rows.append({"site_id": site_id, "node_id": node_id, "name": c.get("name"),
                     "station_id": c["charging_station_id"], "connector_id": c["connector_id"],
                     "priority": c.get("priority"),
                     "charging_capability": c["charging_capability"],
                     "discharge_capability": c["discharge_capability"],
                     "phases": c.get("phases")})
    await refs.check(conn)
    if rows:
        await conn.execute(sa.insert(FNC), rows)


async def replace_tree(conn: AsyncConnection, scope: Scope, site_id: int,
                       nodes: list[NodeInput]) -> None:
    refs = References(scope)
    await conn.execute(sa.delete(FN).where(FN.c.site_id == site_id))
    await insert_nodes(conn, site_id, None, nodes, refs)
    await refs.check(conn)


async def _tree_shape(conn: AsyncConnection, site_id: int) -> dict[int, int | None]:
    return dict((await conn.execute(
        sa.select(FN.c.id, FN.c.parent_id).where(FN.c.site_id == site_id))).all())


def _depth(parents: dict[int, int | None], node_id: int | None) -> int:
    depth = 0
    while node_id is not None:
        depth += 1
        node_id = parents[node_id]
    return depth


def _size(nodes: Iterable[NodeInput]) -> tuple[int, int]:
    """(node count, height) of a list of subtrees."""
    count, height = 0, 0
    for node in nodes:
        c, h = _size(node.children)
        count, height = count + 1 + c, max(height, 1 + h)
    return count, height


async def add_node(conn: AsyncConnection, scope: Scope, site_id: int, parent_id: int | None,
                   node: NodeInput) -> int:
    parents = await _tree_shape(conn, site_id)
    if parent_id is not None and parent_id not in parents:
        raise bad_request("parent_id", f"node {parent_id} is not in this site's fuse tree")
    count, height = _size([node])
    if len(parents) + count > MAX_TREE_NODES:
        raise bad_request("children", f"the fuse tree would exceed {MAX_TREE_NODES} nodes")
    if _depth(parents, parent_id) + height > MAX_TREE_DEPTH:
        raise bad_request("children", f"the fuse tree would be deeper than {MAX_TREE_DEPTH}")
    refs = References(scope)
    (node_id,) = await insert_nodes(conn, site_id, parent_id, [node], refs)
    await refs.check(conn)
    return node_id


async def update_node(conn: AsyncConnection, scope: Scope, site_id: int, node_id: int,
                      values: dict[str, Any], connectors: list[dict[str, Any]] | None,
                      move_to: tuple[int | None] | None) -> None:
    parents = await _tree_shape(conn, site_id)
    if node_id not in parents:
        raise not_found("fuse node", node_id)
    if move_to is not None:
        (parent_id,) = move_to
        if parent_id is not None:
            if parent_id not in parents:
                raise bad_request("parent_id", f"node {parent_id} is not in this site's tree")
            ancestor: int | None = parent_id
            while ancestor is not None:
                if ancestor == node_id:
                    raise bad_request("parent_id", "a node cannot move under itself or one "
                                                   "of its descendants")
                ancestor = parents[ancestor]
        children: dict[int | None, list[int]] = defaultdict(list)
        for child, parent in parents.items():
            children[parent].append(child)

        def height(n: int) -> int:
            return 1 + max((height(c) for c in children.get(n, ())), default=0)

        if _depth(parents, parent_id) + height(node_id) > MAX_TREE_DEPTH:
            raise bad_request("parent_id", f"the tree would be deeper than {MAX_TREE_DEPTH}")
        values["parent_id"] = parent_id
    if values:
        await conn.execute(sa.update(FN).where(FN.c.id == node_id).values(**values))
    if connectors is not None:
        refs = References(scope)
        await conn.execute(sa.delete(FNC).where(FNC.c.node_id == node_id))
        await _insert_connectors(conn, site_id, node_id, connectors, "parameters.connectors",
                                 refs)
        await refs.check(conn)


async def delete_node(conn: AsyncConnection, site_id: int, node_id: int) -> None:
    deleted = await conn.execute(sa.delete(FN).where(FN.c.id == node_id,
                                                     FN.c.site_id == site_id))
    if deleted.rowcount == 0:
        raise not_found("fuse node", node_id)
