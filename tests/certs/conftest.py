"""Shared fixtures: a dev PKI made by the code under test, and an independent ISO 15118 test PKI
made with plain ``openssl`` commands (the referee). Everything lives in tmp dirs."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.hierarchy import DevPki, create_dev_pki
from certs.issuing import CertificateIssuer
from certs.keys import KeyStore, PrivateKey
from certs.profiles import build_name
from certs.roles import CertificateRole as R
from certs.settings import PkiSettings
from certs.store import MemoryStore

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")

CPO = "Test CPO GmbH"


def openssl(*args: str, cwd: Path | None = None, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    proc = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True,
                          input=input, timeout=30)
    if check and proc.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(pem(*certs))
    return path


def make_csr(cn: str | None, o: str | None = CPO, dc: str | None = "CPO", *,
             key: PrivateKey | None = None, country: str | None = "DE",
             algorithm: hashes.HashAlgorithm | None = None,
             extra: list[x509.NameAttribute] | None = None,
             ca: bool = False) -> tuple[bytes, PrivateKey]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attrs = list(build_name(cn or "x", o, country, dc))
    if cn is None:
        attrs = attrs[1:]
    attrs += extra or []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    csr = builder.sign(key, algorithm or hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM), key


def free_port() -> int:
    """A port that is free on every address, picked below the kernel's ephemeral range: a server
    that binds the wildcard address without SO_REUSEADDR (``openssl ocsp -port``) collides with
    outgoing connections, which take their local ports from that range."""
    low = 32768
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        try:
            for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
                if family == socket.AF_INET6 and not socket.has_ipv6:
                    continue
                with socket.socket(family) as s:
                    s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port found")


@dataclass
class Pki:
    store: MemoryStore
    keystore: KeyStore
    settings: PkiSettings
    dev: DevPki
    issuer: CertificateIssuer
    dir: Path

    def __getitem__(self, role: R) -> x509.Certificate:
        return self.dev[role]

    def secc_chain(self) -> list[x509.Certificate]:
        return [self[R.CPO_SUB_CA2], self[R.CPO_SUB_CA1]]


async def build_pki(directory: Path, **settings_changes: object) -> Pki:
    settings = PkiSettings(cpo_name=CPO, key_dir=directory / "keys",
                           ocsp_url="http://127.0.0.1:9/ocsp")
    settings = settings.replace(**settings_changes)
    store = MemoryStore()
    keystore = KeyStore(settings.key_dir, settings.key_passphrase)
    dev = await create_dev_pki(store, keystore, settings)
    issuer = await CertificateIssuer.load(store, keystore, settings)
    return Pki(store, keystore, settings, dev, issuer, directory)


@pytest.fixture
async def pki(tmp_path: Path) -> Pki:
    return await build_pki(tmp_path)


# -- the independent test PKI, made by openssl only -------------------------------------------

EXT_CNF = textwrap.dedent("""\
    [req]
    distinguished_name = dn
    [dn]
    [root]
    basicConstraints = critical,CA:true
    keyUsage = critical,keyCertSign,cRLSign
    subjectKeyIdentifier = hash
    [sub1]
    basicConstraints = critical,CA:true,pathlen:1
    keyUsage = critical,keyCertSign,cRLSign
    subjectKeyIdentifier = hash
    authorityKeyIdentifier = keyid
    [sub2]
    basicConstraints = critical,CA:true,pathlen:0
    keyUsage = critical,keyCertSign,cRLSign
    subjectKeyIdentifier = hash
    authorityKeyIdentifier = keyid
    [sub_nolimit]
    basicConstraints = critical,CA:true
    keyUsage = critical,keyCertSign,cRLSign
    subjectKeyIdentifier = hash
    authorityKeyIdentifier = keyid
    [secc]
    basicConstraints = critical,CA:false
    keyUsage = critical,digitalSignature,keyAgreement
    subjectKeyIdentifier = hash
    authorityKeyIdentifier = keyid
    [contract]
    basicConstraints = critical,CA:false
    keyUsage = critical,digitalSignature,nonRepudiation,keyEncipherment,keyAgreement
    subjectKeyIdentifier = hash
    authorityKeyIdentifier = keyid
    [wrong_usage]
    basicConstraints = critical,CA:false
    keyUsage = critical,digitalSignature,keyCertSign
    subjectKeyIdentifier = hash
    authorityKeyIdentifier = keyid
    """)

CA_CNF = textwrap.dedent("""\
    [ca]
    default_ca = sub2ca
    [sub2ca]
    dir = .
    database = index.txt
    new_certs_dir = newcerts
    serial = serial.txt
    certificate = cpo_sub2.pem
    private_key = cpo_sub2.key
    default_md = sha256
    default_days = 60
    policy = policy_any
    unique_subject = no
    email_in_dn = no
    [policy_any]
    commonName = supplied
    organizationName = optional
    countryName = optional
    domainComponent = optional
    """)


@dataclass
class OpensslPki:
    dir: Path

    def path(self, name: str) -> Path:
        return self.dir / name

    def cert(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate((self.dir / f"{name}.pem").read_bytes())

    def certs(self, *names: str) -> list[x509.Certificate]:
        return [self.cert(n) for n in names]


def _key(d: Path, name: str) -> None:
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)


def _root(d: Path, name: str, subj: str) -> None:
    _key(d, name)
    openssl("req", "-new", "-x509", "-key", f"{name}.key", "-subj", subj, "-days", "3650",
            "-sha256", "-config", "ext.cnf", "-extensions", "root", "-out", f"{name}.pem", cwd=d)


def _signed(d: Path, name: str, subj: str, ca: str, ext: str, days: int = 365) -> None:
    _key(d, name)
    openssl("req", "-new", "-key", f"{name}.key", "-subj", subj, "-sha256", "-config", "ext.cnf",
            "-out", f"{name}.csr", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", str(days), "-sha256", "-extfile", "ext.cnf",
            "-extensions", ext, "-out", f"{name}.pem", cwd=d)


def _ca_issue(d: Path, name: str, subj: str, *extra: str) -> None:
    _key(d, name)
    openssl("req", "-new", "-key", f"{name}.key", "-subj", subj, "-sha256", "-config", "ext.cnf",
            "-out", f"{name}.csr", cwd=d)
    openssl("ca", "-batch", "-config", "ca.cnf", "-in", f"{name}.csr", "-out", f"{name}.pem",
            "-extfile", "ext.cnf", "-extensions", "secc", "-preserveDN", "-notext", *extra, cwd=d)


@pytest.fixture(scope="session")
def openssl_pki(tmp_path_factory: pytest.TempPathFactory) -> OpensslPki:
    """V2G root -> CPO Sub-CA 1 -> CPO Sub-CA 2 -> SECC leaves (one valid, one expired, one with
    a wrong keyUsage, one to be revoked), a too-deep chain, MO root -> MO subs -> contract, and
    an unrelated root. Sub-CA 2 runs as ``openssl ca`` so its index.txt can feed
    ``openssl ocsp`` as a responder."""
    if OPENSSL is None:
        pytest.skip("openssl binary not installed")
    d = tmp_path_factory.mktemp("openssl-pki")
    (d / "ext.cnf").write_text(EXT_CNF)
    (d / "ca.cnf").write_text(CA_CNF)
    (d / "index.txt").write_text("")
    (d / "serial.txt").write_text("1000\n")
    (d / "newcerts").mkdir()
    _root(d, "v2g_root", "/CN=OpenSSL V2G Root CA/O=OpenSSL Test PKI/C=DE/DC=V2G")
    _signed(d, "cpo_sub1", f"/CN=OpenSSL CPO Sub-CA 1/O={CPO}/C=DE/DC=V2G", "v2g_root", "sub1")
    _signed(d, "cpo_sub2", f"/CN=OpenSSL CPO Sub-CA 2/O={CPO}/C=DE/DC=V2G", "cpo_sub1", "sub2")
    _ca_issue(d, "secc", f"/CN=DE*TST*E1234*1/O={CPO}/C=DE/DC=CPO")
    _ca_issue(d, "secc_revoked", f"/CN=DE*TST*E1234*2/O={CPO}/C=DE/DC=CPO")
    _ca_issue(d, "secc_expired", f"/CN=DE*TST*E1234*3/O={CPO}/C=DE/DC=CPO",
              "-startdate", "20200101000000Z", "-enddate", "20200301000000Z")
    openssl("ca", "-config", "ca.cnf", "-revoke", "secc_revoked.pem", "-crl_reason",
            "keyCompromise", cwd=d)
    _signed(d, "secc_wrong_usage", f"/CN=DE*TST*E1234*4/O={CPO}/C=DE/DC=CPO", "cpo_sub2",
            "wrong_usage")
    # Too deep: root -> sub1 -> sub_a (no pathlen) -> sub_b -> leaf. Violates pathlen of sub1.
    _signed(d, "deep_a", "/CN=Deep A/O=X/DC=V2G", "cpo_sub1", "sub_nolimit")
    _signed(d, "deep_b", "/CN=Deep B/O=X/DC=V2G", "deep_a", "sub2")
    _signed(d, "deep_leaf", f"/CN=DE*TST*E9*9/O={CPO}/DC=CPO", "deep_b", "secc")
    _root(d, "mo_root", "/CN=OpenSSL MO Root CA/O=OpenSSL MO/C=DE/DC=MO")
    _signed(d, "mo_sub1", "/CN=OpenSSL MO Sub-CA 1/O=OpenSSL MO/DC=MO", "mo_root", "sub1")
    _signed(d, "mo_sub2", "/CN=OpenSSL MO Sub-CA 2/O=OpenSSL MO/DC=MO", "mo_sub1", "sub2")
    _signed(d, "contract", "/CN=DE-TST-C12345678-9/O=OpenSSL MO/C=DE/DC=MO", "mo_sub2",
            "contract", days=700)
    _root(d, "other_root", "/CN=OpenSSL V2G Root CA/O=OpenSSL Test PKI/C=DE/DC=V2G")
    _signed(d, "other_sub", f"/CN=OpenSSL CPO Sub-CA 2/O={CPO}/C=DE/DC=V2G", "other_root",
            "sub2")
    _signed(d, "other_leaf", f"/CN=DE*TST*E1234*1/O={CPO}/C=DE/DC=CPO", "other_sub", "secc")
    return OpensslPki(d)
