"""Eichrecht (German calibration law) in the CDR: the station's signed meter data, kept opaque
and byte for byte, sent as ``SignedMeteringValues`` with ``CalibrationLawVerificationInfo``.

OICP 2.3 (ChargeDetailRecord, SignedMeteringValuesType, CalibrationLawVerificationType): at most
10 values, in the order Start, Progress 1..8, End; each ``SignedMeteringValue`` at most 3000
characters (a longer one cannot be shortened without breaking its signature: it is left out and
logged); ``CalibrationLawCertificateID`` 100, ``PublicKey`` 1000, ``MeteringSignatureUrl`` 200,
``MeteringSignatureEncodingFormat`` 50, ``SignedMeteringValuesVerificationInstruction`` 400.

Which value is which: the OCPP context (``Transaction.Begin`` -> Start, ``Transaction.End`` ->
End, any other -> Progress). Only whole-meter energy register values count; a value repeated
(a 1.6 station sending the same one in MeterValues and StopTransaction) counts once.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.base import utcnow
from hub.events import SignedMeterValuesReceived
from oicp.config import VERIFICATION_FIELDS, OicpConfig
from oicp.models import OicpSignedMeterValue

log = logging.getLogger(__name__)
ROWS = OicpSignedMeterValue.__table__
ENERGY = "Energy.Active.Import.Register"
MAX_VALUE = 3000
MAX_PROGRESS = 8


async def keep(conn: AsyncConnection, event: SignedMeterValuesReceived) -> None:
    """Store the signed values with their transaction (in the meter values' transaction)."""
    now = utcnow()
    rows = [{"station_id": event.station_id, "connector_id": event.connector_id,
             "transaction_id": event.transaction_id, "timestamp": v["timestamp"],
             "context": v.get("context"), "measurand": v.get("measurand"),
             "format": v.get("format") or "SignedData", "signed_data": v["signed_data"],
             "signing_method": _short(v.get("signing_method")),
             "encoding_method": _short(v.get("encoding_method")),
             "public_key": v.get("public_key"), "received_at": now}
            for v in event.values if isinstance(v.get("signed_data"), str) and v["signed_data"]]
    if rows:
        await conn.execute(sa.insert(ROWS), rows)


def _short(value: Any) -> str | None:
    return str(value)[:50] if value else None


def _status(context: str | None) -> str:
    if context == "Transaction.Begin":
        return "Start"
    if context == "Transaction.End":
        return "End"
    return "Progress"


def _spread(values: list[Any], limit: int) -> list[Any]:
    """At most ``limit`` of ``values``, evenly spread, the last one kept."""
    if len(values) <= limit:
        return values
    step = (len(values) - 1) / (limit - 1)
    return [values[round(i * step)] for i in range(limit)]


def signed_metering_values(rows: list[Any]) -> list[dict[str, str]]:
    """SignedMeteringValues from a transaction's stored rows (oldest first)."""
    seen: set[str] = set()
    usable = []
    for row in rows:
        if (row.measurand or ENERGY) != ENERGY or row.signed_data in seen:
            continue
        seen.add(row.signed_data)
        if len(row.signed_data) > MAX_VALUE:
            log.warning("signed meter value of transaction %s (%s) has %d characters; OICP "
                        "allows %d: left out of the CDR", row.transaction_id, row.context,
                        len(row.signed_data), MAX_VALUE)
            continue
        usable.append(row)
    starts = [r for r in usable if _status(r.context) == "Start"]
    ends = [r for r in usable if _status(r.context) == "End"]
    progress = _spread([r for r in usable if _status(r.context) == "Progress"], MAX_PROGRESS)
    chosen = [(starts[:1], "Start"), (progress, "Progress"), (ends[-1:], "End")]
    return [{"SignedMeteringValue": r.signed_data, "MeteringStatus": status}
            for picked, status in chosen for r in picked]


def verification_info(config: OicpConfig, evse_id: str, station_id: str,
                      rows: list[Any]) -> dict[str, str]:
    """CalibrationLawVerificationInfo: the operator's per-EVSE/station entry, completed with
    the station's public key and encoding from a 2.0.1 signedMeterValue."""
    info = dict(config.calibration_law_verification.get(
        evse_id, config.calibration_law_verification.get(station_id, {})))
    key = next((r.public_key for r in rows if r.public_key), None)
    if key and "PublicKey" not in info and len(key) <= VERIFICATION_FIELDS["PublicKey"]:
        info["PublicKey"] = key
    if "MeteringSignatureEncodingFormat" not in info:
        method = next((r.encoding_method for r in rows if r.encoding_method), None)
        if method is None and any(r.signed_data.startswith("OCMF|") for r in rows):
            method = "OCMF"
        if method:
            info["MeteringSignatureEncodingFormat"] = method[:50]
    return info


async def cdr_fields(conn: AsyncConnection, config: OicpConfig, transaction_id: int,
                     evse_id: str, station_id: str) -> dict[str, Any]:
    """The CDR's Eichrecht fields for a transaction ({} when the station signed nothing)."""
    rows = (await conn.execute(sa.select(ROWS).where(
        ROWS.c.transaction_id == transaction_id, ROWS.c.station_id == station_id).order_by(
        ROWS.c.timestamp, ROWS.c.id))).all()
    values = signed_metering_values(list(rows))
    if not values:
        return {}
    fields: dict[str, Any] = {"SignedMeteringValues": values}
    info = verification_info(config, evse_id, station_id, list(rows))
    if info:
        fields["CalibrationLawVerificationInfo"] = info
    return fields
