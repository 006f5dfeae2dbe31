"""GetCertificateStatus: the OCSP answer for a certificate a charger names by hash data, from the
hub's stored answers while they are fresh, else from the responder (allow-listed URLs only),
verified by ``certs`` and returned as base64 DER. Stored answers are refreshed before they go
stale (``refresh``, run by the lifecycle sweep) and survive restarts and responder outages.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography import x509

from certs.errors import HashDataError, OcspError
from certs.hashdata import CertificateHashData, HashAlgorithm, parse_hash_data, public_key_bits
from certs.ocsp_client import OcspStatus
from certs.store import load_record_certificate
from hub.db.base import utcnow
from hub.db.upsert import upsert
from hub.feature_api import StationSession
from hub.services.notifications import record_notification
from pnc.models import PncOcspResponse
from pnc.signing import status_info

if TYPE_CHECKING:
    from pnc.runtime import Pnc

log = logging.getLogger(__name__)
ROWS = PncOcspResponse.__table__
KEY = ("hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number")
#: OCSP failures that mean "could not ask", as opposed to an answer we refuse to trust.
UNREACHABLE = ("responder_unreachable", "responder_try_later", "responder_internal_error")
#: A stored answer is served while it has at least this much life left.
MIN_REMAINING = dt.timedelta(seconds=60)


async def find_ca(pnc: Pnc, data: CertificateHashData) -> x509.Certificate | None:
    """The certificate (a CA in the store) whose name and key the hash data's issuer hashes
    denote, or None."""
    if data.hash_algorithm is HashAlgorithm.SHA256:
        records = await pnc.store.find_certificates(subject_name_sha256=data.issuer_name_hash)
    else:
        records = await pnc.store.find_certificates()
    algorithm = data.hash_algorithm.hashlib_name
    for record in records:
        cert = load_record_certificate(record)
        if hashlib.new(algorithm, cert.subject.public_bytes()).hexdigest() != \
                data.issuer_name_hash:
            continue
        if hashlib.new(algorithm, public_key_bits(cert)).hexdigest() == data.issuer_key_hash:
            return cert
    return None


def _key(data: CertificateHashData) -> dict[str, str]:
    return {"hash_algorithm": data.hash_algorithm.value,
            "issuer_name_hash": data.issuer_name_hash,
            "issuer_key_hash": data.issuer_key_hash, "serial_number": data.serial_number}


async def stored(pnc: Pnc, data: CertificateHashData) -> Any:
    async with pnc.hub.engine.connect() as conn:
        return (await conn.execute(sa.select(ROWS).where(
            *(ROWS.c[k] == v for k, v in _key(data).items())))).first()


async def _save(pnc: Pnc, data: CertificateHashData, url: str, station_id: str | None,
                status: OcspStatus | None, error: str | None) -> None:
    now = utcnow()
    row: dict[str, Any] = {**_key(data), "responder_url": url, "requested_at": now,
                           "station_id": station_id}
    if status is not None:
        row.update(cert_status=status.status.value, der=status.der,
                   this_update=status.this_update, next_update=status.next_update,
                   fetched_at=now, failures=0, last_error=None)
    update = [c for c in row if c not in KEY]
    async with pnc.hub.committer.transaction() as conn:
        await upsert(conn, ROWS, [row], KEY, update=update)
        if error is not None:
            await conn.execute(sa.update(ROWS).where(
                *(ROWS.c[k] == v for k, v in _key(data).items())).values(
                failures=ROWS.c.failures + 1, last_error=error[:2000]))


async def fetch(pnc: Pnc, data: CertificateHashData, url: str,
                station_id: str | None) -> OcspStatus:
    """Ask the responder now (no cache), store the verified answer, or record the failure."""
    issuer = await find_ca(pnc, data)
    try:
        status = await pnc.ocsp_fetch.check_cert_id(data.cert_id(), url, issuer=issuer)
    except OcspError as exc:
        await _save(pnc, data, url, station_id, None, f"{exc.reason}: {exc.message}")
        raise
    await _save(pnc, data, url, station_id, status, None)
    return status


async def certificate_status(pnc: Pnc, request_data: Mapping[str, Any],
                             station_id: str | None) -> tuple[bytes, str]:
    """(DER OCSP response, where it came from: "stored" or "responder"); raises OcspError."""
    try:
        data = parse_hash_data(request_data)[0]
    except HashDataError as exc:
        raise OcspError(exc.reason, exc.message) from exc
    url = str(request_data.get("responderURL") or "")
    if not pnc.ocsp_fetch.allow_list.allows(url):
        raise OcspError("url_not_allowed", f"OCSP responder URL {url!r} is not allowed")
    now = utcnow()
    row = await stored(pnc, data)
    if row is not None and row.der and row.next_update and \
            row.next_update - now > MIN_REMAINING:
        async with pnc.hub.committer.transaction() as conn:
            await conn.execute(sa.update(ROWS).where(ROWS.c.id == row.id).values(
                requested_at=now, station_id=station_id))
        return bytes(row.der), "stored"
    try:
        status = await fetch(pnc, data, url, station_id)
    except OcspError as exc:
        # An answer still inside its validity beats none while the responder is down.
        if exc.reason in UNREACHABLE and row is not None and row.der and \
                row.next_update and row.next_update > now:
            return bytes(row.der), "stored"
        raise
    return status.der, "responder"


async def get_certificate_status(pnc: Pnc, session: StationSession,
                                 payload: dict[str, Any]) -> dict[str, Any]:
    try:
        der, _ = await certificate_status(pnc, payload["ocspRequestData"], session.id)
    except OcspError as exc:
        log.info("%s: GetCertificateStatus failed: %s", session.id, exc)
        await record_notification(pnc.hub, session.id, "GetCertificateStatus", "Failed",
                                  detail={"reason": exc.reason, "message": exc.message})
        return {"status": "Failed", "statusInfo": status_info(exc.reason, exc.message,
                                                              "OCSPFailed")}
    encoded = base64.b64encode(der).decode()
    if len(encoded) > 5500:  # the schema's limit for ocspResult
        return {"status": "Failed", "statusInfo": status_info(
            "response_too_large", "the OCSP response exceeds 5500 characters", "OCSPFailed")}
    return {"status": "Accepted", "ocspResult": encoded}


async def refresh(pnc: Pnc) -> int:
    """Re-fetch stored answers that go stale soon and were asked for recently; returns how
    many were refreshed. Failures stay recorded on the row (visible in the API)."""
    now = utcnow()
    soon = now + dt.timedelta(seconds=pnc.settings.ocsp_refresh_before_seconds)
    recent = now - dt.timedelta(days=pnc.settings.ocsp_keep_days)
    async with pnc.hub.engine.connect() as conn:
        rows = (await conn.execute(sa.select(ROWS).where(
            sa.or_(ROWS.c.next_update.is_(None), ROWS.c.next_update < soon),
            ROWS.c.requested_at >= recent).order_by(ROWS.c.next_update).limit(500))).all()
    done = 0
    for row in rows:
        data = parse_hash_data({"hashAlgorithm": row.hash_algorithm,
                                "issuerNameHash": row.issuer_name_hash,
                                "issuerKeyHash": row.issuer_key_hash,
                                "serialNumber": row.serial_number})[0]
        try:
            await fetch(pnc, data, row.responder_url, row.station_id)
        except OcspError as exc:
            log.warning("refreshing the OCSP answer for serial %s failed: %s",
                        row.serial_number, exc)
            continue
        done += 1
    return done
