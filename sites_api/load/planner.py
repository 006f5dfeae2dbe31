"""The load planner: a pure function from a fuse tree, its meters and its sessions to limits.

    plan = plan_site_limits(compile_tree(tree), sessions, readings, fixed=offline_keys)
    plan.connectors[key].amps   # per phase, on each of the connector's phases

Rules, in the order they bind:

1. Nothing a node carries may exceed its inbound cap on any phase: consumer meters, minus
   producer meters, plus connectors planned at their maximum (``fixed``: stations that are offline
   or refuse profiles, whose draw the hub cannot steer), plus what the planner hands out.
2. Priority: a higher priority is planned completely before a lower one gets anything; where a
   higher-priority session was held below what it wants to keep shares equal, the nodes that
   held it are closed to lower priorities (they could otherwise take what it was denied).
3. Minimum: a session either gets at least its lowest level or nothing. Within a priority,
   sessions are admitted in arrival order (``Session.started``); one whose minimum does not fit
   waits (state ``queued``) instead of starving everybody.
4. Fairness: admitted sessions of one priority share by max-min water filling (equal shares;
   what a session does not want, its ``demand``, goes to the others), rounded down to the
   connector's levels, then raised one level at a time lowest first while that fits. A session
   that cannot rise freezes the sessions at or above it on the same node, so equal sessions end
   within one level of each other.

Outbound caps (export by producers) are reported, not planned: charging only lowers export.
The runner supplies ``demand`` (e.g. what a car draws once settled, or its EV charging needs)
and decides staleness; this module does no I/O and imports neither aiohttp nor the database.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sites_api.load.model import CompiledTree, ConnectorKey, NodeId, Tree, compile_tree

EPS = 1e-9

CHARGING, QUEUED, IDLE, FIXED = "charging", "queued", "idle", "fixed"


@dataclass(frozen=True)
class Session:
    """A charging session on a connector, as the planner needs it."""

    started: float = 0.0  # arrival order for the queue
    demand: float | None = None  # A per phase it wants; None: as much as its levels allow


@dataclass(frozen=True)
class ConnectorPlan:
    amps: float  # per phase, on each of ``phases``; 0 = must not charge
    phases: tuple[int, ...]
    state: str  # charging, queued, idle, fixed


@dataclass(frozen=True)
class SitePlan:
    connectors: dict[ConnectorKey, ConnectorPlan]
    queue: tuple[ConnectorKey, ...]


Readings = Mapping[NodeId, float | Sequence[float] | None]


def plan_site_limits(tree: CompiledTree | Tree, sessions: Mapping[ConnectorKey, Session],
                     readings: Readings | None = None,
                     fixed: Iterable[ConnectorKey] | Mapping[ConnectorKey, float] = ()
                     ) -> SitePlan:
    """Limits per connector (A per phase) such that no node's inbound cap is exceeded.

    ``fixed``: connectors the planner cannot steer, held at their maximum (an iterable of
    keys), or at a given current (a mapping: e.g. a limit the runner may not change yet).
    """
    compiled = tree if isinstance(tree, CompiledTree) else compile_tree(tree)
    state = _Allocation(compiled)
    state.add_meters(readings or {})
    held = fixed if isinstance(fixed, Mapping) else dict.fromkeys(fixed)
    fixed_keys = {key for key in held if key in compiled.connectors}
    for key in fixed_keys:
        amps = held[key]
        state.hold(key, compiled.connectors[key].maximum if amps is None else amps)
    groups: dict[int, list[ConnectorKey]] = {}
    for key in sessions:
        connector = compiled.connectors.get(key)
        if connector is not None and key not in fixed_keys:
            groups.setdefault(connector.priority, []).append(key)
    queue: list[ConnectorKey] = []
    for priority in sorted(groups, reverse=True):
        members = sorted(groups[priority], key=lambda k: (sessions[k].started, str(k)))
        queue.extend(state.plan_group(members, sessions))
    plans: dict[ConnectorKey, ConnectorPlan] = {}
    queued = set(queue)
    for key, connector in compiled.connectors.items():
        amps = state.alloc.get(key, 0.0)
        kind = (FIXED if key in fixed_keys else QUEUED if key in queued
                else CHARGING if key in state.alloc else IDLE)
        plans[key] = ConnectorPlan(amps, connector.phases, kind)
    return SitePlan(plans, tuple(queue))


def node_loads(tree: CompiledTree, plan: SitePlan, readings: Readings | None = None
               ) -> dict[NodeId, tuple[float, float, float]]:
    """Planned current per node and phase (meters included; producers negative)."""
    nodes = tree.tree.nodes
    loads = [[0.0, 0.0, 0.0] for _ in nodes]
    for node_id, i, meter in tree.meters:
        sign = -1.0 if meter.is_producer else 1.0
        current = meter.current((readings or {}).get(node_id))
        for j in tree.lineage[i]:
            for p in range(3):
                loads[j][p] += sign * current[p]
    for key, connector_plan in plan.connectors.items():
        connector = tree.connectors[key]
        for j in tree.lineage[tree.node_index[connector.node]]:
            for p in connector.phases:
                loads[j][p - 1] += connector_plan.amps
    return {node.id: tuple(load) for node, load in zip(nodes, loads, strict=True)}  # type: ignore


class _Allocation:
    """Loads on the finite constraints while the planner hands out current."""

    def __init__(self, tree: CompiledTree) -> None:
        self.tree = tree
        self.caps = tree.caps
        self.load = [0.0] * len(tree.caps)
        self.alloc: dict[ConnectorKey, float] = {}
        # Constraints a higher priority was left short on: closed to lower priorities.
        self.closed: set[int] = set()
        self.target: dict[ConnectorKey, float] = {}

    def add_meters(self, readings: Readings) -> None:
        caps = self.caps
        for node_id, i, meter in self.tree.meters:
            sign = -1.0 if meter.is_producer else 1.0
            current = meter.current(readings.get(node_id))
            for j in self.tree.lineage[i]:
                for p in range(3):
                    k = j * 3 + p
                    if caps[k] != math.inf:
                        self.load[k] += sign * current[p]

    def hold(self, key: ConnectorKey, amps: float) -> None:
        self.alloc[key] = 0.0
        self.shift(key, amps)

    def shift(self, key: ConnectorKey, delta: float) -> None:
        self.alloc[key] += delta
        load = self.load
        for k in self.tree.paths[key]:
            load[k] += delta

    def blocking(self, key: ConnectorKey, delta: float) -> list[int]:
        load, caps = self.load, self.caps
        return [k for k in self.tree.paths[key] if load[k] + delta > caps[k] + EPS]

    def plan_group(self, members: list[ConnectorKey],
                   sessions: Mapping[ConnectorKey, Session]) -> list[ConnectorKey]:
        """Admit, fill and round one priority; returns the keys left queued."""
        closed_now: set[int] = set()
        admitted: list[ConnectorKey] = []
        queued: list[ConnectorKey] = []
        for key in members:
            connector = self.tree.connectors[key]
            self.target[key] = _target(connector.levels, sessions[key].demand)
            path = self.tree.paths[key]
            bad = self.blocking(key, connector.minimum)
            # A queued session closes nothing: whatever a lower priority takes in the gap it
            # leaves is less than its minimum (re-planning admits it first once that fits).
            if bad or any(k in self.closed for k in path):
                queued.append(key)
            else:
                self.hold(key, connector.minimum)
                admitted.append(key)
        if admitted:
            self._water_fill(admitted)
            self._round_down(admitted)
            closed_now.update(self._raise_by_levels(admitted, sessions))
        self.closed |= closed_now
        return queued

    def _water_fill(self, members: list[ConnectorKey]) -> None:
        """Max-min fair continuous shares: a common level rises until targets or caps stop it."""
        alloc, target, load, caps = self.alloc, self.target, self.load, self.caps
        paths = self.tree.paths
        pending = sorted((k for k in members if alloc[k] < target[k] - EPS), key=alloc.__getitem__)
        if not pending:
            return
        on_constraint: dict[int, list[ConnectorKey]] = {}
        for key in pending:
            for k in paths[key]:
                on_constraint.setdefault(k, []).append(key)
        rising: set[ConnectorKey] = set()
        stopped: set[ConnectorKey] = set()
        counts: dict[int, int] = {}
        level, nxt = alloc[pending[0]], 0
        while True:
            while nxt < len(pending) and alloc[pending[nxt]] <= level + EPS:
                key = pending[nxt]
                nxt += 1
                if key not in stopped:
                    rising.add(key)
                    for k in paths[key]:
                        counts[k] = counts.get(k, 0) + 1
            if not rising:
                if nxt >= len(pending):
                    return
                level = alloc[pending[nxt]]
                continue
            step = alloc[pending[nxt]] - level if nxt < len(pending) else math.inf
            for key in rising:
                step = min(step, target[key] - alloc[key])
            for k, n in counts.items():
                step = min(step, (caps[k] - load[k]) / n)
            step = max(step, 0.0)
            level += step
            for k, n in counts.items():
                load[k] += n * step
            done = []
            for key in rising:
                alloc[key] += step
                if alloc[key] >= target[key] - EPS:
                    done.append(key)
            for k in [k for k in counts if caps[k] - load[k] <= EPS]:
                for key in on_constraint[k]:
                    if key in rising:
                        done.append(key)
                    stopped.add(key)
            for key in set(done):
                rising.discard(key)
                stopped.add(key)
                for k in paths[key]:
                    counts[k] -= 1
                    if not counts[k]:
                        del counts[k]

    def _round_down(self, members: list[ConnectorKey]) -> None:
        for key in members:
            levels = self.tree.connectors[key].levels
            amps = self.alloc[key]
            i = bisect_right(levels, amps + EPS) - 1
            rounded = levels[max(i, 0)]
            # Exactly the level, not a float sum (which may sit a hair below it).
            self.shift(key, rounded - amps)
            self.alloc[key] = rounded

    def _raise_by_levels(self, members: list[ConnectorKey],
                         sessions: Mapping[ConnectorKey, Session]) -> set[int]:
        """Hand out what rounding freed, one level at a time, lowest share first."""
        alloc, target = self.alloc, self.target
        closed: set[int] = set()
        frozen: set[ConnectorKey] = set()
        changed = True
        while changed:
            changed = False
            order = sorted((k for k in members if k not in frozen and alloc[k] < target[k] - EPS),
                           key=lambda k: (alloc[k], sessions[k].started, str(k)))
            for key in order:
                if key in frozen:
                    continue
                levels = self.tree.connectors[key].levels
                amps = alloc[key]
                step = levels[bisect_right(levels, amps + EPS)] - amps
                bad = self.blocking(key, step)
                if not bad:
                    self.shift(key, step)
                    alloc[key] = levels[bisect_right(levels, amps + EPS)]
                    changed = True
                    continue
                closed.update(bad)
                # Whoever shares the full node and already has as much stays: equal shares.
                bad_set = set(bad)
                for other in members:
                    if alloc[other] >= amps - EPS and bad_set.intersection(self.tree.paths[other]):
                        frozen.add(other)
                frozen.add(key)
        return closed


def _target(levels: tuple[float, ...], demand: float | None) -> float:
    """The highest level not above the demand; never below the minimum."""
    if demand is None or not math.isfinite(demand):
        return levels[-1]
    i = bisect_right(levels, demand + EPS) - 1
    return levels[max(i, 0)]
