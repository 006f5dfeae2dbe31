"""Issuing from CSRs: what the hub signs verifies with ``openssl verify``; every bad CSR is
refused with its reason and nothing is recorded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.errors import CsrRejected, IssuerUnavailable
from certs.issuing import CertificateIssuer, CertificateKind
from certs.roles import CertificateRole as R
from certs.store import MemoryStore

from .conftest import CPO, Pki, build_pki, make_csr, needs_openssl, openssl, write_pem


def _ext(cert: x509.Certificate, cls: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(cls)


async def test_secc_leaf_has_the_iso_profile(pki: Pki):
    pki.store.set_station_identities("CP-1", ["DE*PNC*E1*1", "DE*PNC*E1*2"])
    csr, key = make_csr("DE*PNC*E1*2")
    issued = await pki.issuer.issue_from_csr(csr, station_id="CP-1")
    leaf = issued.certificate
    assert leaf.subject == x509.load_pem_x509_csr(csr).subject
    assert leaf.serial_number.bit_length() >= 64
    bc = _ext(leaf, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = _ext(leaf, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_agreement
    assert not (ku.value.key_cert_sign or ku.value.key_encipherment or ku.value.crl_sign)
    with pytest.raises(x509.ExtensionNotFound):
        _ext(leaf, x509.ExtendedKeyUsage)
    with pytest.raises(x509.ExtensionNotFound):
        _ext(leaf, x509.SubjectAlternativeName)
    assert _ext(leaf, x509.SubjectKeyIdentifier).value == \
        x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    sub2 = pki[R.CPO_SUB_CA2]
    assert _ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier == \
        _ext(sub2, x509.SubjectKeyIdentifier).value.digest
    aia = _ext(leaf, x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [pki.settings.ocsp_url]
    assert leaf.issuer == sub2.subject
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == \
        dt.timedelta(days=60, minutes=5)
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)
    assert [c.subject for c in issued.chain] == [leaf.subject, sub2.subject,
                                                 pki[R.CPO_SUB_CA1].subject]
    record = await pki.store.get_certificate(issued.fingerprint)
    assert record is not None and record.role == R.SECC and record.station_id == "CP-1"


async def test_secc_validity_is_capped_by_config(tmp_path: Path):
    pki = await build_pki(tmp_path, secc_validity_days=10)
    issued = await pki.issuer.issue_from_csr(make_csr("DE*PNC*E1")[0])
    leaf = issued.certificate
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(days=10,
                                                                                 minutes=5)


async def test_serials_are_random_and_distinct(pki: Pki):
    serials = set()
    for _ in range(20):
        serials.add((await pki.issuer.issue_from_csr(make_csr("DE*PNC*E1")[0])).certificate
                    .serial_number)
    assert len(serials) == 20 and min(s.bit_length() for s in serials) >= 64


@needs_openssl
async def test_issued_secc_chain_verifies_with_openssl(pki: Pki, tmp_path: Path):
    # CSR made by openssl itself, not by the code under test.
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "secc.key",
            cwd=tmp_path)
    openssl("req", "-new", "-key", "secc.key", "-subj", f"/CN=DE-PNC-S-0000ABCD1234-5/O={CPO}"
            "/C=DE/DC=CPO", "-sha256", "-out", "secc.csr", cwd=tmp_path)
    issued = await pki.issuer.issue_from_csr((tmp_path / "secc.csr").read_bytes())
    (tmp_path / "chain.pem").write_text(issued.chain_pem())
    write_pem(tmp_path / "leaf.pem", issued.certificate)
    write_pem(tmp_path / "untrusted.pem", *issued.chain[1:])
    write_pem(tmp_path / "root.pem", pki[R.V2G_ROOT])
    result = openssl("verify", "-x509_strict", "-CAfile", "root.pem", "-untrusted",
                     "untrusted.pem", "leaf.pem", cwd=tmp_path)
    assert result.stdout.strip() == "leaf.pem: OK"
    # The key openssl generated belongs to the certificate we issued.
    mod_cert = openssl("x509", "-in", "leaf.pem", "-noout", "-pubkey", cwd=tmp_path).stdout
    mod_key = openssl("pkey", "-in", "secc.key", "-pubout", cwd=tmp_path).stdout
    assert mod_cert == mod_key


@needs_openssl
@pytest.mark.parametrize("key_factory", [
    lambda: rsa.generate_private_key(65537, 2048),
    lambda: ec.generate_private_key(ec.SECP384R1()),
    lambda: ec.generate_private_key(ec.SECP256R1()),
], ids=["rsa2048", "p384", "p256"])
async def test_station_certificate_verifies_as_tls_client(pki: Pki, tmp_path: Path,
                                                          key_factory):
    csr, _ = make_csr("CP-0042", o=CPO, dc=None, key=key_factory())
    issued = await pki.issuer.issue_from_csr(csr, kind=CertificateKind.STATION,
                                             station_id="CP-0042")
    leaf = issued.certificate
    assert issued.chain == (leaf,)  # the CSMS root is not sent back
    assert _ext(leaf, x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CPO
    write_pem(tmp_path / "leaf.pem", leaf)
    write_pem(tmp_path / "root.pem", pki[R.CSMS_ROOT])
    result = openssl("verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", "root.pem",
                     "leaf.pem", cwd=tmp_path)
    assert result.stdout.strip() == "leaf.pem: OK"
    record = await pki.store.get_certificate(issued.fingerprint)
    assert record is not None and record.role == R.CHARGING_STATION


def _tampered_csr() -> bytes:
    csr, _ = make_csr("DE*PNC*E1")
    der = bytearray(x509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01
    return bytes(der)


V2G_REFUSALS = [
    ("wrong curve P-384", lambda: make_csr("DE*PNC*E1",
                                           key=ec.generate_private_key(ec.SECP384R1()))[0],
     "curve_not_allowed"),
    ("wrong curve secp256k1", lambda: make_csr("DE*PNC*E1",
                                               key=ec.generate_private_key(ec.SECP256K1()))[0],
     "curve_not_allowed"),
    ("RSA key", lambda: make_csr("DE*PNC*E1", key=rsa.generate_private_key(65537, 2048))[0],
     "key_type_not_allowed"),
    ("SHA-384 signature", lambda: make_csr("DE*PNC*E1", algorithm=hashes.SHA384())[0],
     "signature_algorithm_not_allowed"),
    ("bad signature", _tampered_csr, "csr_signature_invalid"),
    ("garbage", lambda: b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                        b"-----END CERTIFICATE REQUEST-----\n", "csr_malformed"),
    ("CN not an EVSE/SECC ID", lambda: make_csr("my-charger")[0], "subject_cn_syntax"),
    ("CN missing", lambda: make_csr(None)[0], "subject_cn_missing"),
    ("CN twice", lambda: make_csr("DE*PNC*E1", extra=[
        x509.NameAttribute(NameOID.COMMON_NAME, "DE*PNC*E2")])[0], "subject_attribute_repeated"),
    ("wrong O", lambda: make_csr("DE*PNC*E1", o="Other CPO")[0], "subject_o_mismatch"),
    ("no O", lambda: make_csr("DE*PNC*E1", o=None)[0], "subject_o_mismatch"),
    ("wrong DC", lambda: make_csr("DE*PNC*E1", dc="MO")[0], "subject_dc_mismatch"),
    ("no DC", lambda: make_csr("DE*PNC*E1", dc=None)[0], "subject_dc_mismatch"),
    ("asks for a CA", lambda: make_csr("DE*PNC*E1", ca=True)[0], "ca_requested"),
]


@pytest.mark.parametrize(("label", "factory", "reason"), V2G_REFUSALS,
                         ids=[r[0] for r in V2G_REFUSALS])
async def test_bad_v2g_csr_is_refused_with_reason(pki: Pki, label, factory, reason):
    before = len(await pki.store.find_certificates())
    with pytest.raises(CsrRejected) as caught:
        await pki.issuer.issue_from_csr(factory())
    assert caught.value.reason == reason, caught.value.message
    assert len(await pki.store.find_certificates()) == before


async def test_cn_must_belong_to_the_station(pki: Pki):
    pki.store.set_station_identities("CP-1", ["DE*PNC*E1*1"])
    with pytest.raises(CsrRejected) as caught:
        await pki.issuer.issue_from_csr(make_csr("DE*PNC*E2*1")[0], station_id="CP-1")
    assert caught.value.reason == "subject_cn_not_station"
    with pytest.raises(CsrRejected) as caught:
        await pki.issuer.issue_from_csr(make_csr("DE*PNC*E1*1")[0], station_id="CP-unknown")
    assert caught.value.reason == "unknown_station"
    # Chargers write EVSE IDs with and without separators: both denote the same ID.
    issued = await pki.issuer.issue_from_csr(make_csr("DEPNCE11")[0], station_id="CP-1")
    assert issued.certificate.subject.rfc4514_string().startswith("DC=CPO")


async def test_station_binding_can_be_disabled(tmp_path: Path):
    pki = await build_pki(tmp_path, require_station_binding=False)
    issued = await pki.issuer.issue_from_csr(make_csr("DE*PNC*E7")[0], station_id="CP-x")
    assert (await pki.store.get_certificate(issued.fingerprint)).station_id == "CP-x"


STATION_REFUSALS = [
    ("RSA 1024", lambda: make_csr("CP-1", dc=None, key=rsa.generate_private_key(65537, 1024))[0],
     "rsa_key_too_small"),
    ("secp521r1", lambda: make_csr("CP-1", dc=None, key=ec.generate_private_key(ec.SECP521R1()))[0],
     "curve_not_allowed"),
    ("SHA-224", lambda: make_csr("CP-1", dc=None, algorithm=hashes.SHA224())[0],
     "signature_algorithm_not_allowed"),
    ("wrong O", lambda: make_csr("CP-1", o="Somebody", dc=None)[0], "subject_o_mismatch"),
    ("CN of another station", lambda: make_csr("CP-2", dc=None)[0], "subject_cn_not_station"),
]


@pytest.mark.parametrize(("label", "factory", "reason"), STATION_REFUSALS,
                         ids=[r[0] for r in STATION_REFUSALS])
async def test_bad_station_csr_is_refused_with_reason(pki: Pki, label, factory, reason):
    with pytest.raises(CsrRejected) as caught:
        await pki.issuer.issue_from_csr(factory(), kind="station", station_id="CP-1")
    assert caught.value.reason == reason, caught.value.message


async def test_no_ca_configured_is_issuer_unavailable(tmp_path: Path):
    from certs.keys import KeyStore
    from certs.settings import PkiSettings

    settings = PkiSettings(cpo_name=CPO, key_dir=tmp_path)
    issuer = await CertificateIssuer.load(MemoryStore(), KeyStore(tmp_path), settings)
    with pytest.raises(IssuerUnavailable) as caught:
        await issuer.issue_from_csr(make_csr("DE*PNC*E1")[0])
    assert caught.value.reason == "no_issuer"


@needs_openssl
async def test_sha1_csr_is_refused(pki: Pki, tmp_path: Path):
    # cryptography no longer signs with SHA-1; openssl still does, and so do old chargers.
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-subj",
            f"/CN=CP-1/O={CPO}", "-sha1", "-out", "csr.pem", cwd=tmp_path)
    with pytest.raises(CsrRejected) as caught:
        await pki.issuer.issue_from_csr((tmp_path / "csr.pem").read_bytes(), kind="station",
                                        station_id="CP-1")
    assert caught.value.reason == "signature_algorithm_not_allowed"
