"""Dev PKI profiles, keys on disk, and import of a production CPO Sub-CA chain."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certs import profiles as P
from certs.errors import ImportRejected
from certs.hierarchy import import_cpo_chain, load_authority
from certs.issuing import CertificateIssuer
from certs.keys import KeyStore, generate_key
from certs.roles import CertificateRole as R
from certs.settings import PkiSettings
from certs.store import MemoryStore, fingerprint_of

from .conftest import CPO, OpensslPki, Pki, build_pki, make_csr, needs_openssl, openssl, write_pem

EXPECTED = {
    R.V2G_ROOT: (True, None, "V2G"), R.CPO_SUB_CA1: (True, 1, "V2G"),
    R.CPO_SUB_CA2: (True, 0, "V2G"), R.MO_ROOT: (True, None, "MO"),
    R.MO_SUB_CA1: (True, 1, "MO"), R.MO_SUB_CA2: (True, 0, "MO"), R.CONTRACT: (False, None, "MO"),
    R.OEM_ROOT: (True, None, "OEM"), R.OEM_SUB_CA1: (True, 1, "OEM"),
    R.OEM_SUB_CA2: (True, 0, "OEM"), R.OEM_PROVISIONING: (False, None, "OEM"),
    R.CSMS_ROOT: (True, 0, None),
}


@pytest.mark.parametrize("role", list(EXPECTED), ids=[r.value for r in EXPECTED])
async def test_dev_pki_follows_the_profiles(pki: Pki, role: R):
    cert = pki[role]
    ca, pathlen, dc = EXPECTED[role]
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is ca and bc.value.path_length == pathlen
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign is ca
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.DOMAIN_COMPONENT)] == \
        ([dc] if dc else [])
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    self_signed = cert.issuer == cert.subject
    assert self_signed is role.value.endswith("RootCertificate")
    if not self_signed:
        cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        assert P.ocsp_urls(cert) == [pki.settings.ocsp_url]
    else:
        assert P.ocsp_urls(cert) == []
    assert pki.keystore.has(fingerprint_of(cert))


@needs_openssl
async def test_dev_pki_chains_verify_with_openssl(pki: Pki, tmp_path: Path):
    for root, subs, leaf in [
        (R.V2G_ROOT, (R.CPO_SUB_CA1,), R.CPO_SUB_CA2),
        (R.MO_ROOT, (R.MO_SUB_CA2, R.MO_SUB_CA1), R.CONTRACT),
        (R.OEM_ROOT, (R.OEM_SUB_CA2, R.OEM_SUB_CA1), R.OEM_PROVISIONING),
    ]:
        write_pem(tmp_path / "root.pem", pki[root])
        write_pem(tmp_path / "subs.pem", *[pki[s] for s in subs])
        write_pem(tmp_path / "leaf.pem", pki[leaf])
        out = openssl("verify", "-x509_strict", "-CAfile", "root.pem", "-untrusted", "subs.pem",
                      "leaf.pem", cwd=tmp_path)
        assert out.stdout.strip() == "leaf.pem: OK"


async def test_keys_are_private_files(pki: Pki):
    directory = pki.keystore.directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert len(files) == len(EXPECTED)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


async def test_keys_are_encrypted_with_a_passphrase(tmp_path: Path):
    pki = await build_pki(tmp_path, key_passphrase="correct horse")
    for path in pki.keystore.directory.iterdir():
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert "correct horse" not in repr(pki.settings) and "correct horse" not in repr(pki.keystore)
    wrong = KeyStore(pki.keystore.directory, "wrong")
    with pytest.raises(ImportRejected) as caught:
        wrong.load(fingerprint_of(pki[R.CPO_SUB_CA2]))
    assert caught.value.reason == "key_bad_passphrase"
    assert await load_authority(pki.store, pki.keystore, R.CPO_SUB_CA2) is not None


# -- import -----------------------------------------------------------------------------------


def _encrypted_key(p: OpensslPki, name: str, tmp_path: Path, passphrase: str) -> bytes:
    """PKCS#8 encrypted by openssl (the production PKI hands these out)."""
    out = tmp_path / f"{name}.p8"
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", str(p.path(f"{name}.key")),
            "-passout", f"pass:{passphrase}", "-out", str(out))
    return out.read_bytes()


