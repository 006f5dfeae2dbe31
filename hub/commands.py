"""Commands: the one way anything asks a station to do something.

    response = await hub.commands.call("CP-1", call.Reset(type="Soft"), timeout=10)

One outgoing call is in flight per station at a time (OCPP-J requires it; the session enforces
it). Failures are typed so that callers can answer precisely: ``StationOffline`` (no live
connection on this node), ``CallTimeout`` (no answer in time) and ``CallError`` (the station
answered with a CALLERROR, code and description kept). After an answer, registered effects
persist what matters (configuration, local list version, reservations, availability).

The station is looked up through the registry by id only. In a cluster (hub/cluster/) a station
held by another node is reached through the ``router`` the cluster runtime installs: the call
goes to the node holding the socket, which sends it (one call in flight per station still
holds: only the holder sends) and runs the effects; the same errors come back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hub.logs import ActivityLog
    from hub.ocpp_server.registry import StationRegistry

log = logging.getLogger(__name__)

# (station_id, request dataclass, response dataclass) -> persist the side effect
CommandEffect = Callable[[str, Any, Any], Awaitable[None]]


class CommandFailed(Exception):
    """Base of the errors a command can end in."""


class StationOffline(CommandFailed):
    def __init__(self, station_id: str) -> None:
        super().__init__(f"station {station_id} is not connected")
        self.station_id = station_id


class StationRedirected(StationOffline):
    """The station's connection is relayed to another backend (a broker redirect in relay
    mode): that backend is its central system, so the hub sends it nothing of its own. A
    StationOffline to callers that only ask whether the hub can reach the station."""

    def __init__(self, station_id: str) -> None:
        CommandFailed.__init__(self, f"station {station_id} is redirected to another backend")
        self.station_id = station_id


class StationUnreachable(StationOffline):
    """The station is connected to another hub node that this node cannot reach now (NATS is
    down or the node stopped answering). A StationOffline to callers."""

    def __init__(self, station_id: str, why: str) -> None:
        CommandFailed.__init__(self, f"station {station_id} cannot be reached: {why}")
        self.station_id = station_id


class CallTimeout(CommandFailed):
    def __init__(self, station_id: str, action: str, timeout: float) -> None:
        super().__init__(f"station {station_id} did not answer {action} within {timeout:g}s")
        self.station_id = station_id
        self.action = action
        self.timeout = timeout


class CallError(CommandFailed):
    def __init__(self, station_id: str, action: str, code: str, description: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(f"station {station_id} answered {action} with {code}: {description}")
        self.station_id = station_id
        self.action = action
        self.code = code
        self.description = description
        self.details = details or {}


class CommandRouter(Protocol):
    """Reaches stations held by other nodes (installed by the cluster runtime)."""

    def is_connected(self, station_id: str) -> bool: ...

    def ocpp_version(self, station_id: str) -> str | None: ...

    async def call(self, station_id: str, request: Any, timeout: float) -> Any: ...


class Commands:
    def __init__(self, registry: StationRegistry, default_timeout: float = 30.0,
                 activity: ActivityLog | None = None) -> None:
        self._registry = registry
        self.default_timeout = default_timeout
        # Each command and its outcome at INFO (rate-limited), when the hub runtime sets it.
        self.activity = activity
        self._effects: dict[str, list[tuple[str | None, CommandEffect]]] = {}
        # Stations held by other hub nodes (hub.cluster); None on a single node.
        self.router: CommandRouter | None = None

    def add_effect(self, action: str, effect: CommandEffect, version: str | None = None) -> None:
        """Persist something after a station answered ``action`` (called with req and resp).

        OCPP 1.6 and 2.0.1 share many action names with different payloads: ``version``
        ("1.6", "2.0.1") limits the effect to stations speaking that version.
        """
        self._effects.setdefault(action, []).append((version, effect))

    def is_connected(self, station_id: str) -> bool:
        if station_id in self._registry:
            return True
        return self.router is not None and self.router.is_connected(station_id)

    def ocpp_version(self, station_id: str) -> str | None:
        """The version whose commands the station takes: a 2.1 station takes the 2.0.1 ones
        (its session validates them against the 2.1 schemas)."""
        session = self._registry.get(station_id)
        if session is not None:
            return getattr(session, "service_version", "") or session.ocpp_version
        if self.router is None:
            return None
        version = self.router.ocpp_version(station_id)
        return "2.0.1" if version == "2.1" else version  # as a local 2.1 session's service_version

    async def call(self, station_id: str, request: Any, timeout: float | None = None) -> Any:
        """Send ``request`` (an ``ocpp`` call dataclass) and return the response dataclass."""
        if station_id not in self._registry and self.router is not None:
            return await self.router.call(station_id, request, timeout or self.default_timeout)
        return await self.call_here(station_id, request, timeout)

    async def send_payload(self, station_id: str, action: str, payload: dict[str, Any],
                           timeout: float | None = None, *, version: str) -> dict[str, Any]:
        """Send ``action`` with a camelCase ``payload``, as on the wire, and return the
        station's camelCase answer: no dataclasses on the way, unless a command effect takes
        them or the station is held by another node (then through ``call``). ``version``:
        the OCPP version the payload is written for ("1.6", "2.0.1"; the caller checked that
        the station speaks it), which ``pnc-hub ocpp actions`` reads."""
        # Loaded with the sessions already; imported here to keep the CLI's start light.
        from ocpp.v16 import call as call16
        from ocpp.v201 import call as call201

        from hub.ocpp_server import codec

        session = self._registry.get(station_id)
        if session is None or self._effects_for(session, action):
            module = call16 if version == "1.6" else call201
            request = codec.request_of(module, action, payload)
            answer: dict[str, Any] = codec.payload_of(await self.call(station_id, request,
                                                                      timeout))
            return answer
        if getattr(session, "relayed", False):
            raise StationRedirected(station_id)
        answer = await self._logged(station_id, action, session.call_payload(
            action, payload, timeout=timeout or self.default_timeout))
        return answer  # type: ignore[no-any-return]

    async def _logged(self, station_id: str, action: str, sending: Awaitable[Any]) -> Any:
        """The answer ``sending`` gets, with the command and its outcome in the activity log."""
        try:
            answer = await sending
        except CommandFailed as exc:
            if self.activity is not None:
                self.activity.info("command %s to station %s failed: %s", action, station_id, exc)
            raise
        if self.activity is not None:
            status = answer.get("status", "answered") if isinstance(answer, dict) \
                else getattr(answer, "status", "answered")
            self.activity.info("command %s sent to station %s: %s", action, station_id, status)
        return answer

    def _effects_for(self, session: Any, action: str) -> list[CommandEffect]:
        family = getattr(session, "service_version", "") or session.ocpp_version
        return [effect for version, effect in self._effects.get(action, ())
                if version is None or version == family]

    async def call_here(self, station_id: str, request: Any,
                        timeout: float | None = None) -> Any:
        """``call`` on a station connected to this node only (what a routed call runs)."""
        session = self._registry.get(station_id)
        if session is None:
            raise StationOffline(station_id)
        if getattr(session, "relayed", False):
            raise StationRedirected(station_id)
        action = type(request).__name__
        response = await self._logged(station_id, action, session.call(
            request, timeout=timeout or self.default_timeout))
        for effect in self._effects_for(session, action):
            try:
                await effect(station_id, request, response)
            except Exception:
                # The station did act; failing to record it must not turn success into an error.
                log.exception("recording the effect of %s on %s failed", action, station_id)
        return response
