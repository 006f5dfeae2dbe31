"""Station activity in the log at INFO: connect, boot, disconnect, transaction start and stop.

Subscribes to the core's events (after commit, so a line means the fact is stored); commands
are logged by ``hub.commands``. Everything goes through one rate-limited ``ActivityLog``.
"""

from __future__ import annotations

import logging

from hub.context import Hub
from hub.events import (
    StationBooted,
    StationConnected,
    StationDisconnected,
    TransactionEnded,
    TransactionStarted,
)
from hub.logs import ActivityLog


def register_activity_log(hub: Hub, activity: ActivityLog) -> None:
    if not activity.logger.isEnabledFor(logging.INFO):
        return  # e.g. --log-level WARNING: not even a task per event for lines nobody sees
    async def connected(event: StationConnected) -> None:
        activity.info("station %s connected (OCPP %s, from %s)", event.station_id,
                      event.ocpp_version, event.remote or "?")

    async def booted(event: StationBooted) -> None:
        activity.info("station %s booted: %s (%s %s, firmware %s)", event.station_id,
                      event.status, event.vendor or "?", event.model or "?",
                      event.firmware_version or "?")

    async def disconnected(event: StationDisconnected) -> None:
        activity.info("station %s disconnected%s", event.station_id,
                      f" ({event.reason})" if event.reason else "")

    async def started(event: TransactionStarted) -> None:
        activity.info("station %s connector %s: transaction %s started (meter %s Wh)",
                      event.station_id, event.connector_id, event.transaction_id,
                      event.meter_start)

    async def ended(event: TransactionEnded) -> None:
        activity.info("station %s connector %s: transaction %s stopped (meter %s Wh%s)",
                      event.station_id, event.connector_id, event.transaction_id,
                      event.meter_stop, f", {event.reason}" if event.reason else "")

    hub.bus.subscribe(StationConnected, connected)
    hub.bus.subscribe(StationBooted, booted)
    hub.bus.subscribe(StationDisconnected, disconnected)
    hub.bus.subscribe(TransactionStarted, started)
    hub.bus.subscribe(TransactionEnded, ended)
