"""A station's diagnosis from the hub's own data: deterministic rules, each finding with the
rows that support it. No statistics model, no outside service; the rules and their
thresholds are here, named.

Rules: charger error codes reported in StatusNotifications, reboot loops (BootNotifications),
connectivity flapping (reconnects the caller counted), failed or zero-energy transactions,
firmware updates that failed, certificates expired or close to expiry, configuration that
disagrees with the hub (HeartbeatInterval).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.context import Hub
from hub.db.base import utcnow
from hub.db.models import (
    OcppMessage,
    PkiCertificate,
    StationConfigurationKey,
    StationNotification,
    Transaction,
)

WINDOW = timedelta(days=7)
REBOOTS_PER_DAY = 3
FLAPPING_RECONNECTS = 2
CERTIFICATE_WARNING = timedelta(days=30)
MESSAGES = 2000
ROWS = 20


@dataclass
class Finding:
    rule: str  # a stable name: error_codes, reboot_loop, flapping, ...
    severity: str  # info | warning | problem
    summary: str
    # The supporting rows: (when, what) pairs, newest first.
    evidence: list[tuple[datetime | None, str]] = field(default_factory=list)


def _payload(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if isinstance(value, list):
        value = next((v for v in reversed(value) if isinstance(v, dict)), {})
    return value if isinstance(value, dict) else {}


async def diagnose(hub: Hub, station_id: str, reconnects: int = 0,
                   now: datetime | None = None) -> list[Finding]:
    now = now or utcnow()
    since = now - WINDOW
    async with hub.sessions() as session:
        messages = list((await session.execute(
            sa.select(OcppMessage).where(
                OcppMessage.station_id == station_id, OcppMessage.timestamp >= since,
                OcppMessage.direction == "in",
                OcppMessage.action.in_(("StatusNotification", "BootNotification")))
            .order_by(OcppMessage.id.desc()).limit(MESSAGES))).scalars())
        transactions = list((await session.execute(
            sa.select(Transaction).where(Transaction.station_id == station_id,
                                         Transaction.status == "completed",
                                         Transaction.start_timestamp >= since)
            .order_by(Transaction.id.desc()).limit(500))).scalars())
        notifications = list((await session.execute(
            sa.select(StationNotification).where(
                StationNotification.station_id == station_id,
                StationNotification.timestamp >= since,
                StationNotification.status.ilike("%fail%"))
            .order_by(StationNotification.id.desc()).limit(ROWS))).scalars())
        certificates = list((await session.execute(
            sa.select(PkiCertificate).where(PkiCertificate.station_id == station_id,
                                            PkiCertificate.revoked_at.is_(None),
                                            PkiCertificate.not_after < now + CERTIFICATE_WARNING)
            .order_by(PkiCertificate.not_after))).scalars())
        heartbeat = (await session.execute(sa.select(StationConfigurationKey.value).where(
            StationConfigurationKey.station_id == station_id,
            StationConfigurationKey.key == "HeartbeatInterval"))).scalar_one_or_none()
    findings = [*_error_codes(messages), *_reboots(messages, now),
                *_flapping(reconnects), *_transactions(transactions),
                *_failures(notifications), *_certificates(certificates, now),
                *_configuration(heartbeat, hub.config.ocpp.heartbeat_interval)]
    return findings


def _error_codes(messages: list[OcppMessage]) -> list[Finding]:
    faults = []
    for row in messages:
        if row.action != "StatusNotification":
            continue
        body = _payload(row.payload)
        code = body.get("errorCode")
        if code and code != "NoError":
            faults.append((row.timestamp, code, body.get("connectorId"),
                           body.get("vendorErrorCode")))
    if not faults:
        return []
    counts = Counter(code for _t, code, _c, _v in faults)
    summary = ", ".join(f"{code} × {count}" for code, count in counts.most_common())
    return [Finding("error_codes", "problem", f"error codes reported in 7 days: {summary}",
                    [(at, f"connector {c}: {code}" + (f" (vendor {v})" if v else ""))
                     for at, code, c, v in faults[:ROWS]])]


def _reboots(messages: list[OcppMessage], now: datetime) -> list[Finding]:
    boots = [row for row in messages if row.action == "BootNotification"
             and row.timestamp >= now - timedelta(days=1)]
    if len(boots) < REBOOTS_PER_DAY:
        return []
    return [Finding("reboot_loop", "problem",
                    f"{len(boots)} boots in 24 h (a loop from {REBOOTS_PER_DAY})",
                    [(row.timestamp, "BootNotification") for row in boots[:ROWS]])]


def _flapping(reconnects: int) -> list[Finding]:
    if reconnects < FLAPPING_RECONNECTS:
        return []
    return [Finding("flapping", "warning",
                    f"{reconnects} reconnects in the last hour (flapping from "
                    f"{FLAPPING_RECONNECTS})")]


def _transactions(rows: list[Transaction]) -> list[Finding]:
    zero = [t for t in rows if t.energy_wh is not None and t.energy_wh <= 0]
    refused = [t for t in rows if t.id_tag_status not in (None, "Accepted")]
    out = []
    if zero:
        out.append(Finding("zero_energy", "warning",
                           f"{len(zero)} of {len(rows)} transactions in 7 days delivered no "
                           "energy", [(t.start_timestamp, f"transaction {t.id}: "
                                      f"{t.meter_start} → {t.meter_stop} Wh, "
                                      f"{t.stop_reason or 'no reason'}") for t in zero[:ROWS]]))
    if refused:
        out.append(Finding("refused_transactions", "warning",
                           f"{len(refused)} transactions ran with an id tag not accepted",
                           [(t.start_timestamp, f"transaction {t.id}: {t.id_tag} "
                             f"{t.id_tag_status}") for t in refused[:ROWS]]))
    return out


def _failures(rows: list[StationNotification]) -> list[Finding]:
    if not rows:
        return []
    return [Finding("failed_operations", "problem",
                    f"{len(rows)} failed firmware/diagnostics/log operations in 7 days",
                    [(row.timestamp, f"{row.kind}: {row.status}") for row in rows])]


def _certificates(rows: list[PkiCertificate], now: datetime) -> list[Finding]:
    if not rows:
        return []
    expired = [c for c in rows if c.not_after <= now]
    return [Finding("certificates", "problem" if expired else "warning",
                    f"{len(expired)} certificates expired, {len(rows) - len(expired)} expire "
                    "within 30 days",
                    [(c.not_after, f"{c.role} {c.subject} serial {c.serial}") for c in rows])]


def _configuration(heartbeat: str | None, expected: int) -> list[Finding]:
    if heartbeat is None or heartbeat.strip() == str(expected):
        return []
    return [Finding("configuration", "info",
                    f"HeartbeatInterval is {heartbeat}, the hub asks for {expected}",
                    [(None, f"HeartbeatInterval = {heartbeat}")])]
