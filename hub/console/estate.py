"""What the console reads about the estate, always within the viewer's organisation.

The same tables and services the management API reads (stations, connectors, transactions,
latest readings, configuration, the OCPP message log, the outbox, the PKI inventory); the one
rule added here is the scope: a user with an organisation sees only stations whose
``organisation_key`` is that organisation (as organisation API tokens do), and what hangs
off them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import (
    Connector,
    LatestReading,
    MeterValue,
    OcppMessage,
    OutboxMessage,
    PkiCertificate,
    Station,
    StationConfigurationKey,
    Transaction,
)

PAGE_SIZE = 50
EXPIRY_WINDOW = timedelta(days=30)


def sees_whole_estate(org: str | None) -> bool:
    """Whether a user may see what belongs to no one station (the MQTT broker's topics and
    payloads, which may carry any organisation's meters): only users without an organisation."""
    return org is None


def scoped(query: Any, org: str | None, station_column: Any = None) -> Any:
    """``query`` limited to the organisation's stations (no organisation: everything)."""
    if org is None:
        return query
    if station_column is None:
        return query.where(Station.organisation_key == org)
    return query.where(station_column.in_(
        sa.select(Station.id).where(Station.organisation_key == org)))


async def station_visible(hub: Hub, station_id: str, org: str | None) -> Station | None:
    async with hub.sessions() as session:
        row = await session.get(Station, station_id)
    if row is None or (org is not None and row.organisation_key != org):
        return None
    return row


@dataclass
class StationPage:
    rows: list[Station]
    total: int
    page: int
    pages: int


async def station_page(hub: Hub, org: str | None, *, search: str = "", online: str = "",
                       page: int = 1, size: int = PAGE_SIZE) -> StationPage:
    """One page of stations ordered by id; ``search`` matches id, vendor or model (substring,
    case-insensitive), ``online`` is "yes", "no" or "" (all)."""
    where = []
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(sa.or_(Station.id.ilike(pattern, escape="\\"),
                            Station.vendor.ilike(pattern, escape="\\"),
                            Station.model.ilike(pattern, escape="\\")))
    if online in ("yes", "no"):
        where.append(Station.connected.is_(online == "yes"))
    base = scoped(sa.select(Station), org).where(*where)
    async with hub.sessions() as session:
        total = (await session.execute(
            base.with_only_columns(sa.func.count()).order_by(None))).scalar_one()
        pages = max(1, math.ceil(total / size))
        page = min(max(1, page), pages)
        rows = list((await session.execute(
            base.order_by(Station.id).limit(size).offset((page - 1) * size))).scalars())
    return StationPage(rows, total, page, pages)


@dataclass
class Estate:
    online: int
    offline: int
    connectors: dict[str, int]
    active_sessions: int
    outbox_pending: int | None
    outbox_failing: int | None
    outbox_oldest: datetime | None
    expiring: list[PkiCertificate]


async def estate(hub: Hub, org: str | None) -> Estate:
    """The dashboard's figures (the OICP outbox only for users of the whole estate)."""
    async with hub.sessions() as session:
        counts = dict((await session.execute(scoped(
            sa.select(Station.connected, sa.func.count()).group_by(Station.connected),
            org))).all())
        connectors = dict((await session.execute(scoped(
            sa.select(sa.func.coalesce(Connector.status, "Unknown"), sa.func.count())
            .where(Connector.connector_id > 0).group_by(Connector.status),
            org, Connector.station_id))).all())
        active = (await session.execute(scoped(
            sa.select(sa.func.count()).select_from(Transaction)
            .where(Transaction.status == "active"), org, Transaction.station_id))).scalar_one()
        expiring = list((await session.execute(scoped(
            sa.select(PkiCertificate).where(PkiCertificate.revoked_at.is_(None),
                                            PkiCertificate.not_after > utcnow(),
                                            PkiCertificate.not_after < utcnow() + EXPIRY_WINDOW)
            .order_by(PkiCertificate.not_after).limit(20),
            org, PkiCertificate.station_id))).scalars())
        outbox: tuple[Any, ...] = (None, None, None)
        if org is None:
            outbox = (await session.execute(sa.select(
                sa.func.count(), sa.func.count(OutboxMessage.last_error),
                sa.func.min(OutboxMessage.created_at))
                .where(OutboxMessage.delivered_at.is_(None)))).one()
    return Estate(online=counts.get(True, 0), offline=counts.get(False, 0),
                  connectors=dict(sorted(connectors.items())), active_sessions=active,
                  outbox_pending=outbox[0], outbox_failing=outbox[1], outbox_oldest=outbox[2],
                  expiring=expiring)


@dataclass
class StationDetail:
    connectors: list[Connector]
    transactions: dict[int, Transaction]
    readings: dict[int, list[LatestReading]]
    configuration: list[StationConfigurationKey]
    # transaction id -> SVG polyline points of its power curve (chart_points)
    power_curves: dict[int, str] = field(default_factory=dict)


async def station_detail(hub: Hub, station_id: str) -> StationDetail:
    async with hub.sessions() as session:
        connectors = list((await session.execute(sa.select(Connector).where(
            Connector.station_id == station_id).order_by(Connector.connector_id))).scalars())
        transactions = {t.connector_id: t for t in (await session.execute(
            sa.select(Transaction).where(Transaction.station_id == station_id,
                                         Transaction.status == "active"))).scalars()}
        readings: dict[int, list[LatestReading]] = {}
        for reading in (await session.execute(sa.select(LatestReading).where(
                LatestReading.station_id == station_id).order_by(
                LatestReading.connector_id, LatestReading.measurand))).scalars():
            readings.setdefault(reading.connector_id, []).append(reading)
        configuration = list((await session.execute(sa.select(StationConfigurationKey).where(
            StationConfigurationKey.station_id == station_id).order_by(
            StationConfigurationKey.key))).scalars())
        curves = {}
        for transaction in transactions.values():
            samples = (await session.execute(
                sa.select(MeterValue.timestamp, MeterValue.numeric_value).where(
                    MeterValue.transaction_id == transaction.id,
                    MeterValue.measurand == "Power.Active.Import",
                    MeterValue.phase.is_(None), MeterValue.numeric_value.is_not(None))
                .order_by(MeterValue.timestamp.desc()).limit(CURVE_POINTS))).all()
            if len(samples) >= 2:
                curves[transaction.id] = chart_points(samples[::-1])
    return StationDetail(connectors, transactions, readings, configuration, curves)


CURVE_POINTS = 300
CHART_WIDTH, CHART_HEIGHT = 600, 120


def chart_points(samples: list[Any]) -> str:
    """(timestamp, value) pairs scaled into a CHART_WIDTH x CHART_HEIGHT SVG polyline."""
    start = samples[0][0].timestamp()
    span = max(1.0, samples[-1][0].timestamp() - start)
    top = max(1.0, max(value for _at, value in samples))
    return " ".join(
        f"{(at.timestamp() - start) / span * CHART_WIDTH:.1f},"
        f"{CHART_HEIGHT - value / top * CHART_HEIGHT:.1f}" for at, value in samples)


async def recent_messages(hub: Hub, station_id: str, after_id: int = 0,
                          limit: int = 100) -> list[OcppMessage]:
    """The station's newest logged OCPP messages (after ``after_id``), oldest first."""
    query = sa.select(OcppMessage).where(OcppMessage.station_id == station_id)
    if after_id:
        query = query.where(OcppMessage.id > after_id)
    async with hub.sessions() as session:
        rows = list((await session.execute(
            query.order_by(OcppMessage.id.desc()).limit(limit))).scalars())
    return rows[::-1]


async def transactions(hub: Hub, org: str | None, *, status: str = "", station: str = "",
                       page: int = 1, size: int = PAGE_SIZE) -> list[Transaction]:
    query = scoped(sa.select(Transaction), org, Transaction.station_id)
    if status in ("active", "completed"):
        query = query.where(Transaction.status == status)
    if station:
        query = query.where(Transaction.station_id == station)
    query = query.order_by(Transaction.id.desc())
    if size:
        query = query.limit(size).offset((max(1, page) - 1) * size)
    async with hub.sessions() as session:
        return list((await session.execute(query)).scalars())


async def power_of(hub: Hub, transactions_: list[Transaction]) -> dict[int, LatestReading]:
    """The latest power reading (all phases, no location) of each transaction's connector."""
    ids = [t.id for t in transactions_]
    if not ids:
        return {}
    async with hub.sessions() as session:
        rows = (await session.execute(sa.select(LatestReading).where(
            LatestReading.transaction_id.in_(ids),
            LatestReading.measurand == "Power.Active.Import", LatestReading.phase == ""))).scalars()
        return {row.transaction_id: row for row in rows if row.transaction_id is not None}
