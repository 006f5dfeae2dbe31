"""Domain events and the in-process bus.

Two kinds of subscriber:

- ``subscribe``: called after the fact is committed, in its own task (metrics, caches, pushes
  that may be lost on a crash). A failing subscriber is logged and never affects the publisher.
- ``on_commit``: called *inside* the database transaction that records the fact, with its
  connection, so that a feature can write an outbox row atomically with the fact (OICP CDRs and
  status pushes). If such a hook fails, the fact is not committed and the station gets an error.

Who records a fact does not call either kind: the unit of work declares its events to the
group committer (``hub.db.group_commit.emit``, or ``committer.run(events=...)``), which runs
the ``on_commit`` hooks in the unit's transaction and publishes after the commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Event:
    station_id: str
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, kw_only=True)
class StationConnected(Event):
    ocpp_version: str
    remote: str | None = None


@dataclass(frozen=True, kw_only=True)
class StationDisconnected(Event):
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class StationBooted(Event):
    status: str
    vendor: str | None = None
    model: str | None = None
    firmware_version: str | None = None


@dataclass(frozen=True, kw_only=True)
class StatusChanged(Event):
    connector_id: int
    status: str
    previous_status: str | None = None
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class TransactionStarted(Event):
    transaction_id: int
    connector_id: int
    id_tag: str | None
    meter_start: int | None
    timestamp: datetime
    reservation_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class TransactionAuthorized(Event):
    """A running transaction got its id token after it started (OCPP 2.0.1: the EV was
    plugged in first, the driver or a remote start authorised it later)."""

    transaction_id: int
    connector_id: int
    id_tag: str
    meter_start: int | None
    timestamp: datetime


@dataclass(frozen=True, kw_only=True)
class TransactionUpdated(Event):
    transaction_id: int
    connector_id: int
    energy_wh: float | None = None


@dataclass(frozen=True, kw_only=True)
class TransactionEnded(Event):
    transaction_id: int
    connector_id: int
    id_tag: str | None
    meter_start: int | None
    meter_stop: int | None
    start_timestamp: datetime
    stop_timestamp: datetime
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class MeterValuesReceived(Event):
    connector_id: int
    transaction_id: int | None
    # [{"timestamp", "value", "measurand", "unit", "phase", "location", "context", "format"}]
    samples: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class SignedMeterValuesReceived(Event):
    """Signed meter data (Eichrecht) a station sent for a transaction, kept opaque and as sent:
    1.6 sampled values in format ``SignedData`` (e.g. an OCMF string), 2.0.1
    ``signedMeterValue``. Runs in the transaction that stores the meter values (``on_commit``
    hooks), so that a feature keeps them atomically with the readings."""

    connector_id: int
    transaction_id: int
    # [{"timestamp", "context", "measurand", "signed_data", "format", "signing_method",
    #   "encoding_method", "public_key"}]
    values: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, kw_only=True)
class StationNotified(Event):
    """A station reported about itself (StationNotification row): DiagnosticsStatus, LogStatus,
    FirmwareStatus, SignedFirmwareStatus, SecurityEvent, ... ``request_id`` is the OCPP
    requestId where the message has one."""

    kind: str
    status: str
    request_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class TariffsChanged(Event):
    """A tariff was set or removed (every node's tariff cache reloads: hub.services.tariffs).
    Not about one station."""

    station_id: str = ""


@dataclass(frozen=True, kw_only=True)
class EvseDataChanged(Event):
    """The master data of EVSEs changed (where they are, their plugs and power, their EvseIDs):
    roaming features re-publish it. Not about one station: ``station_id`` is empty."""

    station_id: str = ""
    reason: str


@dataclass(frozen=True, kw_only=True)
class IdTokenErased(Event):
    """GDPR: the hub replaced ``id_token`` by ``pseudonym`` in its records
    (hub.services.id_token_erasure); features pseudonymise theirs in the same transaction.
    Not about one station: ``station_id`` is empty."""

    station_id: str = ""
    id_token: str
    pseudonym: str


# A station's live picture: what is pushed to whoever watches stations as they change (the
# console's live pages, hub.console.feed; MQTT's station topics, hub.mqtt.station_events).
STATION_LIVE_EVENTS: tuple[type[Event], ...] = (
    StationConnected, StationDisconnected, StatusChanged, TransactionStarted, TransactionEnded,
    MeterValuesReceived)

E = TypeVar("E", bound=Event)
AfterCommitHandler = Callable[[Any], Awaitable[None]]
Listener = Callable[[Any], None]
InTransactionHandler = Callable[[AsyncConnection, Any], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._after: dict[type[Event], list[AfterCommitHandler]] = defaultdict(list)
        self._listeners: dict[type[Event], list[Listener]] = defaultdict(list)
        self._in_tx: dict[type[Event], list[InTransactionHandler]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()
        self.published = 0
        self.handler_errors = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._after[event_type].append(handler)

    def listen(self, event_type: type[E], listener: Callable[[E], None]) -> None:
        """Like ``subscribe``, for a plain function called by ``publish`` itself: quick
        in-memory work that never waits (a live view's queue, a cached lookup). A task per
        subscriber per event was about three tasks per charger message."""
        self._listeners[event_type].append(listener)

    def on_commit(
        self, event_type: type[E], handler: Callable[[AsyncConnection, E], Awaitable[None]]
    ) -> None:
        self._in_tx[event_type].append(handler)

    def has_in_transaction_hooks(self, event_type: type[Event]) -> bool:
        return bool(self._in_tx.get(event_type))

    def in_transaction_hooks(self, event_type: type[Event]) -> Sequence[InTransactionHandler]:
        """The ``on_commit`` handlers of ``event_type``, for the group committer to run."""
        return self._in_tx.get(event_type, ())

    def publish(self, event: Event) -> None:
        """Hand a committed fact to the after-commit subscribers without waiting for them.
        The group committer's, once the fact's transaction committed."""
        self.published += 1
        for listener in self._listeners.get(type(event), ()):
            try:
                listener(event)
            except Exception:
                self.handler_errors += 1
                log.exception("event listener %r failed for %r", listener, event)
        for handler in self._after.get(type(event), ()):
            task = asyncio.ensure_future(self._call(handler, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _call(self, handler: AfterCommitHandler, event: Event) -> None:
        try:
            await handler(event)
        except Exception:
            self.handler_errors += 1
            log.exception("event handler %r failed for %r", handler, event)

    async def drain(self) -> None:
        """Wait for running subscribers (used at shutdown and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
