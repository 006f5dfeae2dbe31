"""What each station has installed, as the hub last learnt it, and what it should have.

Rows come from GetInstalledCertificateIds (``reported``), from InstallCertificate and
CertificateSigned the station accepted (``installed`` / ``signed``); each is matched to the
certificate store by its CertificateHashData. ``expected`` is what a Plug&Charge station should
hold: the trust anchors that are rolled out and its own current SECC certificate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography import x509

from certs.errors import HashDataError
from certs.hashdata import (
    CertificateHashData,
    compute_hash_data,
    find_certificate_by_hash,
    parse_hash_data,
)
from certs.hierarchy import find_issuer
from certs.roles import CertificateRole
from certs.store import fingerprint_of, load_record_certificate
from certs.validation import parse_chain
from hub.db.base import utcnow
from hub.db.group_commit import emit
from hub.db.upsert import upsert
from hub.events import EvseDataChanged
from pnc.models import PncInstalledCertificate, PncInventoryReport

if TYPE_CHECKING:
    from pnc.charger import Answer
    from pnc.runtime import Pnc

ROWS = PncInstalledCertificate.__table__
REPORTS = PncInventoryReport.__table__
ALL_TYPES = ("V2GRootCertificate", "MORootCertificate", "CSMSRootCertificate",
             "V2GCertificateChain", "ManufacturerRootCertificate")
HASH_KEY = ("station_id", "certificate_type", "hash_algorithm", "issuer_name_hash",
            "issuer_key_hash", "serial_number")


def normalise(hash_data: Mapping[str, Any]) -> CertificateHashData:
    """The canonical (lowercase hex) reading of a charger's CertificateHashData."""
    return parse_hash_data(hash_data)[0]


def _row(station_id: str, certificate_type: str, data: CertificateHashData, source: str,
         fingerprint: str | None, parent_id: int | None = None) -> dict[str, Any]:
    return {"station_id": station_id, "certificate_type": certificate_type,
            "hash_algorithm": data.hash_algorithm.value,
            "issuer_name_hash": data.issuer_name_hash, "issuer_key_hash": data.issuer_key_hash,
            "serial_number": data.serial_number, "source": source,
            "fingerprint": fingerprint, "parent_id": parent_id, "seen_at": utcnow()}


async def _issuer_of(pnc: Pnc, certificate: x509.Certificate,
                     chain: Sequence[x509.Certificate] = ()) -> x509.Certificate | None:
    if certificate.issuer == certificate.subject:
        return certificate
    for candidate in chain:
        if candidate.subject == certificate.issuer:
            return candidate
    return await find_issuer(pnc.store, certificate)


async def hash_data_of(pnc: Pnc, certificate: x509.Certificate,
                       chain: Sequence[x509.Certificate] = ()) -> CertificateHashData | None:
    issuer = await _issuer_of(pnc, certificate, chain)
    return compute_hash_data(certificate, issuer) if issuer is not None else None


async def _match(pnc: Pnc, data: CertificateHashData) -> str | None:
    record = await find_certificate_by_hash(pnc.store, data)
    return record.fingerprint if record is not None else None


async def type_of(pnc: Pnc, station_id: str, hash_data: Mapping[str, Any]) -> str | None:
    try:
        data = normalise(hash_data)
    except HashDataError:
        return None
    async with pnc.hub.engine.connect() as conn:
        return (await conn.execute(sa.select(ROWS.c.certificate_type).where(
            ROWS.c.station_id == station_id, ROWS.c.serial_number == data.serial_number,
            ROWS.c.issuer_name_hash == data.issuer_name_hash).limit(1))).scalar()


