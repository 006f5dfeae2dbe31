"""What the hub remembers after a 2.0.1 station answered a command: device model variables,
local list version, reservations, availability (the 1.6 effects are in command_effects)."""

from __future__ import annotations

from typing import Any

from hub.context import Hub
from hub.services.command_effects import (
    set_availability,
    set_local_list_version,
    set_reservation_status,
)
from hub.services.device_model import DeviceModelEffects, snake

VERSION = "2.0.1"


def register_command_effects201(hub: Hub) -> None:
    effects = CommandEffects201(hub)
    variables = DeviceModelEffects(hub)
    for action, effect in (
        ("GetVariables", variables.variables_read),
        ("SetVariables", variables.variables_set),
        ("GetLocalListVersion", effects.local_list_version_read),
        ("SendLocalList", effects.local_list_sent),
        ("ReserveNow", effects.reservation_answered),
        ("CancelReservation", effects.reservation_cancelled),
        ("ChangeAvailability", effects.availability_changed),
    ):
        hub.commands.add_effect(action, effect, version=VERSION)


class CommandEffects201:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def local_list_version_read(self, station_id: str, request: Any, response: Any) -> None:
        await set_local_list_version(self.hub, station_id, response.version_number)

    async def local_list_sent(self, station_id: str, request: Any, response: Any) -> None:
        if response.status == "Accepted":
            await set_local_list_version(self.hub, station_id, request.version_number)

    async def reservation_answered(self, station_id: str, request: Any, response: Any) -> None:
        # 2.0.1 ReserveNow statuses: Accepted, Faulted, Occupied, Rejected, Unavailable.
        await set_reservation_status(self.hub, station_id, request.id, response.status)

    async def reservation_cancelled(self, station_id: str, request: Any, response: Any) -> None:
        if response.status == "Accepted":
            await set_reservation_status(self.hub, station_id, request.reservation_id,
                                         "Cancelled")

    async def availability_changed(self, station_id: str, request: Any, response: Any) -> None:
        """No EVSE = the whole station (core connector 0 and every EVSE); an EVSE (or one of
        its connectors) = that EVSE's core connector."""
        if response.status not in ("Accepted", "Scheduled"):
            return
        evse = snake(request.evse) if request.evse else None
        await set_availability(self.hub, station_id, evse["id"] if evse else 0,
                               request.operational_status)
