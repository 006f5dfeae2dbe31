"""What the load manager reads from the database: a site's fuse tree and its running sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.models import Transaction
from sites_api.load.model import PHASES, Connector, Meter, Node, Tree, charging_levels
from sites_api.models import FuseNode, FuseNodeConnector

METER_FIELDS = ("is_producer", "is_consumer", "max_possible_current", "fallback_value",
                "primary_transformer_ratio", "secondary_transformer_ratio")

# (station_id, OCPP connector id): the planner's connector key.
Key = tuple[str, int]


@dataclass
class SiteTree:
    tree: Tree
    names: dict[int, str | None]
    # key -> the fuse_node_connectors row id (a stable charging profile id per connector)
    rows: dict[Key, int]
    # node id -> its fallback (A per phase), for the nodes that have one
    fallbacks: dict[int, float] = field(default_factory=dict)
    # node id -> (pending_fallback_value, fallback_status) where either is set
    fallback_states: dict[int, tuple[float | None, str | None]] = field(default_factory=dict)

    @property
    def stations(self) -> set[str]:
        return {station for station, _ in self.rows}


def _meter(raw: Any) -> Meter | None:
    if not isinstance(raw, dict):
        return None
    values = {k: raw.get(k) for k in METER_FIELDS}
    for flag in ("is_producer", "is_consumer"):
        values[flag] = bool(values[flag])
    for name in METER_FIELDS[2:]:
        value = values[name]
        values[name] = float(value) if isinstance(value, int | float) else None
    return Meter(**values)


async def load_site_tree(session: AsyncSession, site_id: int) -> SiteTree:
    nodes = (await session.execute(sa.select(FuseNode).where(FuseNode.site_id == site_id)
                                   .order_by(FuseNode.id))).scalars().all()
    connectors = (await session.execute(
        sa.select(FuseNodeConnector).where(FuseNodeConnector.site_id == site_id)
        .order_by(FuseNodeConnector.id))).scalars().all()
    tree_nodes = tuple(Node(n.id, n.parent_id, n.limit, n.inbound_limit, n.outbound_limit,
                            _meter(n.meter)) for n in nodes)
    seen: dict[Key, int] = {}
    tree_connectors = []
    for c in connectors:
        key = (c.station_id, c.connector_id)
        if key in seen:
            continue  # one outlet hangs on one node; a duplicate entry adds no second load
        seen[key] = c.id
        tree_connectors.append(Connector(key, c.node_id, phases=connector_phases(c.phases),
                                         priority=c.priority or 0,
                                         levels=charging_levels(c.charging_capability)))
    return SiteTree(Tree(tree_nodes, tuple(tree_connectors)), {n.id: n.name for n in nodes},
                    seen, {n.id: n.fallback for n in nodes if n.fallback is not None},
                    {n.id: (n.pending_fallback_value, n.fallback_status) for n in nodes
                     if n.pending_fallback_value is not None or n.fallback_status is not None})


def connector_phases(names: list[str] | None) -> tuple[int, ...]:
    """``["L2"]`` -> ``(2,)``; unset (or anything unreadable) -> all three phases."""
    phases = tuple(sorted({int(n[1]) for n in names or () if n in ("L1", "L2", "L3")}))
    return phases or PHASES


async def sites_of_stations(session: AsyncSession) -> dict[str, set[int]]:
    """Every station that is in a site -> its sites."""
    rows = await session.execute(sa.select(FuseNodeConnector.station_id,
                                           FuseNodeConnector.site_id).distinct())
    sites: dict[str, set[int]] = {}
    for station_id, site_id in rows:
        sites.setdefault(station_id, set()).add(site_id)
    return sites


@dataclass(frozen=True)
class RunningSession:
    transaction_id: int
    started: datetime


async def running_sessions(session: AsyncSession, stations: set[str]
                           ) -> dict[Key, RunningSession]:
    if not stations:
        return {}
    rows = await session.execute(sa.select(
        Transaction.station_id, Transaction.connector_id, Transaction.id,
        Transaction.start_timestamp).where(Transaction.station_id.in_(sorted(stations)),
                                           Transaction.status == "active")
        .order_by(Transaction.id))
    return {(station, connector): RunningSession(tx, started)
            for station, connector, tx, started in rows}