async def record_answer(pnc: Pnc, station_id: str, action: str, request: dict[str, Any],
                        answer: Answer) -> None:
    status = answer.status
    if action == "InstallCertificate" and status == "Accepted":
        certificate = parse_chain(request["certificate"])[0]
        data = await hash_data_of(pnc, certificate)
        if data is not None:
            await _put(pnc, [_row(station_id, request["certificateType"], data, "installed",
                                  fingerprint_of(certificate))])
    elif action == "CertificateSigned" and status == "Accepted":
        await record_signed(pnc, station_id, request.get("certificateType"),
                            parse_chain(request["certificateChain"]))
    elif action == "DeleteCertificate" and status == "Accepted":
        await forget(pnc, station_id, normalise(request["certificateHashData"]))
    elif action == "GetInstalledCertificateIds":
        await record_report(pnc, station_id, request.get("certificateType") or list(ALL_TYPES),
                            status or "NotFound", answer.payload.get("certificateHashDataChain")
                            or [])


async def record_signed(pnc: Pnc, station_id: str, certificate_type: str | None,
                        chain: Sequence[x509.Certificate]) -> None:
    kind = "V2GCertificateChain" if certificate_type == "V2GCertificate" \
        else "ChargingStationCertificate"
    data = await hash_data_of(pnc, chain[0], chain)
    if data is None:
        return
    rows = [_row(station_id, kind, data, "signed", fingerprint_of(chain[0]))]
    if kind != "V2GCertificateChain":
        await _put(pnc, rows)
        return
    # A station with a new SECC certificate does Plug&Charge: roaming re-publishes its EVSEs
    # (the event runs in this transaction, so an OICP outbox row exists exactly when it does).
    event = EvseDataChanged(reason=f"SECC certificate installed on {station_id}")
    async with pnc.hub.committer.transaction() as conn:
        await upsert(conn, ROWS, rows, HASH_KEY,
                     update=["source", "fingerprint", "parent_id", "seen_at"])
        await emit(conn, event)


async def _put(pnc: Pnc, rows: list[dict[str, Any]]) -> None:
    async with pnc.hub.committer.transaction() as conn:
        await upsert(conn, ROWS, rows, HASH_KEY,
                     update=["source", "fingerprint", "parent_id", "seen_at"])


async def forget(pnc: Pnc, station_id: str, data: CertificateHashData) -> None:
    async with pnc.hub.committer.transaction() as conn:
        ids = (await conn.execute(sa.select(ROWS.c.id).where(
            ROWS.c.station_id == station_id, ROWS.c.hash_algorithm == data.hash_algorithm.value,
            ROWS.c.issuer_name_hash == data.issuer_name_hash,
            ROWS.c.issuer_key_hash == data.issuer_key_hash,
            ROWS.c.serial_number == data.serial_number))).scalars().all()
        if ids:
            await conn.execute(sa.delete(ROWS).where(
                sa.or_(ROWS.c.id.in_(ids), ROWS.c.parent_id.in_(ids))))


async def record_report(pnc: Pnc, station_id: str, types: Sequence[str], status: str,
                        chains: Sequence[Mapping[str, Any]]) -> None:
    """Replace what the hub knows of these certificate types with the station's report."""
    parsed: list[tuple[str, CertificateHashData, str | None, list[CertificateHashData]]] = []
    for chain in chains:
        try:
            data = normalise(chain["certificateHashData"])
            children = [normalise(c) for c in chain.get("childCertificateHashData") or []]
        except (HashDataError, KeyError):
            continue  # a garbled entry is left out rather than failing the whole report
        parsed.append((chain.get("certificateType") or types[0], data,
                       await _match(pnc, data), children))
    now = utcnow()
    async with pnc.hub.committer.transaction() as conn:
        await conn.execute(sa.delete(ROWS).where(ROWS.c.station_id == station_id,
                                                 ROWS.c.certificate_type.in_(list(types))))
        for kind, data, fingerprint, children in parsed:
            parent = (await conn.execute(sa.insert(ROWS).values(
                _row(station_id, kind, data, "reported", fingerprint)).returning(ROWS.c.id))
            ).scalar_one()
            for child in children:
                await upsert(conn, ROWS, [_row(station_id, kind, child, "reported",
                                               await _match(pnc, child), parent)], HASH_KEY)
        await upsert(conn, REPORTS, [{"station_id": station_id, "certificate_type": t,
                                      "status": status, "reported_at": now} for t in types],
                     ["station_id", "certificate_type"])


