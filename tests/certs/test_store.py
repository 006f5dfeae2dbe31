"""The storage protocol, the memory and file stores, lifecycle listing, settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from certs.errors import PkiError
from certs.lifecycle import expiring_certificates, normalise_reason, normalise_serial, revoke
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

from .conftest import Pki, make_csr


def test_stores_satisfy_the_protocol(tmp_path: Path):
    assert isinstance(MemoryStore(), CertificateStore)
    assert isinstance(FileStore(tmp_path), CertificateStore)


async def test_file_store_persists(pki: Pki, tmp_path: Path):
    store = FileStore(tmp_path / "store")
    root = pki[R.V2G_ROOT]
    fp = await record_certificate(store, root, R.V2G_ROOT)
    assert await record_certificate(store, root, R.V2G_ROOT) == fp  # idempotent
    leaf = (await pki.issuer.issue_from_csr(make_csr("DE*PNC*E1")[0])).certificate
    leaf_fp = await record_certificate(store, leaf, R.SECC, station_id="CP-1")
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert await store.revoke_certificate(leaf_fp, revoked_at=when, reason="superseded")
    assert await store.revoke_certificate(leaf_fp, revoked_at=when + dt.timedelta(days=1),
                                          reason="keyCompromise")  # first revocation kept
    store.set_station_identities("CP-1", ["DE*PNC*E1"])

    again = FileStore(tmp_path / "store")
    record = await again.get_certificate(leaf_fp)
    assert isinstance(record, CertificateRecord)
    assert record.der == leaf.public_bytes(serialization.Encoding.DER)
    assert (record.role, record.station_id) == (R.SECC, "CP-1")
    assert (record.revoked_at, record.revocation_reason) == (when, "superseded")
    assert record.not_after == leaf.not_valid_after_utc
    assert await again.station_identities("CP-1") == ["DE*PNC*E1"]
    assert await again.station_identities("CP-2") is None
    assert await again.delete_certificate(fp)
    assert await FileStore(tmp_path / "store").get_certificate(fp) is None
    assert not await again.revoke_certificate("00" * 32, revoked_at=when, reason="x")


async def test_find_filters(pki: Pki):
    store = pki.store
    sub2 = pki[R.CPO_SUB_CA2]
    by_role = await store.find_certificates(role=R.CPO_SUB_CA2)
    assert [r.fingerprint for r in by_role] == [fingerprint_of(sub2)]
    by_serial = await store.find_certificates(serial=format(sub2.serial_number, "x"))
    assert [r.role for r in by_serial] == [R.CPO_SUB_CA2]
    issued_by_root = await store.find_certificates(
        issuer_name_sha256=by_role[0].issuer_name_sha256)
    assert {r.role for r in issued_by_root} == {R.CPO_SUB_CA2}
    all_records = await store.find_certificates()
    assert [r.not_after for r in all_records] == sorted(r.not_after for r in all_records)


async def test_expiring_and_revoke(pki: Pki):
    issued = await pki.issuer.issue_from_csr(make_csr("DE*PNC*E1")[0])
    soon = await expiring_certificates(pki.store, 61)
    assert [r.fingerprint for r in soon] == [issued.fingerprint]
    assert await expiring_certificates(pki.store, 30) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=90)
    assert issued.fingerprint in [r.fingerprint for r in
                                  await expiring_certificates(pki.store, 0, now=later)]
    record = await revoke(pki.store, f"0x{issued.certificate.serial_number:X}",
                          reason="key_compromise")
    assert record.revocation_reason == "keyCompromise"
    assert await expiring_certificates(pki.store, 61) == []
    assert len(await expiring_certificates(pki.store, 61, include_revoked=True)) == 1


async def test_revoke_refusals(pki: Pki):
    with pytest.raises(PkiError) as caught:
        await revoke(pki.store, "abcdef")
    assert caught.value.reason == "certificate_not_found"
    with pytest.raises(PkiError) as caught:  # trust anchors are removed, not revoked
        await revoke(pki.store, f"{pki[R.V2G_ROOT].serial_number:x}")
    assert caught.value.reason == "certificate_not_found"
    with pytest.raises(PkiError) as caught:
        await revoke(pki.store, "xyz")
    assert caught.value.reason == "serial_malformed"
    with pytest.raises(PkiError) as caught:
        normalise_reason("because")
    assert caught.value.reason == "revocation_reason_unknown"
    assert normalise_serial("00:0A:ff") == "aff"


def test_settings_from_mapping():
    settings = PkiSettings.from_mapping({
        "cpo_name": "ACME", "key_dir": "/tmp/k", "key_passphrase": "hunter2",
        "ocsp_allowed_urls": "https://ocsp.example.com", "secc_validity_days": "30",
        "require_station_binding": "false",
    })
    assert settings.key_dir == Path("/tmp/k") and settings.secc_validity_days == 30
    assert settings.require_station_binding is False
    assert settings.allowed_ocsp_urls() == (settings.ocsp_url, "https://ocsp.example.com")
    assert "hunter2" not in repr(settings)
    with pytest.raises(ValueError, match="unknown"):
        PkiSettings.from_mapping({"cpo_nmae": "typo"})
    with pytest.raises(ValueError):
        PkiSettings.from_mapping({"ocsp_failure_policy": "maybe"})
