"""What the load planner plans over: a site's fuse tree, compiled once per tree edit.

Currents are per phase, in A. A node's ``limit`` caps the current through it in both
directions; ``inbound_limit`` caps import (towards the loads), ``outbound_limit`` export
(producers, discharge); the tighter of ``limit`` and the directional one applies.

A node's meter measures something hanging on that node besides the chargers: a consumer (its
current takes headroom from the node and every node above it) or a producer (its current gives
headroom). Raw readings are scaled by the transformer ratio (primary / secondary) and clamped to
``max_possible_current``; a missing or stale reading counts as ``fallback_value`` (a consumer
without one as ``max_possible_current``: the planner assumes the worst it cannot see).

A connector draws the same current on each of its ``phases`` (site phases 1..3: a single-phase
connector wired to L2 is ``(2,)``) and charges only at its ``levels`` (ChargePilot's
``charging_capability``); the lowest level is its minimum, below which a car would stop.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

PHASES = (1, 2, 3)
#: Levels of a connector without ``charging_capability``: IEC 61851 AC, 6..32 A in 1 A steps.
DEFAULT_LEVELS: tuple[float, ...] = tuple(float(a) for a in range(6, 33))

NodeId = Hashable
ConnectorKey = Hashable


@dataclass(frozen=True)
class Meter:
    is_producer: bool = False
    is_consumer: bool = False
    max_possible_current: float | None = None
    fallback_value: float | None = None
    primary_transformer_ratio: float | None = None
    secondary_transformer_ratio: float | None = None

    @property
    def ratio(self) -> float:
        primary, secondary = self.primary_transformer_ratio, self.secondary_transformer_ratio
        if primary and secondary and primary > 0 and secondary > 0:
            return primary / secondary
        return 1.0

    def current(self, reading: float | Sequence[float] | None) -> tuple[float, float, float]:
        """Per-phase current this meter stands for (positive; the sign comes from its kind)."""
        if reading is None:
            fallback = self.fallback_value
            if fallback is None:
                fallback = self.max_possible_current if not self.is_producer else 0.0
            values = _per_phase(fallback or 0.0)
        else:
            values = tuple(v * self.ratio for v in _per_phase(reading))
        top = self.max_possible_current
        return tuple(  # type: ignore[return-value]
            min(max(v, 0.0), top) if top is not None else max(v, 0.0)
            for v in (x if math.isfinite(x) else 0.0 for x in values))


@dataclass(frozen=True)
class Node:
    id: NodeId
    parent: NodeId | None = None
    limit: float | None = None
    inbound_limit: float | None = None
    outbound_limit: float | None = None
    meter: Meter | None = None

    @property
    def inbound_cap(self) -> float:
        return _tightest(self.limit, self.inbound_limit)

    @property
    def outbound_cap(self) -> float:
        return _tightest(self.limit, self.outbound_limit)


@dataclass(frozen=True)
class Connector:
    key: ConnectorKey
    node: NodeId
    phases: tuple[int, ...] = PHASES
    priority: int = 0
    levels: tuple[float, ...] = DEFAULT_LEVELS

    @property
    def minimum(self) -> float:
        return self.levels[0]

    @property
    def maximum(self) -> float:
        return self.levels[-1]


def charging_levels(capability: Iterable[float] | None) -> tuple[float, ...]:
    """ChargePilot's ``charging_capability`` as sorted positive levels (0 is 'off', not a level)."""
    levels = sorted({float(a) for a in capability or () if math.isfinite(a) and a > 0})
    return tuple(levels) or DEFAULT_LEVELS


@dataclass(frozen=True)
class Tree:
    nodes: tuple[Node, ...]
    connectors: tuple[Connector, ...]


@dataclass
class CompiledTree:
    """Index form of a tree: constraint ``k = node_index * 3 + phase - 1``; only finite caps."""

    tree: Tree
    node_index: dict[NodeId, int]
    caps: list[float]
    outbound_caps: list[float]
    # Ancestors of each node, itself included, as node indices.
    lineage: list[tuple[int, ...]]
    # Finite-cap constraints each connector loads.
    paths: dict[ConnectorKey, tuple[int, ...]]
    connectors: dict[ConnectorKey, Connector]
    meters: list[tuple[NodeId, int, Meter]] = field(default_factory=list)


class TreeError(ValueError):
    pass


def compile_tree(tree: Tree) -> CompiledTree:
    index = {node.id: i for i, node in enumerate(tree.nodes)}
    if len(index) != len(tree.nodes):
        raise TreeError("duplicate node id")
    lineage = [_lineage(tree.nodes, index, i) for i in range(len(tree.nodes))]
    caps: list[float] = []
    outbound: list[float] = []
    for node in tree.nodes:
        caps.extend([node.inbound_cap] * 3)
        outbound.extend([node.outbound_cap] * 3)
    paths: dict[ConnectorKey, tuple[int, ...]] = {}
    connectors: dict[ConnectorKey, Connector] = {}
    for connector in tree.connectors:
        if connector.node not in index:
            raise TreeError(f"connector {connector.key!r} hangs on unknown node")
        if not connector.phases or not set(connector.phases) <= set(PHASES):
            raise TreeError(f"connector {connector.key!r} has bad phases")
        paths[connector.key] = tuple(
            i * 3 + p - 1 for i in lineage[index[connector.node]] for p in connector.phases
            if math.isfinite(caps[i * 3 + p - 1]))
        connectors[connector.key] = connector
    meters = [(node.id, index[node.id], node.meter) for node in tree.nodes
              if node.meter is not None and (node.meter.is_producer or node.meter.is_consumer)]
    return CompiledTree(tree, index, caps, outbound, lineage, paths, connectors, meters)


def _lineage(nodes: Sequence[Node], index: dict[NodeId, int], i: int) -> tuple[int, ...]:
    chain = [i]
    parent = nodes[i].parent
    while parent is not None:
        if parent not in index:
            raise TreeError(f"node {nodes[chain[-1]].id!r} has unknown parent")
        j = index[parent]
        if j in chain:
            raise TreeError("fuse tree has a cycle")
        chain.append(j)
        parent = nodes[j].parent
    return tuple(chain)


def _tightest(*limits: float | None) -> float:
    finite = [v for v in limits if v is not None and math.isfinite(v)]
    return max(min(finite), 0.0) if finite else math.inf


def _per_phase(value: float | Sequence[float]) -> tuple[float, float, float]:
    if isinstance(value, int | float):
        return (float(value),) * 3  # type: ignore[return-value]
    values = [float(v) for v in value][:3]
    values += [values[-1] if values else 0.0] * (3 - len(values))
    return tuple(values)  # type: ignore[return-value]
