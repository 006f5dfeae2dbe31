"""The presence sweep: the connected flags of a dead node's stations.

One node alone resets every flag at start-up (hub.services.stations.reset_connection_flags);
in a cluster the other nodes hold stations then, so nothing is reset at start-up. Instead the
node holding the ``presence-sweep`` lease looks, every presence TTL, for stations the database
says are connected that no node holds (no presence entry, or the entry of a node silent for
a presence TTL: their node died and they did not reconnect) and records their disconnect, with
its events (e.g. the OICP "Unknown" push).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from hub.db.models import Station
from hub.services import stations

if TYPE_CHECKING:
    from hub.cluster.presence import Holder, Presence
    from hub.context import Hub

log = logging.getLogger(__name__)


async def stale_connections(hub: Hub, presence: Presence, gone: Callable[[str], bool],
                            limit: int) -> int:
    """Record the disconnect of up to ``limit`` stations no live node holds (``gone``: has
    that node stopped); how many."""
    async with hub.engine.connect() as conn:
        rows = (await conn.execute(sa.select(Station.id, Station.last_seen_at).where(
            Station.connected.is_(True)).order_by(Station.id))).all()
    swept = 0
    for station_id, last_seen in rows:
        if swept >= limit:
            break
        if station_id in hub.stations or _held(presence.holder(station_id), gone):
            continue
        if _held(await presence.lookup(station_id), gone):  # the bucket itself, to be sure
            continue
        await stations.mark_disconnected(hub, station_id, last_seen,
                                         reason="its hub node stopped")
        swept += 1
    if swept:
        log.warning("%d station(s) were connected to a hub node that stopped and did not "
                    "come back; recorded as disconnected", swept)
    return swept


def _held(holder: Holder | None, gone: Callable[[str], bool]) -> bool:
    return holder is not None and not gone(holder.node)
