"""The live sessions of this hub node, by station id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.ocpp_server.session import StationSession


class StationRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, StationSession] = {}
        self.connects = 0
        self.disconnects = 0
        self.replaced = 0

    def get(self, station_id: str) -> StationSession | None:
        return self._sessions.get(station_id)

    def __contains__(self, station_id: str) -> bool:
        return station_id in self._sessions

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[StationSession]:
        return iter(list(self._sessions.values()))

    def add(self, session: StationSession) -> StationSession | None:
        """Register ``session``; return the session it replaces, if any."""
        previous = self._sessions.get(session.id)
        self._sessions[session.id] = session
        self.connects += 1
        if previous is not None:
            self.replaced += 1
        return previous

    def remove(self, session: StationSession) -> bool:
        """Unregister ``session`` unless a newer connection of the station already replaced it."""
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
            self.disconnects += 1
            return True
        return False
