"""Station lifecycle: registration on connect, boot, last-seen, disconnect."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.group_commit import Write, emit, write_rows
from hub.db.models import Station
from hub.events import StationBooted, StationConnected, StationDisconnected

# OCPP 1.6 Security Whitepaper: the AuthorizationKey is 16 to 40 bytes.
MIN_PASSWORD_LENGTH = 16
MAX_PASSWORD_LENGTH = 40


_STATIONS = Station.__table__
_CONNECT_COLUMNS = ("connected", "connected_at", "last_seen_at", "ocpp_version")


class UnknownStation(LookupError):
    pass


def hash_password(password: str) -> str:
    """Salted SHA-256. Station passwords are long random keys (>= 16 characters, enforced), so
    a slow KDF would only slow down reconnect storms without adding protection."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"station password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    salt = secrets.token_hex(8)
    digest = hashlib.sha256((salt + password).encode()).hexdigest()
    return f"sha256${salt}${digest}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "sha256":
        return False
    candidate = hashlib.sha256((salt + password).encode()).hexdigest()
    return hmac.compare_digest(candidate, digest)


@dataclass
class StationAdmission:
    station_id: str
    registration_status: str  # Accepted | Pending | Rejected
    password_hash: str | None
    known: bool


async def admission(hub: Hub, station_id: str) -> StationAdmission | None:
    """What the hub knows about a station at handshake time; None = unknown and rejected."""
    return (await admissions(hub, [station_id]))[station_id]


async def admissions(hub: Hub, station_ids: Sequence[str]) -> dict[str, StationAdmission | None]:
    """``admission`` for many stations with one query (handshakes of a reconnect storm are
    batched by the endpoint's admission control)."""
    async with hub.engine.connect() as conn:
        rows = (await conn.execute(
            sa.select(Station.id, Station.registration_status, Station.password_hash)
            .where(Station.id.in_(station_ids)))).all()
    known = {row.id: StationAdmission(row.id, row.registration_status, row.password_hash, True)
             for row in rows}
    policy = "accept" if hub.config.dev else hub.config.ocpp.unknown_stations
    status = "Accepted" if policy == "accept" else "Pending"
    return {
        station_id: known.get(station_id) or (
            None if policy == "reject" else StationAdmission(station_id, status, None, False))
        for station_id in station_ids
    }


async def mark_connected(hub: Hub, station_id: str, ocpp_version: str, remote: str | None,
                         registration_status: str) -> None:
    now = utcnow()
    # One upsert for every connection of the batch (a reconnect storm commits thousands at
    # once); the insert is the first contact of a station admitted by policy (--dev, pending).
    row = {"id": station_id, "registration_status": registration_status, "connected": True,
           "connected_at": now, "last_seen_at": now, "ocpp_version": ocpp_version,
           "created_at": now}
    event = StationConnected(station_id=station_id, ocpp_version=ocpp_version, remote=remote)
    write = Write(_STATIONS, [row], upsert_key=("id",), update=_CONNECT_COLUMNS)
    if hub.bus.has_in_transaction_hooks(StationConnected):
        async def work(conn: AsyncConnection) -> None:
            # The hooks (e.g. an OICP status push, committed atomically with the connect) read
            # the connected row: it is written first, in this unit.
            await write_rows(conn, [write])
            await emit(conn, event)

        await hub.committer.run(work)
    else:
        await hub.committer.run(writes=[write], events=[event])


async def mark_disconnected(hub: Hub, station_id: str, last_seen: datetime,
                            reason: str = "") -> None:
    now = utcnow()

    event = StationDisconnected(station_id=station_id, reason=reason)

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(sa.update(Station).where(Station.id == station_id).values(
            connected=False, disconnected_at=now, last_seen_at=last_seen
        ))
        # e.g. an OICP "Unknown" status push, written atomically with the disconnect.
        await emit(conn, event)

    await hub.committer.run(work)


@dataclass
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None


@dataclass
class BootDecision:
    status: str
    interval: int
    current_time: datetime


async def register_boot(hub: Hub, station_id: str, info: BootInfo,
                        registration_status: str) -> BootDecision:
    """Record what the station says about itself; answer by its registration status."""
    now = utcnow()
    status = registration_status
    interval = (hub.config.ocpp.heartbeat_interval if status == "Accepted"
                else hub.config.ocpp.pending_retry_interval)
    row: dict[str, Any] = {"id": station_id, **info.__dict__, "boot_status": status,
                           "last_boot_at": now, "last_seen_at": now}
    # Written with every other boot of the batch in one statement (boot storms).
    await hub.committer.run(writes=[Write(_STATIONS, [row], update_key=("id",))], events=[
        StationBooted(station_id=station_id, status=status, vendor=info.vendor,
                      model=info.model, firmware_version=info.firmware_version)])
    return BootDecision(status=status, interval=interval, current_time=now)


async def flush_last_seen(hub: Hub) -> int:
    """Write every live station's last-seen time in one statement (heartbeats cost no write)."""
    rows = [{"sid": s.id, "seen": s.last_seen_at} for s in hub.stations]
    if not rows:
        return 0

    async def work(conn: AsyncConnection) -> None:
        stmt = sa.update(Station).where(Station.id == sa.bindparam("sid")).values(
            last_seen_at=sa.bindparam("seen"))
        await conn.execute(stmt, rows)

    await hub.committer.run(work)
    return len(rows)


async def reset_connection_flags(hub: Hub) -> None:
    """At start-up no station is connected to this process yet (single-node deployments)."""
    async with hub.committer.transaction() as conn:
        await conn.execute(sa.update(Station).where(Station.connected.is_(True)).values(
            connected=False, disconnected_at=datetime.now(UTC)))
