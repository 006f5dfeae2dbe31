"""The storage protocol on the hub's database (hub.certificate_store), held to the same contract
as the memory and file stores, and ``pnc-hub pki`` on that database."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.hashdata import compute_hash_data, find_certificate_by_hash
from certs.hierarchy import create_dev_pki
from certs.issuing import CertificateIssuer
from certs.keys import KeyStore
from certs.lifecycle import expiring_certificates, revoke
from certs.ocsp_responder import OcspResponder
from certs.roles import CertificateRole as R
from certs.settings import PkiSettings
from certs.store import (
    CertificateRecord,
    CertificateStore,
    FileStore,
    MemoryStore,
    fingerprint_of,
    record_certificate,
)
from certs.validation import ChainValidator, ValidationUse
from hub.app import features
from hub.certificate_store import DatabaseCertificateStore
from hub.db import create_engine, session_factory
from hub.db.migrate import upgrade_database
from hub.db.models import Station
from tests.conftest import POSTGRES_URL, _drop_postgres_database, _fresh_postgres_database
from tests.harness.process import cli

from .conftest import CPO, make_csr, needs_openssl, openssl


def shipped_migrations() -> list[Path]:
    """Every feature's migrations, as the app and the CLI apply them: the store reads the Sites
    feature's ports once that feature's model is imported, which other tests may have done."""
    return [f.migrations for f in features() if f.migrations is not None]


@pytest.fixture
async def db_store(database_url: str) -> AsyncIterator[DatabaseCertificateStore]:
    engine = create_engine(database_url)
    await upgrade_database(engine, shipped_migrations())
    try:
        yield DatabaseCertificateStore(session_factory(engine))
    finally:
        await engine.dispose()


@pytest.fixture(params=["memory", "file", "sqlite", pytest.param("postgresql", marks=(
    pytest.mark.skipif(not POSTGRES_URL, reason="PNC_HUB_TEST_POSTGRES_URL is not set")))])
async def any_store(request: pytest.FixtureRequest,
                    tmp_path: Path) -> AsyncIterator[CertificateStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "file":
        yield FileStore(tmp_path / "store")
        return
    name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    else:
        url, name = await _fresh_postgres_database()
    engine = create_engine(url)
    try:
        await upgrade_database(engine, shipped_migrations())
        yield DatabaseCertificateStore(session_factory(engine))
    finally:
        await engine.dispose()
        if name is not None:
            await _drop_postgres_database(name)


async def test_database_store_is_a_certificate_store(db_store: DatabaseCertificateStore):
    assert isinstance(db_store, CertificateStore)


async def test_store_contract(any_store: CertificateStore, tmp_path: Path):
    settings = PkiSettings(cpo_name=CPO, key_dir=tmp_path / "keys")
    dev = await create_dev_pki(any_store, KeyStore(settings.key_dir), settings)
    root, sub2 = dev[R.V2G_ROOT], dev[R.CPO_SUB_CA2]
    assert await record_certificate(any_store, root, R.V2G_ROOT) == fingerprint_of(root)
    assert len(await any_store.find_certificates()) == len(dev.certificates)

    record = await any_store.get_certificate(fingerprint_of(sub2))
    assert isinstance(record, CertificateRecord)
    assert bytes(record.der) == sub2.public_bytes(serialization.Encoding.DER)
    assert (record.role, record.serial) == (R.CPO_SUB_CA2, format(sub2.serial_number, "x"))
    assert record.not_after == sub2.not_valid_after_utc and record.not_after.tzinfo is not None
    assert record.subject == sub2.subject.rfc4514_string()
    assert (record.station_id, record.revoked_at, record.revocation_reason) == (None, None, None)

    found = await any_store.find_certificates(role=R.CPO_SUB_CA2,
                                              serial=format(sub2.serial_number, "x"))
    assert [r.fingerprint for r in found] == [fingerprint_of(sub2)]
    issued_by_root = await any_store.find_certificates(
        issuer_name_sha256=record.issuer_name_sha256)
    assert {r.role for r in issued_by_root} == {R.CPO_SUB_CA2}
    by_subject = await any_store.find_certificates(
        subject_name_sha256=record.issuer_name_sha256)
    assert [r.role for r in by_subject] == [R.CPO_SUB_CA1]
    everything = await any_store.find_certificates()
    assert [r.not_after for r in everything] == sorted(r.not_after for r in everything)
    soon = await any_store.find_certificates(
        not_after_before=dt.datetime.now(dt.UTC) + dt.timedelta(days=366 * 2 + 1))
    # Sub-CA 2s (two years) and the leaves they cap at their own end.
    assert {r.role for r in soon} == {R.CPO_SUB_CA2, R.MO_SUB_CA2, R.OEM_SUB_CA2, R.CONTRACT,
                                      R.OEM_PROVISIONING}

    when = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    assert await any_store.revoke_certificate(fingerprint_of(sub2), revoked_at=when,
                                              reason="superseded")
    assert await any_store.revoke_certificate(fingerprint_of(sub2), revoked_at=dt.datetime.now(
        dt.UTC), reason="keyCompromise")
    record = await any_store.get_certificate(fingerprint_of(sub2))
    assert (record.revoked_at, record.revocation_reason) == (when, "superseded")
    assert not await any_store.revoke_certificate("00" * 32, revoked_at=when, reason="x")
    assert await any_store.delete_certificate(fingerprint_of(root))
    assert not await any_store.delete_certificate(fingerprint_of(root))
    assert await any_store.get_certificate(fingerprint_of(root)) is None


async def test_station_identities_are_what_the_operator_provisioned(
        database_url: str, db_store: DatabaseCertificateStore):
    """The serial numbers a station reports at boot describe it; they are no names its
    certificates may carry (a station could report another station's id as its serial)."""
    assert await db_store.station_identities("CP-1") is None
    engine = create_engine(database_url)
    async with session_factory(engine)() as session, session.begin():
        session.add(Station(id="CP-1", serial_number="CP-2", charge_box_serial_number="SN-0001",
                            created_at=dt.datetime.now(dt.UTC)))
    await engine.dispose()
    assert await db_store.station_identities("CP-1") == ["CP-1"]


async def test_pki_on_the_database(db_store: DatabaseCertificateStore, tmp_path: Path):
    """Issue, validate, answer OCSP, match hash data, revoke: all on the hub's database."""
    settings = PkiSettings(cpo_name=CPO, key_dir=tmp_path / "keys")
    keystore = KeyStore(settings.key_dir)
    await create_dev_pki(db_store, keystore, settings)
    issuer = await CertificateIssuer.load(db_store, keystore, settings)
    station = await issuer.issue_from_csr(make_csr("CP-7", dc=None)[0], kind="station",
                                          station_id="CP-7")
    secc = await issuer.issue_from_csr(make_csr("DE*PNC*E7")[0])
    validator = await ChainValidator.from_store(db_store)
    assert validator.validate_path(secc.chain, ValidationUse.SECC).accepted
    assert validator.validate_path(station.chain, ValidationUse.CHARGING_STATION).accepted
    data = compute_hash_data(secc.certificate, secc.chain[1]).to_ocpp()
    assert (await find_certificate_by_hash(db_store, data)).fingerprint == secc.fingerprint
    assert {r.fingerprint for r in await expiring_certificates(db_store, 61)} == {
        secc.fingerprint}
    assert (await db_store.find_certificates(station_id="CP-7"))[0].role == R.CHARGING_STATION

    responder = await OcspResponder.from_store(db_store, keystore, settings)
    from certs.hashdata import compute_cert_id
    from certs.ocsp_client import OcspCertStatus, build_request, verify_response

    cert_id = compute_cert_id(secc.certificate, secc.chain[1])
    answer = verify_response(await responder.respond(build_request(cert_id)), cert_id,
                             secc.chain[1], dt.datetime.now(dt.UTC))
    assert answer.status is OcspCertStatus.GOOD
    await revoke(db_store, secc.certificate.serial_number.__format__("x"), reason="keyCompromise")
    answer = verify_response(await responder.respond(build_request(cert_id)), cert_id,
                             secc.chain[1], dt.datetime.now(dt.UTC))
    assert (answer.status, answer.revocation_reason) == (OcspCertStatus.REVOKED, "keyCompromise")


def _in_process(*argv: str) -> subprocess.CompletedProcess[str]:
    """``pnc-hub`` in this process (a real child process costs a second per call)."""
    from hub.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return subprocess.CompletedProcess(list(argv), code, out.getvalue(), err.getvalue())


@needs_openssl
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_pnc_hub_pki_commands(database_url: str, tmp_path: Path, monkeypatch):
    config = tmp_path / "hub.toml"
    config.write_text(f'[server]\npublic_url = "https://hub.example.com"\n\n'
                      f'[pki]\ncpo_name = "{CPO}"\nkey_dir = "{tmp_path / "keys"}"\n')
    common = ["--database-url", database_url, "--config", str(config)]

    async def pnc_hub(*args: str, child: bool = False, **kwargs):
        if child:  # the real entry point, as an operator runs it
            return await asyncio.to_thread(cli, "pki", *args, *common, **kwargs)
        return await asyncio.to_thread(_in_process, "pki", *args, *common)

    created = await pnc_hub("init-dev", child=True)
    assert created.returncode == 0, created.stderr
    assert "PRIVATE KEY" not in created.stdout + created.stderr

    (tmp_path / "csr.pem").write_bytes(make_csr("DE*PNC*E5*1")[0])
    issued = await pnc_hub("issue", "--csr", str(tmp_path / "csr.pem"), child=True)
    assert issued.returncode == 0, issued.stderr
    chain = x509.load_pem_x509_certificates(issued.stdout.encode())
    assert chain[0].subject.rfc4514_string().endswith("CN=DE*PNC*E5*1") and len(chain) == 3
    aia = chain[0].extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == "https://hub.example.com/ocsp"

    refused = await pnc_hub("issue", "--csr", str(tmp_path / "csr.pem"), "--type", "station",
                            "--station", "CP-9")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "subject_o_mismatch" not in refused.stderr  # O is right; the CN is not CP-9
    assert "error: subject_cn_not_station" in refused.stderr

    listed = await pnc_hub("list", "--expiring", "61", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["role"] for r in rows] == ["V2GCertificate"]
    revoked = await pnc_hub("revoke", rows[0]["serial"], "--reason", "superseded")
    assert revoked.returncode == 0, revoked.stderr
    listed = await pnc_hub("list", "--json")
    statuses = {json.loads(line)["serial"]: json.loads(line)["status"]
                for line in listed.stdout.splitlines()}
    assert statuses[rows[0]["serial"]] == "revoked"

    (tmp_path / "leaf.pem").write_bytes(chain[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "sub2.pem").write_bytes(chain[1].public_bytes(serialization.Encoding.PEM))
    hashed = await pnc_hub("hash", str(tmp_path / "leaf.pem"), "--issuer",
                           str(tmp_path / "sub2.pem"))
    assert json.loads(hashed.stdout) == compute_hash_data(chain[0], chain[1]).to_ocpp()
    out = openssl("ocsp", "-issuer", "sub2.pem", "-sha256", "-cert", "leaf.pem", "-req_text",
                  "-no_nonce", cwd=tmp_path).stdout
    assert json.loads(hashed.stdout)["issuerKeyHash"].upper() in out.replace("\\\n", "")

    monkeypatch.setenv("PNC_HUB_PKI__CPO_NMAE", "typo")
    bad = await pnc_hub("list")
    assert bad.returncode == 2 and "cpo_nmae" in bad.stderr
