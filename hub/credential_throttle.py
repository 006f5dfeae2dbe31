"""Throttling of failed credentials: HTTP Basic on the chargers' endpoint, bearer tokens on HTTP.

Each key (a source address, a station id) may fail ``free_failures`` times; every failure after
that blocks the key for twice as long as the one before (``base_delay`` .. ``max_delay``
seconds). A blocked key is answered 429 with ``Retry-After`` before any credential is checked
(for the WebSocket endpoint: before the upgrade), so guessing costs the guesser time, not the
hub work. A key that has not failed for ``forget_after`` seconds starts afresh.

Memory is bounded: each table holds at most ``max_entries`` keys, least recently failed evicted
first, so 100,000 distinct failing ids cost no more than ``max_entries`` small entries. The
clock is injectable (tests move it instead of sleeping).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from aiohttp import web

from hub.errors import error_response


class CredentialThrottle:
    """Failures per key; ``retry_after`` says how long a key must still wait (0: go ahead)."""

    def __init__(self, *, free_failures: int = 5, base_delay: float = 1.0,
                 max_delay: float = 300.0, forget_after: float = 900.0,
                 max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_entries = max_entries
        self.clock = clock
        # key -> (failures, blocked until, last failure); a tuple is the smallest entry.
        self._entries: OrderedDict[Hashable, tuple[int, float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def retry_after(self, key: Hashable) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        now = self.clock()
        if now - entry[2] >= self.forget_after:
            del self._entries[key]
            return 0.0
        return max(0.0, entry[1] - now)

    def failure(self, key: Hashable) -> None:
        now = self.clock()
        failures, _, last = self._entries.pop(key, (0, 0.0, now))
        if now - last >= self.forget_after:
            failures = 0
        failures += 1
        over = failures - self.free_failures
        blocked_until = (now + min(self.max_delay, self.base_delay * 2 ** min(over - 1, 64))
                         if over > 0 else 0.0)
        self._entries[key] = (failures, blocked_until, now)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def success(self, key: Hashable) -> None:
        self._entries.pop(key, None)


@dataclass
class CredentialThrottles:
    """The hub's tables, one per kind of key, so that one kind cannot crowd out another.
    Source addresses get more free failures than station ids: many stations may share one
    address (a carrier's NAT), and one misconfigured station must not lock out the others."""

    station_ids: CredentialThrottle = field(default_factory=CredentialThrottle)
    station_addresses: CredentialThrottle = field(
        default_factory=lambda: CredentialThrottle(free_failures=20))
    token_addresses: CredentialThrottle = field(
        default_factory=lambda: CredentialThrottle(free_failures=20))
    # The console's login form: per source address and per username (hub.console).
    console_addresses: CredentialThrottle = field(
        default_factory=lambda: CredentialThrottle(free_failures=20))
    console_users: CredentialThrottle = field(default_factory=CredentialThrottle)

    def set_clock(self, clock: Callable[[], float]) -> None:
        for table in (self.station_ids, self.station_addresses, self.token_addresses,
                      self.console_addresses, self.console_users):
            table.clock = clock

    def station_retry_after(self, address: str | None, station_id: str) -> float:
        return max(self.station_ids.retry_after(station_id),
                   self.station_addresses.retry_after(address))

    def station_failed(self, address: str | None, station_id: str) -> None:
        self.station_ids.failure(station_id)
        self.station_addresses.failure(address)

    def station_succeeded(self, station_id: str) -> None:
        # Only the station's own record: an attacker's working login must not clear its
        # address's failures.
        self.station_ids.success(station_id)

    def login_retry_after(self, address: str | None, username: str) -> float:
        return max(self.console_addresses.retry_after(address),
                   self.console_users.retry_after(username))

    def login_failed(self, address: str | None, username: str) -> None:
        self.console_addresses.failure(address)
        self.console_users.failure(username)

    def login_succeeded(self, username: str) -> None:
        self.console_users.success(username)  # not the address's record (see above)


CREDENTIAL_THROTTLES = web.AppKey("credential_throttles", CredentialThrottles)


def too_many_failures(retry_after: float) -> web.Response:
    """The answer to a throttled key: 429 with ``Retry-After`` in whole seconds."""
    seconds = max(1, math.ceil(retry_after))
    response = error_response(429, "too_many_failures",
                              f"too many failed credentials; retry in {seconds} s",
                              retry_after=seconds)
    response.headers["Retry-After"] = str(seconds)
    return response
