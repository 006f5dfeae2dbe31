"""The hub's record of the charging profiles each station holds.

OCPP's rules for what a station keeps, applied to the record: a new profile replaces one with
the same id, and one with the same connector, purpose and stack level; ClearChargingProfile
removes the profiles matching all the criteria given (none: all of them); a TxProfile ends with
its transaction. A 2.0.1 station's ReportChargingProfiles replaces what the record says about
the profiles it reports.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import Transaction
from hub.db.models_charging import StationChargingProfile as Row

T = Row.__table__


async def profile_set(hub: Hub, station_id: str, connector_id: int, profile: dict[str, Any],
                      source: str) -> None:
    async def work(conn: AsyncConnection) -> None:
        await _replace(conn, station_id, connector_id, profile, source)

    await hub.committer.run(work)


async def _replace(conn: AsyncConnection, station_id: str, connector_id: int,
                   profile: dict[str, Any], source: str) -> None:
    await conn.execute(sa.delete(T).where(T.c.station_id == station_id, sa.or_(
        T.c.profile_id == profile["id"],
        sa.and_(T.c.connector_id == connector_id, T.c.purpose == profile["purpose"],
                T.c.stack_level == profile["stack_level"]))))
    await conn.execute(sa.insert(T).values(
        station_id=station_id, connector_id=connector_id, profile_id=profile["id"],
        stack_level=profile["stack_level"], purpose=profile["purpose"],
        transaction_id=profile.get("transaction_id"), source=source, profile=profile,
        updated_at=utcnow()))


async def profiles_cleared(hub: Hub, station_id: str, profile_id: int | None,
                           connector_id: int | None, purpose: str | None,
                           stack_level: int | None) -> None:
    criteria = [T.c.station_id == station_id]
    for column, value in ((T.c.profile_id, profile_id), (T.c.connector_id, connector_id),
                          (T.c.purpose, purpose), (T.c.stack_level, stack_level)):
        if value is not None:
            criteria.append(column == value)

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(sa.delete(T).where(*criteria))

    await hub.committer.run(work)


# Built once: it runs after every transaction (building it cost more than running it).
_DELETE_TX_PROFILES = sa.delete(T).where(T.c.station_id == sa.bindparam("b_station"),
                                         T.c.purpose == "TxProfile",
                                         T.c.transaction_id == sa.bindparam("b_transaction"))


async def profiles_reported(hub: Hub, station_id: str, evse_id: int,
                            profiles: list[dict[str, Any]]) -> None:
    """A 2.0.1 ReportChargingProfiles (snake_case, as the ``ocpp`` handler gets it)."""
    neutral = []
    for item in profiles:
        profile = await _from201(hub, station_id, item)
        if profile is not None:
            neutral.append(profile)

    async def work(conn: AsyncConnection) -> None:
        for profile in neutral:
            await _replace(conn, station_id, evse_id, profile, source="report")

    await hub.committer.run(work)


async def _from201(hub: Hub, station_id: str, item: dict[str, Any]) -> dict[str, Any] | None:
    try:
        purpose = item["charging_profile_purpose"]
        schedules = item.get("charging_schedule") or [{}]
        profile: dict[str, Any] = {
            "id": int(item["id"]), "stack_level": int(item["stack_level"]),
            "purpose": "ChargePointMaxProfile" if purpose == "ChargingStationMaxProfile"
            else purpose,
            "kind": item.get("charging_profile_kind"),
            "charging_schedule": {k: v for k, v in schedules[0].items() if k != "id"}}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # the station's schema validation makes this rare; keep what is readable
    for name in ("recurrency_kind", "valid_from", "valid_to"):
        if item.get(name) is not None:
            profile[name] = item[name]
    if item.get("transaction_id"):
        async with hub.sessions() as session:
            profile["transaction_id"] = (await session.execute(sa.select(Transaction.id).where(
                Transaction.station_id == station_id,
                Transaction.ocpp_transaction_id == item["transaction_id"]))).scalar()
    return profile


async def held_profiles(hub: Hub, station_id: str, connector_id: int | None = None
                        ) -> list[dict[str, Any]]:
    query = sa.select(T).where(T.c.station_id == station_id)
    if connector_id is not None:
        query = query.where(T.c.connector_id == connector_id)
    async with hub.sessions() as session:
        rows = (await session.execute(query.order_by(
            T.c.connector_id, T.c.purpose, T.c.stack_level, T.c.profile_id))).all()
    return [{"connector_id": row.connector_id, "source": row.source,
             "updated_at": row.updated_at, "charging_profile": row.profile} for row in rows]


def register_charging_profile_record(hub: Hub) -> None:
    """A TxProfile ends with its transaction (OCPP: the station discards it): deleted in the
    transaction that records the end, not in a unit of its own after it (a task and a commit
    unit per stopped transaction)."""
    from hub.events import TransactionEnded

    async def ended(conn: AsyncConnection, event: TransactionEnded) -> None:
        await conn.execute(_DELETE_TX_PROFILES, {"b_station": event.station_id,
                                                 "b_transaction": event.transaction_id})

    hub.bus.on_commit(TransactionEnded, ended)