def _settings(tmp_path: Path, passphrase: str | None) -> PkiSettings:
    return PkiSettings(cpo_name=CPO, key_dir=tmp_path / "keys", key_passphrase=passphrase,
                       ocsp_url="http://127.0.0.1:9/ocsp")


@needs_openssl
async def test_import_openssl_chain_then_issue(openssl_pki: OpensslPki, tmp_path: Path):
    settings = _settings(tmp_path, "s3cret")
    store, keystore = MemoryStore(), KeyStore(settings.key_dir, settings.key_passphrase)
    chain = (openssl_pki.path("cpo_sub2.pem").read_bytes()
             + openssl_pki.path("cpo_sub1.pem").read_bytes()
             + openssl_pki.path("v2g_root.pem").read_bytes())
    result = await import_cpo_chain(store, keystore, chain,
                                    _encrypted_key(openssl_pki, "cpo_sub2", tmp_path, "s3cret"),
                                    "s3cret")
    assert result.notes() == []
    roles = {r.role for r in await store.find_certificates()}
    assert roles == {R.CPO_SUB_CA2, R.CPO_SUB_CA1, R.V2G_ROOT}
    key_file = keystore.path_for(fingerprint_of(result.sub_ca2))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")

    issuer = await CertificateIssuer.load(store, keystore, settings)
    issued = await issuer.issue_from_csr(make_csr("DE*TST*E77")[0])
    (tmp_path / "chain.pem").write_text(issued.chain_pem())
    write_pem(tmp_path / "leaf.pem", issued.certificate)
    write_pem(tmp_path / "subs.pem", *issued.chain[1:])
    out = openssl("verify", "-x509_strict", "-CAfile", str(openssl_pki.path("v2g_root.pem")),
                  "-untrusted", "subs.pem", "leaf.pem", cwd=tmp_path)
    assert out.stdout.strip() == "leaf.pem: OK"


@needs_openssl
async def test_import_without_root_notes_it(openssl_pki: OpensslPki, tmp_path: Path):
    chain = openssl_pki.path("cpo_sub2.pem").read_bytes() + \
        openssl_pki.path("cpo_sub1.pem").read_bytes()
    result = await import_cpo_chain(MemoryStore(), KeyStore(tmp_path / "k", "pw"), chain,
                                    _encrypted_key(openssl_pki, "cpo_sub2", tmp_path, "pw"), "pw")
    assert result.root is None and any("V2G root" in n for n in result.notes())


@needs_openssl
@pytest.mark.parametrize(("case", "reason"), [
    ("wrong_passphrase", "key_bad_passphrase"),
    ("no_passphrase", "key_passphrase_missing"),
    ("plain_key", "key_not_encrypted"),
    ("other_key", "key_mismatch"),
    ("sub1_as_sub2", "path_length"),
    ("unrelated_cert", "chain_broken"),
    ("garbage_chain", "chain_malformed"),
])
async def test_import_refusals(openssl_pki: OpensslPki, tmp_path: Path, case: str, reason: str):
    p = openssl_pki
    chain = p.path("cpo_sub2.pem").read_bytes() + p.path("cpo_sub1.pem").read_bytes()
    key = _encrypted_key(p, "cpo_sub2", tmp_path, "pw")
    passphrase: str | None = "pw"
    if case == "wrong_passphrase":
        passphrase = "nope"
    elif case == "no_passphrase":
        passphrase = None
    elif case == "plain_key":
        key = p.path("cpo_sub2.key").read_bytes()
    elif case == "other_key":
        key = generate_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"))
    elif case == "sub1_as_sub2":
        chain = p.path("cpo_sub1.pem").read_bytes() + p.path("v2g_root.pem").read_bytes()
        key = _encrypted_key(p, "cpo_sub1", tmp_path, "pw")
    elif case == "unrelated_cert":
        chain += p.path("mo_root.pem").read_bytes()
    elif case == "garbage_chain":
        chain = b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"
    store, keystore = MemoryStore(), KeyStore(tmp_path / "keys", passphrase)
    with pytest.raises(ImportRejected) as caught:
        await import_cpo_chain(store, keystore, chain, key, passphrase)
    assert caught.value.reason == reason, caught.value.message
    assert await store.find_certificates() == [] and keystore.fingerprints() == []


def test_existing_key_directory_is_not_chmodded(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    path = KeyStore(shared).save("ab" * 32, generate_key())
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
