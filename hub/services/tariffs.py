"""Tariffs and the cost of charging.

A tariff applies to one connector, a whole station, or every station (the hub's default); the
most specific one wins. Its terms: an energy price per kWh, a time price per hour of the
transaction, a session fee, all net, plus a tax rate and a currency. The cost of a transaction
is ``fee + kWh x energy price + hours x time price``, taxed.

The stations are told (OCPP 2.0.1 / 2.1; 1.6 has no cost messages): the running cost in
``CostUpdated`` as meter values come in (at most once per ``COST_UPDATE_INTERVAL`` per
transaction), the final cost in the TransactionEventResponse ``totalCost`` of the Ended event
(session201). Both are kept in ``transaction_costs`` for every version, for the APIs and CDRs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from ocpp.v201 import call as call201
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.commands import CommandFailed
from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Transaction
from hub.db.models_blocks import Tariff, TransactionCost
from hub.db.upsert import upsert
from hub.events import TariffsChanged, TransactionEnded, TransactionUpdated

log = logging.getLogger(__name__)

COST_UPDATE_INTERVAL = 60.0  # seconds between two CostUpdated of one transaction
TARIFF_CACHE_SECONDS = 60.0  # the backstop when another node's change is not heard (NATS away)


@dataclass(frozen=True)
class TariffTerms:
    currency: str
    energy_price: float = 0.0  # per kWh, net
    time_price: float = 0.0  # per hour, net
    session_fee: float = 0.0  # net
    tax_percent: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Cost:
    currency: str
    net: float
    total: float  # including tax
    energy_wh: float
    seconds: int


def cost_of(terms: TariffTerms, energy_wh: float, seconds: float) -> Cost:
    net = (terms.session_fee + max(energy_wh, 0.0) / 1000 * terms.energy_price
           + max(seconds, 0.0) / 3600 * terms.time_price)
    total = net * (1 + terms.tax_percent / 100)
    return Cost(terms.currency, round(net, 4), round(total, 2), energy_wh, int(seconds))


def _terms(row: Tariff) -> TariffTerms:
    return TariffTerms(row.currency, row.energy_price, row.time_price, row.session_fee,
                       row.tax_percent)


def _scope(station_id: str | None, connector_id: int | None) -> Any:
    station = Tariff.station_id.is_(None) if station_id is None else (
        Tariff.station_id == station_id)
    connector = Tariff.connector_id.is_(None) if connector_id is None else (
        Tariff.connector_id == connector_id)
    return sa.and_(station, connector)


TariffRows = dict[tuple[str | None, int | None], TariffTerms]


def applicable(rows: TariffRows, station_id: str, connector_id: int | None
               ) -> TariffTerms | None:
    """The tariff that applies to a connector: its own, its station's, or the default."""
    for scope in ((station_id, connector_id), (station_id, None), (None, None)):
        if scope in rows:
            return rows[scope]
    return None


async def all_tariffs(hub: Hub) -> TariffRows:
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(Tariff))).scalars().all()
    return {(r.station_id, r.connector_id): _terms(r) for r in rows}


async def tariff_for(hub: Hub, station_id: str, connector_id: int | None
                     ) -> TariffTerms | None:
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(Tariff).where(sa.or_(
            _scope(station_id, connector_id), _scope(station_id, None), _scope(None, None)
        )))).scalars().all()
    return applicable({(r.station_id, r.connector_id): _terms(r) for r in rows}, station_id,
                      connector_id)


async def set_tariff(hub: Hub, station_id: str | None, connector_id: int | None,
                     terms: TariffTerms) -> None:
    values = {**terms.as_dict(), "updated_at": utcnow()}

    async def work(conn: AsyncConnection) -> None:
        # NULL never equals NULL in a unique constraint: look the scope up instead of upsert.
        found = (await conn.execute(sa.select(Tariff.id).where(
            _scope(station_id, connector_id)))).scalar()
        if found is None:
            await conn.execute(sa.insert(Tariff).values(
                station_id=station_id, connector_id=connector_id, **values))
        else:
            await conn.execute(sa.update(Tariff).where(Tariff.id == found).values(**values))

    await hub.committer.run(work, events=[TariffsChanged()])


async def delete_tariff(hub: Hub, station_id: str | None, connector_id: int | None) -> bool:
    async def work(conn: AsyncConnection) -> bool:
        result = await conn.execute(sa.delete(Tariff).where(_scope(station_id, connector_id)))
        return bool(result.rowcount)

    removed = bool(await hub.committer.run(work, events=[TariffsChanged()]))
    return removed


async def list_tariffs(hub: Hub) -> list[dict[str, Any]]:
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(Tariff).order_by(
            Tariff.station_id.is_not(None), Tariff.station_id, Tariff.connector_id.is_not(None),
            Tariff.connector_id))).scalars().all()
    return [{"station_id": r.station_id, "connector_id": r.connector_id,
             **_terms(r).as_dict(), "updated_at": r.updated_at} for r in rows]


async def _keep(hub: Hub, transaction_id: int, cost: Cost, final: bool) -> None:
    row = {"transaction_id": transaction_id, "currency": cost.currency, "net": cost.net,
           "total": cost.total, "energy_wh": cost.energy_wh, "seconds": cost.seconds,
           "final": final, "updated_at": utcnow()}

    async def work(conn: AsyncConnection) -> None:
        await upsert(conn, TransactionCost.__table__, [row], key=["transaction_id"])

    await hub.committer.run(work)


