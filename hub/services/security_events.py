"""Security events the hub detects itself (as opposed to the SecurityEventNotification a
station sends): recorded with the station's notifications and counted for /metrics.

Both kinds are listed by ``GET /api/security-events``.
"""

from __future__ import annotations

from typing import Any

from hub.context import Hub
from hub.services.notifications import record_notification

#: ``station_notifications.kind`` of the events the hub detected; the station's own
#: SecurityEventNotification is stored as kind ``SecurityEvent``.
HUB_SECURITY_EVENT = "HubSecurityEvent"
STATION_SECURITY_EVENT = "SecurityEvent"


async def record_security_event(hub: Hub, station_id: str, event: str, reason: str,
                                detail: dict[str, Any] | None = None) -> None:
    """Record ``event`` (e.g. ``CsrRejected``) for ``station_id`` with a reason code."""
    hub.security_events.count(event, reason)
    await record_notification(hub, station_id, HUB_SECURITY_EVENT, event,
                              detail={"reason": reason, **(detail or {})})
