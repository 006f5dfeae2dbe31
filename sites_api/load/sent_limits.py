"""The limits the load manager sent, by connector, with an index by station.

A station that connects again may have rebooted and dropped its profiles: every limit sent to
it is forgotten. In a boot storm that happens thousands of times; scanning every sent limit
each time made the storm quadratic, so the keys are also kept per station.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime

from sites_api.load.site_data import Key


@dataclass
class SentLimit:
    amps: float
    transaction_id: int
    sent_at: float  # monotonic
    at: datetime
    status: str  # the station's answer, or Offline / Timeout / CallError / pending


class SentLimits(MutableMapping[Key, SentLimit]):
    def __init__(self) -> None:
        self._limits: dict[Key, SentLimit] = {}
        self._by_station: dict[str, set[Key]] = {}

    def __getitem__(self, key: Key) -> SentLimit:
        return self._limits[key]

    def __setitem__(self, key: Key, limit: SentLimit) -> None:
        self._limits[key] = limit
        self._by_station.setdefault(key[0], set()).add(key)

    def __delitem__(self, key: Key) -> None:
        del self._limits[key]
        keys = self._by_station[key[0]]
        keys.discard(key)
        if not keys:
            del self._by_station[key[0]]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._limits)

    def __len__(self) -> int:
        return len(self._limits)

    def forget_station(self, station_id: str) -> None:
        """Every limit sent to ``station_id`` (its connectors), gone."""
        for key in self._by_station.pop(station_id, ()):
            del self._limits[key]