async def transaction_cost(hub: Hub, transaction_id: int, *, final: bool = False,
                           energy_register_wh: float | None = None, at: datetime | None = None,
                           terms: TariffTerms | None = None) -> Cost | None:
    """The transaction's cost under its tariff (``terms``, else looked up; None without one),
    kept. Running: up to ``energy_register_wh`` and ``at``; final: from its meter stop and
    stop time."""
    async with hub.sessions() as session:
        tx = await session.get(Transaction, transaction_id)
    if tx is None:
        return None
    terms = terms or await tariff_for(hub, tx.station_id, tx.connector_id)
    if terms is None:
        return None
    register = tx.meter_stop if final else energy_register_wh
    energy = (register - tx.meter_start) if register is not None and \
        tx.meter_start is not None else 0.0
    until = (tx.stop_timestamp if final else at) or utcnow()
    cost = cost_of(terms, float(energy), (until - tx.start_timestamp).total_seconds())
    await _keep(hub, transaction_id, cost, final)
    return cost


async def costs_of(hub: Hub, transaction_ids: list[int]) -> dict[int, dict[str, Any]]:
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(TransactionCost).where(
            TransactionCost.transaction_id.in_(transaction_ids)))).scalars().all()
    return {r.transaction_id: {"currency": r.currency, "net": r.net, "total": r.total,
                               "final": r.final} for r in rows}


class TariffCache:
    """The tariffs, kept in memory so that a transaction on a connector without a tariff
    costs no database read (neither its meter values nor its end): reloaded when this node
    changes one (TariffsChanged, heard in ``publish`` itself, so never stale here), when
    another node does (the same event, through the cluster) and at least every
    ``TARIFF_CACHE_SECONDS``."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._tariffs: TariffRows | None = None
        self._loaded = 0.0
        # Bumped by every change: a load that a change overtook is not kept.
        self._generation = 0

    def changed(self, event: TariffsChanged) -> None:
        self._tariffs = None
        self._generation += 1

    async def applicable(self, station_id: str, connector_id: int | None
                         ) -> TariffTerms | None:
        tariffs = self._tariffs
        if tariffs is None or time.monotonic() - self._loaded > TARIFF_CACHE_SECONDS:
            generation = self._generation
            tariffs = await all_tariffs(self.hub)
            if generation == self._generation:
                self._tariffs, self._loaded = tariffs, time.monotonic()
        return applicable(tariffs, station_id, connector_id)


async def final_cost(hub: Hub, transaction_id: int, station_id: str, connector_id: int
                     ) -> Cost | None:
    """An ended transaction's cost (kept), or None when no tariff applies to its connector:
    through the hub's tariff cache when it has one."""
    cache = hub.tariff_cache
    terms = await (cache.applicable(station_id, connector_id) if cache is not None
                   else tariff_for(hub, station_id, connector_id))
    if terms is None:
        return None
    return await transaction_cost(hub, transaction_id, final=True, terms=terms)


class CostUpdates:
    """Running costs: after each committed TransactionUpdated, CostUpdated to a 2.0.1/2.1
    station (throttled); the final cost of every transaction at TransactionEnded. The
    tariffs come from the hub's TariffCache."""

    def __init__(self, hub: Hub, tariffs: TariffCache,
                 interval: float = COST_UPDATE_INTERVAL) -> None:
        self.hub = hub
        self.interval = interval
        self.tariffs = tariffs
        self._last: dict[int, float] = {}

    async def on_updated(self, event: TransactionUpdated) -> None:
        now = time.monotonic()
        if now - self._last.get(event.transaction_id, -self.interval) < self.interval:
            return
        terms = await self.tariffs.applicable(event.station_id, event.connector_id)
        if terms is None:
            return
        self._last[event.transaction_id] = now
        cost = await transaction_cost(self.hub, event.transaction_id,
                                      energy_register_wh=event.energy_wh, at=event.at,
                                      terms=terms)
        if cost is None or self.hub.commands.ocpp_version(event.station_id) != "2.0.1":
            return
        async with self.hub.sessions() as session:
            ocpp_id = (await session.execute(sa.select(Transaction.ocpp_transaction_id).where(
                Transaction.id == event.transaction_id))).scalar()
        if ocpp_id is None:
            return
        try:
            await self.hub.commands.call(event.station_id, call201.CostUpdated(
                total_cost=cost.total, transaction_id=ocpp_id))
        except CommandFailed as exc:
            log.info("%s: CostUpdated not delivered: %s", event.station_id, exc)

    async def on_ended(self, event: TransactionEnded) -> None:
        self._last.pop(event.transaction_id, None)
        terms = await self.tariffs.applicable(event.station_id, event.connector_id)
        if terms is not None:
            await transaction_cost(self.hub, event.transaction_id, final=True, terms=terms)


def register_cost_updates(hub: Hub) -> CostUpdates:
    cache = hub.tariff_cache = TariffCache(hub)
    hub.bus.listen(TariffsChanged, cache.changed)  # this node's changes, at once

    async def changed_elsewhere(event: TariffsChanged) -> None:
        # Through the cluster: other nodes' changes (this node's once more, harmlessly), so a
        # transaction ending there is priced with the new tariff, not one up to a minute old.
        cache.changed(event)

    hub.cluster.subscribe(TariffsChanged, changed_elsewhere)
    updates = CostUpdates(hub, cache)
    hub.bus.subscribe(TransactionUpdated, updates.on_updated)
    hub.bus.subscribe(TransactionEnded, updates.on_ended)
    return updates
