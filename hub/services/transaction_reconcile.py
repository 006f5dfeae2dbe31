"""GetTransactionStatus in use: when a 2.0.1 (or 2.1) station comes back (connects, or boots
Accepted) while the hub still holds transactions of it open, the hub asks about each.

- ``messagesInQueue`` true: the station still has TransactionEvents of it to deliver. The hub
  waits for them (they end the transaction as the station saw it, and only then does the
  transaction's CDR go out) and asks again, up to ``ATTEMPTS`` times.
- nothing queued and ``ongoingIndicator`` false: the station no longer knows the transaction
  and will send nothing more about it, so the hub ends it itself (stoppedReason ``Other``,
  trigger ``AbnormalCondition``, meter stop = the last reading it has). This is the
  TransactionEnded the roaming CDR hooks act on, so the CDR goes out only once the station's
  queue is known to be empty.
- ongoing: nothing to do, its events keep coming.

A station that does not answer (not yet accepted, offline again) is left alone: the next
connection asks again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from ocpp.v201 import call as call201

from hub.commands import CommandFailed
from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Transaction
from hub.events import StationBooted, StationConnected
from hub.services.transaction_events import TransactionEventIn, record_transaction_event

log = logging.getLogger(__name__)

ATTEMPTS = 10
# A station that ignores the question must not hold its one call slot for long.
ASK_TIMEOUT = 10.0
# The seqNo of the Ended event the hub records itself (the station's own are far below).
HUB_END_SEQ_NO = 2**31 - 1


@dataclass(frozen=True)
class Reconciled:
    transaction_id: int
    outcome: str  # ongoing | ended-by-station | ended-by-hub | unanswered


async def open_transactions(hub: Hub, station_id: str) -> list[tuple[int, str]]:
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(Transaction.id, Transaction.ocpp_transaction_id)
                                      .where(Transaction.station_id == station_id,
                                             Transaction.status == "active",
                                             Transaction.ocpp_transaction_id.is_not(None)))
                ).all()
    return [(r[0], r[1]) for r in rows]


async def _still_open(hub: Hub, transaction_id: int) -> bool:
    async with hub.sessions() as session:
        status = (await session.execute(sa.select(Transaction.status).where(
            Transaction.id == transaction_id))).scalar()
    return status == "active"


async def reconcile_transaction(hub: Hub, station_id: str, transaction_id: int,
                                ocpp_transaction_id: str, interval: float = 2.0) -> Reconciled:
    for _ in range(ATTEMPTS):
        try:
            status = await hub.commands.call(station_id, call201.GetTransactionStatus(
                transaction_id=ocpp_transaction_id),
                timeout=min(ASK_TIMEOUT, hub.commands.default_timeout))
        except CommandFailed as exc:
            log.info("%s: GetTransactionStatus %s not answered: %s", station_id,
                     ocpp_transaction_id, exc)
            return Reconciled(transaction_id, "unanswered")
        if not await _still_open(hub, transaction_id):
            return Reconciled(transaction_id, "ended-by-station")
        if not status.messages_in_queue:
            if status.ongoing_indicator is False:
                await _end_lost(hub, station_id, ocpp_transaction_id)
                return Reconciled(transaction_id, "ended-by-hub")
            return Reconciled(transaction_id, "ongoing")
        await asyncio.sleep(interval)  # its queued events are on their way
    return Reconciled(transaction_id, "ongoing" if await _still_open(hub, transaction_id)
                      else "ended-by-station")


async def _end_lost(hub: Hub, station_id: str, ocpp_transaction_id: str) -> None:
    session = hub.stations.get(station_id)
    await record_transaction_event(hub, TransactionEventIn(
        station_id=station_id, event_type="Ended", timestamp=utcnow(),
        trigger_reason="AbnormalCondition", seq_no=HUB_END_SEQ_NO,
        ocpp_transaction_id=ocpp_transaction_id, stopped_reason="Other"),
        getattr(session, "transactions", None))


async def reconcile_station(hub: Hub, station_id: str, interval: float = 2.0
                            ) -> list[Reconciled]:
    if hub.commands.ocpp_version(station_id) != "2.0.1":
        return []
    return [await reconcile_transaction(hub, station_id, tx_id, ocpp_id, interval)
            for tx_id, ocpp_id in await open_transactions(hub, station_id)]


class TransactionReconciler:
    """Runs ``reconcile_station`` when a station connects or boots Accepted, once at a time
    per station (a trigger during a run asks for one more run after it)."""

    def __init__(self, hub: Hub, interval: float = 2.0) -> None:
        self.hub = hub
        self.interval = interval
        self._running: set[str] = set()
        self._again: set[str] = set()

    async def on_connected(self, event: StationConnected) -> None:
        await self._run(event.station_id)

    async def on_booted(self, event: StationBooted) -> None:
        if event.status == "Accepted":
            await self._run(event.station_id)

    async def _run(self, station_id: str) -> None:
        if station_id in self._running:
            self._again.add(station_id)
            return
        self._running.add(station_id)
        try:
            while True:
                self._again.discard(station_id)
                for outcome in await reconcile_station(self.hub, station_id, self.interval):
                    log.info("%s: open transaction %s after reconnect: %s", station_id,
                             outcome.transaction_id, outcome.outcome)
                if station_id not in self._again:
                    break
        finally:
            self._running.discard(station_id)


def register_transaction_reconciler(hub: Hub) -> TransactionReconciler:
    reconciler = TransactionReconciler(hub)
    hub.bus.subscribe(StationConnected, reconciler.on_connected)
    hub.bus.subscribe(StationBooted, reconciler.on_booted)
    return reconciler
