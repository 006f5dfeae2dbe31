"""Fallbacks: what a fuse node's stations may draw when they lose the hub.

A node's ``fallback`` (A per phase) is shared equally by the connectors beneath it; a connector
under several nodes with a fallback takes the tightest share, rounded down to its charging
levels (below its minimum: 0). Each connector gets it as a TxDefaultProfile at the lowest stack
level (``[load] fallback_stack_level``, 0), which the station applies whenever no TxProfile of
the hub's says otherwise. While the profiles are on their way the node shows
``pending_fallback_value`` (the value being applied) and ``fallback_status`` ``pending``; once
every connector accepted it ``applied`` (and no pending value); ``failed`` when a station
refused it or the call failed (sent again when the station reconnects or the tree changes).
A station that is offline keeps the node pending until it connects. A node whose fallback is
cleared gets both columns back to null, and its stations' fallback profiles are cleared (a
station offline then, or removed from the site meanwhile, when it connects again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from hub.commands import CommandFailed
from hub.services import charging_profiles
from sites_api.load.model import CompiledTree, ConnectorKey, NodeId
from sites_api.models import FuseNode

log = logging.getLogger(__name__)
FALLBACK_ID_BASE = 2_000_000_000
PENDING, APPLIED, FAILED = "pending", "applied", "failed"


def fallback_limits(tree: CompiledTree, fallbacks: Mapping[NodeId, float]
                    ) -> dict[ConnectorKey, float]:
    """The fallback limit of each connector under a node with a fallback."""
    under: dict[int, list[ConnectorKey]] = {}
    for key, connector in tree.connectors.items():
        for i in tree.lineage[tree.node_index[connector.node]]:
            under.setdefault(i, []).append(key)
    shares: dict[ConnectorKey, float] = {}
    for node_id, amps in fallbacks.items():
        i = tree.node_index.get(node_id)
        if i is None:
            continue
        keys = under.get(i, [])
        for key in keys:
            share = amps / len(keys)
            shares[key] = min(shares.get(key, share), share)
    limits = {}
    for key, share in shares.items():
        levels = tree.connectors[key].levels
        fitting = [level for level in levels if level <= share + 1e-9]
        limits[key] = fitting[-1] if fitting else 0.0
    return limits


def node_statuses(tree: CompiledTree, fallbacks: Mapping[NodeId, float],
                  limits: Mapping[ConnectorKey, float], accepted: Mapping[ConnectorKey, float],
                  failed: set[ConnectorKey]) -> dict[NodeId, str]:
    statuses: dict[NodeId, str] = {}
    for node_id in fallbacks:
        i = tree.node_index.get(node_id)
        if i is None:
            continue
        keys = [key for key, connector in tree.connectors.items()
                if i in tree.lineage[tree.node_index[connector.node]]]
        if any(key in failed for key in keys):
            statuses[node_id] = FAILED
        elif all(accepted.get(key) == limits.get(key) for key in keys):
            statuses[node_id] = APPLIED
        else:
            statuses[node_id] = PENDING
    return statuses


class Fallbacks:
    """Sends the fallback profiles and writes each node's fallback state."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager
        self.accepted: dict[ConnectorKey, float] = {}
        # (site id, profile id) of each fallback profile a station holds: cleared when the
        # connector no longer has a fallback.
        self.held: dict[ConnectorKey, tuple[int, int]] = {}
        self.failed: set[ConnectorKey] = set()
        self.written: dict[NodeId, tuple[float | None, str | None]] = {}
        # station id -> the keys it ever had above: a connect looks at its own keys, not at
        # every connector of the estate (a boot storm would be quadratic).
        self._keys_of: dict[str, set[ConnectorKey]] = {}

    def station_connected(self, station_id: str) -> None:
        # It may have rebooted or been reset: send its fallbacks again.
        for key in self._keys_of.get(station_id, ()):
            self.accepted.pop(key, None)
            # What it holds stays in self.held: a fallback removed meanwhile is still cleared.
            self.failed.discard(key)

    def tree_changed(self) -> None:
        # An edit may have changed fallbacks or overwritten the status columns: try again.
        self.failed.clear()
        self.written.clear()

    def sites_held_by(self, station_id: str) -> set[int]:
        """The sites whose fallback profiles the station holds (to clear them when it comes
        back, also from a site it was removed from while offline)."""
        held = self.held
        return {held[key][0] for key in self._keys_of.get(station_id, ()) if key in held}

    async def apply(self, state: Any) -> None:
        fallbacks = state.site.fallbacks
        limits = fallback_limits(state.compiled, fallbacks) if fallbacks else {}
        commands = self.manager.hub.commands
        gone = [(key, profile_id) for key, (site_id, profile_id) in self.held.items()
                if site_id == state.site_id and key not in limits
                and commands.is_connected(key[0])]
        await asyncio.gather(*(self._clear(key, profile_id) for key, profile_id in gone))
        todo = [(key, amps) for key, amps in limits.items()
                if self.accepted.get(key) != amps and key not in self.failed
                and commands.is_connected(key[0])]
        await asyncio.gather(*(self._send(state, key, amps) for key, amps in todo))
        statuses = node_statuses(state.compiled, fallbacks, limits, self.accepted, self.failed)
        values = {node_id: (None if status == APPLIED else fallbacks[node_id], status)
                  for node_id, status in statuses.items()}
        # A node whose fallback was cleared shows no change on its way any more.
        for node_id in state.site.fallback_states:
            if node_id not in fallbacks:
                values[node_id] = (None, None)
        await self._write(values)

    async def _send(self, state: Any, key: ConnectorKey, amps: float) -> None:
        station_id, connector_id = key
        phases = state.compiled.connectors[key].phases
        profile_id = FALLBACK_ID_BASE + state.site.rows[key] % 100_000_000
        profile = {
            "id": profile_id,
            "stack_level": self.manager.settings.fallback_stack_level,
            "purpose": "TxDefaultProfile", "kind": "Relative",
            "charging_schedule": {"charging_rate_unit": "A", "charging_schedule_period": [
                {"start_period": 0, "limit": amps, "number_phases": len(phases)}]}}
        try:
            status = await charging_profiles.set_profile(
                self.manager.hub, station_id, connector_id, profile,
                self.manager.settings.call_timeout)
        except CommandFailed as error:
            log.info("fallback profile for %s/%s not set: %s", station_id, connector_id, error)
            status = "CallError"
        self._keys_of.setdefault(station_id, set()).add(key)
        if status == "Accepted":
            self.accepted[key] = amps
            self.held[key] = (state.site_id, profile_id)
            self.failed.discard(key)
        else:
            self.failed.add(key)

    async def _clear(self, key: ConnectorKey, profile_id: int) -> None:
        try:
            status = await charging_profiles.clear_profiles(
                self.manager.hub, key[0], profile_id=profile_id,
                timeout=self.manager.settings.call_timeout)
        except CommandFailed as error:
            log.info("fallback profile of %s/%s not cleared: %s", *key, error)
            return
        if status in ("Accepted", "Unknown"):  # Unknown: it does not hold it (any more)
            self.held.pop(key, None)
            self.accepted.pop(key, None)

    async def _write(self, values: Mapping[NodeId, tuple[float | None, str | None]]) -> None:
        changes = {node_id: value for node_id, value in values.items()
                   if self.written.get(node_id) != value}
        if not changes:
            return
        table = FuseNode.__table__
        async with self.manager.hub.committer.transaction() as conn:
            for node_id, (pending, status) in changes.items():
                await conn.execute(sa.update(table).where(table.c.id == node_id).values(
                    pending_fallback_value=pending, fallback_status=status))
        self.written.update(changes)
