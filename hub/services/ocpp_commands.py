"""Commands sent as the operator gives them: the payload is the OCPP request itself.

Most of the 2.0.1 blocks (reports, monitoring, display messages, network profiles, firmware
publishing, cost) are "send this request, return the answer": one generic path serves them,
the ``ocpp`` package's JSON schema of the station's version validates the payload (an error
names the field) and its dataclasses carry it. What must be kept afterwards is kept by the
command effects (hub.services.station_holdings and the older effects). Requests whose fields
the hub chooses (request ids, reservation ids) have their own services; ``request_id`` fields
left out are filled in here with a fresh id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ocpp.messages import MessageType
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from hub.context import Hub
from hub.ocpp_server.codec import payload_of, to_snake
from hub.ocpp_server.framing import FrameError, validate
from hub.services.station_commands import V201, new_request_id, station_version

V16 = "1.6"
_REQUIRED = re.compile(r"^'([A-Za-z0-9_]+)' is a required property")
#: Action -> the OCPP versions it is sent to by this path (``pnc-hub ocpp actions`` reads it).
ACTIONS: dict[str, list[str]] = {
    "1.6": ["ClearCache", "ExtendedTriggerMessage", "TriggerMessage"],
    "2.0.1": ["ClearCache", "ClearDisplayMessage", "ClearVariableMonitoring", "CostUpdated",
              "CustomerInformation", "GetBaseReport", "GetChargingProfiles",
              "GetDisplayMessages", "GetMonitoringReport", "GetReport", "GetTransactionStatus",
              "GetVariables", "PublishFirmware", "SetDisplayMessage", "SetMonitoringBase",
              "SetMonitoringLevel", "SetNetworkProfile", "SetVariableMonitoring",
              "SetVariables", "TriggerMessage", "UnpublishFirmware"],
}
#: Every action of this path and the versions it goes to.
COMMANDS: dict[str, tuple[str, ...]] = {
    action: tuple(v for v in ACTIONS if action in ACTIONS[v])
    for action in sorted({a for actions in ACTIONS.values() for a in actions})}
# Requests whose requestId the hub picks when the caller leaves it out.
REQUEST_ID_ACTIONS = frozenset({"GetBaseReport", "GetChargingProfiles", "GetReport",
                                "GetMonitoringReport", "CustomerInformation",
                                "GetDisplayMessages", "PublishFirmware"})


class WrongVersion(Exception):
    def __init__(self, station_id: str, action: str, version: str) -> None:
        supported = ", ".join(COMMANDS.get(action, ()))
        super().__init__(f"{action} is sent to OCPP {supported} stations; station "
                         f"{station_id} speaks OCPP {version}")
        self.station_id = station_id
        self.version = version


class InvalidPayload(ValueError):
    def __init__(self, action: str, error: FrameError) -> None:
        super().__init__(f"invalid {action} payload: {error.description}")
        where = (error.details or {}).get("field")
        parts = ["payload", *(where.split("/") if where else [])]
        missing = _REQUIRED.match(error.description)
        if missing:  # a required property is named by the property, not by its parent
            parts.append(missing.group(1))
        self.field = ".".join(parts)


def request_of(version: str, action: str, payload: dict[str, Any]) -> Any:
    """The ``ocpp`` request dataclass for a camelCase payload, checked against the schema."""
    try:
        validate(MessageType.Call, action, payload, version)
    except FrameError as error:
        raise InvalidPayload(action, error) from None
    # The dataclass, because command effects take it.
    module = call16 if version == V16 else call201
    return getattr(module, action)(**to_snake(payload))


@dataclass(frozen=True)
class Sent:
    answer: dict[str, Any]  # the station's answer, camelCase
    request_id: int | None  # the requestId sent (the hub's pick when the caller gave none)


async def send_command(hub: Hub, station_id: str, action: str, payload: dict[str, Any],
                       timeout: float | None = None) -> Sent:
    """Send ``action`` with ``payload`` (camelCase, as on the wire) to the station and return
    its answer. Raises WrongVersion, InvalidPayload, hub.commands errors."""
    version = station_version(hub, station_id)
    family = V16 if version == V16 else V201
    if family not in COMMANDS.get(action, ()):
        raise WrongVersion(station_id, action, version)
    payload = dict(payload)
    if action in REQUEST_ID_ACTIONS and "requestId" not in payload:
        payload["requestId"] = new_request_id()
    request = request_of(family, action, payload)
    response = await hub.commands.call(station_id, request, timeout=timeout)
    request_id = payload.get("requestId")
    return Sent(payload_of(response), request_id if isinstance(request_id, int) else None)