async def expected(pnc: Pnc, station_id: str, now: dt.datetime | None = None
                   ) -> list[dict[str, Any]]:
    """The certificates a Plug&Charge station should hold."""
    now = now or utcnow()
    out: list[dict[str, Any]] = []
    for role in pnc.settings.rollout_roots:
        for record in await pnc.store.find_certificates(role=role):
            if record.revoked_at is None and record.not_before <= now < record.not_after:
                out.append({"certificateType": role, "fingerprint": record.fingerprint,
                            "subject": record.subject, "notAfter": record.not_after})
    latest: dict[str, Any] = {}
    for record in await pnc.store.find_certificates(station_id=station_id,
                                                    role=str(CertificateRole.SECC)):
        if record.revoked_at is None and record.not_after > now:
            latest[record.subject] = record  # ordered by not_after: the newest wins
    for record in latest.values():
        out.append({"certificateType": "V2GCertificateChain", "fingerprint": record.fingerprint,
                    "subject": record.subject, "notAfter": record.not_after})
    return out


async def installed_rows(pnc: Pnc, station_id: str) -> list[Any]:
    async with pnc.hub.engine.connect() as conn:
        return list((await conn.execute(sa.select(ROWS).where(
            ROWS.c.station_id == station_id).order_by(ROWS.c.id))).all())


async def reports(pnc: Pnc, station_id: str) -> dict[str, Any]:
    async with pnc.hub.engine.connect() as conn:
        rows = (await conn.execute(sa.select(REPORTS).where(
            REPORTS.c.station_id == station_id))).all()
    return {r.certificate_type: {"status": r.status, "reportedAt": r.reported_at} for r in rows}


async def comparison(pnc: Pnc, station_id: str) -> dict[str, Any]:
    """Installed vs expected: what is missing, what the hub does not expect there."""
    rows = await installed_rows(pnc, station_id)
    wanted = await expected(pnc, station_id)
    present = {r.fingerprint for r in rows if r.fingerprint}
    now = utcnow()
    unexpected = []
    for row in rows:
        if row.parent_id is not None:
            continue
        record = await pnc.store.get_certificate(row.fingerprint) if row.fingerprint else None
        if record is None:
            problem = "unknown to the hub"
        elif record.revoked_at is not None:
            problem = "revoked"
        elif record.not_after <= now:
            problem = "expired"
        else:
            continue
        unexpected.append({"certificateType": row.certificate_type,
                           "certificateHashData": hash_data_json(row), "problem": problem})
    return {"expected": wanted,
            "missing": [w for w in wanted if w["fingerprint"] not in present],
            "unexpected": unexpected}


def hash_data_json(row: Any) -> dict[str, str]:
    return {"hashAlgorithm": row.hash_algorithm, "issuerNameHash": row.issuer_name_hash,
            "issuerKeyHash": row.issuer_key_hash, "serialNumber": row.serial_number}


async def is_installed(pnc: Pnc, station_id: str, fingerprint: str) -> bool:
    async with pnc.hub.engine.connect() as conn:
        return (await conn.execute(sa.select(ROWS.c.id).where(
            ROWS.c.station_id == station_id, ROWS.c.fingerprint == fingerprint).limit(1))
        ).first() is not None


async def rows_with_fingerprint(pnc: Pnc, station_id: str, fingerprint: str) -> list[Any]:
    async with pnc.hub.engine.connect() as conn:
        return list((await conn.execute(sa.select(ROWS).where(
            ROWS.c.station_id == station_id, ROWS.c.fingerprint == fingerprint).order_by(
            ROWS.c.id))).all())


async def forget_row(pnc: Pnc, row_id: int) -> None:
    async with pnc.hub.committer.transaction() as conn:
        await conn.execute(sa.delete(ROWS).where(sa.or_(ROWS.c.id == row_id,
                                                        ROWS.c.parent_id == row_id)))


async def certificate_by_fingerprint(pnc: Pnc, fingerprint: str) -> x509.Certificate | None:
    record = await pnc.store.get_certificate(fingerprint)
    return load_record_certificate(record) if record is not None else None
