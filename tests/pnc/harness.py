"""A hub with the Plug&Charge feature on a real port whose number is known before the app is
built (so the dev PKI's OCSP URL points at the hub's own responder), plus PKI helpers."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs import profiles as P
from certs.hierarchy import load_authority
from certs.roles import CertificateRole as R
from certs.store import record_certificate
from hub.app import StartupOptions, create_app
from hub.auth import create_token
from hub.config import load_config
from hub.context import HUB
from hub.db.models import IdTag, Station, StationSeccId
from pnc.runtime import PNC, Pnc
from tests.harness import RunningHub

CPO = "pnc-hub Test CPO"


async def start_pnc_hub(database_url: str, tmp_path: Path, *, dev: bool = True,
                        pnc: dict[str, Any] | None = None, pki: dict[str, Any] | None = None,
                        ocpp: dict[str, Any] | None = None) -> RunningHub:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sections: dict[str, Any] = {
        "database": {"url": database_url},
        "ocpp": {"validate_responses": True, **(ocpp or {})},
        "pki": {"key_dir": str(tmp_path / "pki-keys"), "cpo_name": CPO,
                "ocsp_url": f"http://127.0.0.1:{port}/ocsp", "ocsp_timeout_seconds": 2,
                "ocsp_attempts": 1, **(pki or {})},
        "pnc": {"job_poll_seconds": 0.2, "lifecycle_enabled": False, **(pnc or {})},
    }
    if dev:
        sections["dev"] = True
    config = load_config(env={}, overrides=sections)
    app = create_app(config, startup=StartupOptions(upgrade_database=True))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    token = await create_token(app[HUB].sessions, "test admin")
    return RunningHub(app, runner, port, token)


def pnc_of(running: RunningHub) -> Pnc:
    pnc = running.app[PNC].pnc
    assert pnc is not None
    return pnc


async def add_station(running: RunningHub, station_id: str, secc_ids: list[str] = ()) -> None:
    async with running.hub.sessions() as session, session.begin():
        if await session.get(Station, station_id) is None:
            session.add(Station(id=station_id))
            await session.flush()
        for secc_id in secc_ids:
            session.add(StationSeccId(station_id=station_id, secc_id=secc_id))


async def add_id_tag(running: RunningHub, tag: str) -> None:
    async with running.hub.sessions() as session, session.begin():
        session.add(IdTag(id_tag=tag))


async def certificate(pnc: Pnc, role: R) -> x509.Certificate:
    records = [r for r in await pnc.store.find_certificates(role=str(role)) if r.revoked_at is None]
    return x509.load_der_x509_certificate(bytes(records[-1].der))


async def issue_contract(pnc: Pnc, emaid: str, *, days: int = 365, record: bool = True,
                         ocsp_url: str | None = None) -> list[x509.Certificate]:
    """A contract certificate from the hub's (dev) MO Sub-CA 2: [leaf, MO Sub-CA 2, Sub-CA 1]."""
    authority = await load_authority(pnc.store, pnc.keystore, R.MO_SUB_CA2)
    assert authority is not None
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC) - P.BACKDATE
    leaf = P.build_certificate(P.CONTRACT, P.build_name(emaid, "pnc-hub Dev MO", "DE", "MO"),
                               key.public_key(), issuer_certificate=authority.certificate,
                               issuer_key=authority.key, not_before=now,
                               not_after=now + dt.timedelta(days=days),
                               ocsp_url=ocsp_url or pnc.pki.ocsp_url)
    if record:
        await record_certificate(pnc.store, leaf, R.CONTRACT)
    return [leaf, *[c for c in authority.path() if c.issuer != c.subject]]


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def hash_data(cert: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """CertificateHashData computed here independently of ``certs``: for an EC key the
    subjectPublicKey BIT STRING holds exactly the uncompressed point."""
    key_bits = issuer.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint)
    return {"hashAlgorithm": "SHA256",
            "issuerNameHash": hashes_hex(cert.issuer.public_bytes()),
            "issuerKeyHash": hashes_hex(key_bits),
            "serialNumber": format(cert.serial_number, "x")}


def hashes_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex()


def ocsp_request_data(cert: x509.Certificate, issuer: x509.Certificate,
                      url: str | None = None) -> dict[str, str]:
    return {**hash_data(cert, issuer), "responderURL": url or P.ocsp_urls(cert)[0]}


async def notifications(running: RunningHub, station_id: str, kind: str) -> list[Any]:
    from hub.db.models import StationNotification as N

    async with running.hub.sessions() as session:
        return list((await session.execute(sa.select(N).where(
            N.station_id == station_id, N.kind == kind).order_by(N.id))).scalars())
