"""Many hubs, one estate: the cluster seam every part of the hub talks to (``hub.cluster``).

PostgreSQL stays the one store; NATS carries what crosses nodes (hub/cluster/node.py): presence
of station sockets, routed commands, cross-node events. What a feature uses, on one node and in
a cluster alike:

- ``await hub.cluster.lead(name)``: True while this node runs the work ``name`` for the cluster
  (an advisory-lock lease; always True on one node);
- ``hub.cluster.subscribe(EventType, handler)``: like ``hub.bus.subscribe``, plus the same
  events committed on the other nodes;
- ``hub.cluster.broadcast(topic, data)`` / ``on_broadcast(topic, handler)``: a small message to
  the other nodes (e.g. "re-plan site 7"); nothing on one node.

Without ``[cluster] nats_url`` the hub runs ``SingleNode`` and never imports NATS.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hub.events import Event, EventBus

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
BroadcastHandler = Callable[[dict[str, Any]], Awaitable[None]]


class SingleNode:
    """One hub: every lease is held here, every event is local, nothing to broadcast to."""

    clustered = False

    def __init__(self, bus: EventBus, node_id: str = "") -> None:
        self.bus = bus
        self.node_id = node_id or default_node_id()

    async def lead(self, name: str) -> bool:
        return True

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self.bus.subscribe(event_type, handler)

    def on_broadcast(self, topic: str, handler: BroadcastHandler) -> None:
        pass

    async def broadcast(self, topic: str, data: dict[str, Any]) -> None:
        pass

    def holder_of(self, station_id: str) -> str | None:
        """The node holding the station's socket, as far as this node knows."""
        return None

    def stats(self) -> dict[str, Any]:
        return {"node": self.node_id, "clustered": False}

    async def stop(self) -> None:
        pass


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ClusterNeedsPostgres(RuntimeError):
    def __init__(self) -> None:
        super().__init__("[cluster] nats_url is set but the database is SQLite: a cluster of "
                         "hubs shares one PostgreSQL database (set [database] url)")


async def start_cluster(hub: Hub) -> SingleNode:
    """The cluster seam for this hub's configuration, started (NATS is imported only here,
    and only when ``[cluster] nats_url`` is set)."""
    config = hub.config.cluster
    if not config.nats_url:
        return SingleNode(hub.bus, config.node_id)
    if hub.engine.dialect.name != "postgresql":
        raise ClusterNeedsPostgres()
    from hub.cluster.node import ClusterNode

    node = ClusterNode(hub, config)
    await node.start()
    return node
