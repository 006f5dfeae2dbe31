"""CA hierarchies: create a complete development/test PKI, import a production CPO Sub-CA chain,
and load the signing authorities (certificate + key + chain) the issuer and responder use.

Certificates go to the ``CertificateStore``; private keys go to the ``KeyStore`` (0600 files),
named by certificate fingerprint. Which CA signs what is found from roles, never from file names.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from . import profiles as P
from .errors import ImportRejected
from .keys import (
    KeyStore,
    KeyType,
    PrivateKey,
    generate_key,
    is_encrypted_pem,
    key_type,
    load_private_key,
    public_key_der,
)
from .roles import CertificateRole
from .settings import PkiSettings
from .store import (
    CertificateStore,
    fingerprint_of,
    load_record_certificate,
    record_certificate,
    sha256_hex,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SigningAuthority:
    """A CA the hub holds the key of. ``chain``: its issuers, nearest first (root may be absent)."""

    role: str
    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.certificate)

    def path(self) -> list[x509.Certificate]:
        """This CA and its issuers, nearest first."""
        return [self.certificate, *self.chain]


@dataclass(frozen=True)
class DevPki:
    """What ``create_dev_pki`` made, by role (leaf keys stay in the key store)."""

    certificates: dict[CertificateRole, x509.Certificate]

    def __getitem__(self, role: CertificateRole) -> x509.Certificate:
        return self.certificates[role]


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


async def create_dev_pki(store: CertificateStore, keystore: KeyStore, settings: PkiSettings,
                         *, now: dt.datetime | None = None) -> DevPki:
    """A complete ISO 15118 + OCPP test PKI: V2G root with CPO Sub-CA 1/2, MO chain with a
    contract certificate, OEM chain with a provisioning certificate, and a CSMS root."""
    start = _now(now) - P.BACKDATE
    made: dict[CertificateRole, x509.Certificate] = {}
    dev = "pnc-hub Dev"

    async def make(profile: P.Profile, subject: x509.Name,
                   issuer: tuple[x509.Certificate, PrivateKey] | None,
                   kind: KeyType = KeyType.P256) -> tuple[x509.Certificate, PrivateKey]:
        key = generate_key(kind)
        cert = P.build_certificate(
            profile, subject, key.public_key(),
            issuer_certificate=issuer[0] if issuer else None,
            issuer_key=issuer[1] if issuer else key,
            not_before=start, not_after=start + profile.validity,
            ocsp_url=settings.ocsp_url,
        )
        fingerprint = await record_certificate(store, cert, profile.role)
        keystore.save(fingerprint, key)
        made[profile.role] = cert
        return cert, key

    c = settings.country
    v2g = await make(P.V2G_ROOT, P.build_name(f"{dev} V2G Root CA", f"{dev} PKI", c, "V2G"), None)
    sub1 = await make(P.CPO_SUB_CA1, P.build_name(f"{settings.cpo_name} CPO Sub-CA 1",
                                                  settings.cpo_name, c, "V2G"), v2g)
    await make(P.CPO_SUB_CA2, P.build_name(f"{settings.cpo_name} CPO Sub-CA 2",
                                           settings.cpo_name, c, "V2G"), sub1)
    mo = await make(P.MO_ROOT, P.build_name(f"{dev} MO Root CA", f"{dev} MO", c, "MO"), None)
    mo1 = await make(P.MO_SUB_CA1, P.build_name(f"{dev} MO Sub-CA 1", f"{dev} MO", c, "MO"), mo)
    mo2 = await make(P.MO_SUB_CA2, P.build_name(f"{dev} MO Sub-CA 2", f"{dev} MO", c, "MO"), mo1)
    await make(P.CONTRACT, P.build_name("DEPNCC00000001", f"{dev} MO", c, "MO"), mo2)
    oem = await make(P.OEM_ROOT, P.build_name(f"{dev} OEM Root CA", f"{dev} OEM", c, "OEM"), None)
    oem1 = await make(P.OEM_SUB_CA1, P.build_name(f"{dev} OEM Sub-CA 1", f"{dev} OEM", c, "OEM"),
                      oem)
    oem2 = await make(P.OEM_SUB_CA2, P.build_name(f"{dev} OEM Sub-CA 2", f"{dev} OEM", c, "OEM"),
                      oem1)
    await make(P.OEM_PROVISIONING, P.build_name("WMIPNCHUB00000001", f"{dev} OEM", c, "OEM"), oem2)
    await make(P.CSMS_ROOT, P.build_name(f"{settings.organization_for_stations} CSMS Root CA",
                                         settings.organization_for_stations, c), None)
    log.info("created development PKI in %s", keystore.directory)
    return DevPki(made)


async def ensure_dev_pki(store: CertificateStore, keystore: KeyStore,
                         settings: PkiSettings) -> DevPki | None:
    """Create the dev PKI unless a usable CPO Sub-CA 2 exists already (for ``serve --dev``)."""
    if await load_authority(store, keystore, CertificateRole.CPO_SUB_CA2) is not None:
        return None
    return await create_dev_pki(store, keystore, settings)


async def issuer_chain(store: CertificateStore, certificate: x509.Certificate,
                       max_depth: int = 6) -> list[x509.Certificate]:
    """The issuers of ``certificate`` found in the store, nearest first, each signature checked."""
    chain: list[x509.Certificate] = []
    current = certificate
    for _ in range(max_depth):
        if current.issuer == current.subject:
            break
        issuer = await find_issuer(store, current)
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return chain


async def find_issuer(store: CertificateStore,
                      certificate: x509.Certificate) -> x509.Certificate | None:
    if certificate.issuer == certificate.subject:
        return certificate
    candidates = await store.find_certificates(
        subject_name_sha256=sha256_hex(certificate.issuer.public_bytes())
    )
    for record in reversed(candidates):  # newest first
        candidate = load_record_certificate(record)
        try:
            certificate.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


async def load_authority(store: CertificateStore, keystore: KeyStore, role: str, *,
                         now: dt.datetime | None = None) -> SigningAuthority | None:
    """The currently valid CA of ``role`` whose key we hold; the longest-lived one wins, which
    makes a CA rollover (import the new Sub-CA while the old is still valid) just work."""
    moment = _now(now)
    records = await store.find_certificates(role=str(role))
    for record in sorted(records, key=lambda r: r.not_after, reverse=True):
        if record.revoked_at is not None or not (record.not_before <= moment < record.not_after):
            continue
        key = keystore.load(record.fingerprint)
        if key is None:
            continue
        certificate = load_record_certificate(record)
        if public_key_der(key) != public_key_der(certificate.public_key()):
            log.warning("key file of %s does not match its certificate", record.fingerprint)
            continue
        chain = await issuer_chain(store, certificate)
        return SigningAuthority(str(role), certificate, key, tuple(chain))
    return None


async def create_ocsp_signer(store: CertificateStore, keystore: KeyStore,
                             authority: SigningAuthority, *, validity_days: int | None = None,
                             now: dt.datetime | None = None) -> x509.Certificate:
    """A delegated OCSP responder certificate for ``authority`` (EKU OCSPSigning, ocsp-nocheck),
    so the CA key itself need not sign every OCSP answer."""
    start = _now(now) - P.BACKDATE
    validity = dt.timedelta(days=validity_days) if validity_days else P.OCSP_SIGNER.validity
    key = generate_key(KeyType.P256)
    org = P.name_values(authority.certificate.subject, x509.NameOID.ORGANIZATION_NAME)
    cn = P.name_values(authority.certificate.subject, x509.NameOID.COMMON_NAME)
    subject = P.build_name(f"{cn[0] if cn else 'CA'} OCSP Responder", org[0] if org else None)
    cert = P.build_certificate(P.OCSP_SIGNER, subject, key.public_key(),
                               issuer_certificate=authority.certificate,
                               issuer_key=authority.key, not_before=start,
                               not_after=start + validity)
    fingerprint = await record_certificate(store, cert, CertificateRole.OCSP_SIGNER)
    keystore.save(fingerprint, key)
    return cert


# -- import of a production CPO Sub-CA chain -------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    sub_ca2: x509.Certificate
    sub_ca1: x509.Certificate | None
    root: x509.Certificate | None

    def notes(self) -> list[str]:
        out = []
        if self.sub_ca1 is None:
            out.append("no CPO Sub-CA 1 in the chain: it should be imported with Sub-CA 2")
        if self.root is None:
            out.append("no V2G root in the chain: install the V2G root as a trust anchor")
        return out


def _load_chain(data: bytes) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ImportRejected("chain_malformed", "the certificate chain could not be parsed"
                             ) from exc


def _check_ca(cert: x509.Certificate, profile: P.Profile, label: str,
              moment: dt.datetime) -> None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise ImportRejected("not_ca", f"{label} is not a CA certificate")
    if profile.path_length is not None and bc.path_length != profile.path_length:
        raise ImportRejected("path_length",
                             f"{label} has pathLen {bc.path_length}, "
                             f"ISO 15118 requires {profile.path_length}")
    if key_type(cert.public_key()) not in profile.key_types:
        raise ImportRejected("key_type_not_allowed", f"{label} key is not ECDSA P-256")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not usage.key_cert_sign:
        raise ImportRejected("key_usage", f"{label} lacks keyUsage keyCertSign")
    if not (cert.not_valid_before_utc <= moment < cert.not_valid_after_utc):
        raise ImportRejected("expired", f"{label} is not valid now "
                             f"({cert.not_valid_before_utc:%Y-%m-%d} to "
                             f"{cert.not_valid_after_utc:%Y-%m-%d})")


async def import_cpo_chain(store: CertificateStore, keystore: KeyStore, chain_data: bytes,
                           key_data: bytes, passphrase: str | None, *,
                           now: dt.datetime | None = None) -> ImportResult:
    """Import a production CPO Sub-CA 2 (with its encrypted PKCS#8 key), Sub-CA 1 and optionally
    the V2G root. Everything is checked before anything is written."""
    moment = _now(now)
    certs = _load_chain(chain_data)
    if not certs:
        raise ImportRejected("chain_empty", "no certificate in the chain file")
    if not is_encrypted_pem(key_data) and key_data.lstrip().startswith(b"-----"):
        raise ImportRejected("key_not_encrypted",
                             "the CPO Sub-CA key must be an encrypted PKCS#8 file")
    key = load_private_key(key_data, passphrase)
    wanted = public_key_der(key)
    sub2 = next((c for c in certs if public_key_der(c.public_key()) == wanted), None)
    if sub2 is None:
        raise ImportRejected("key_mismatch",
                             "the key does not belong to any certificate of the chain")
    ordered = [sub2]
    rest = [c for c in certs if c is not sub2]
    while rest:
        current = ordered[-1]
        nxt = next((c for c in rest if c.subject == current.issuer), None)
        if nxt is None or current.issuer == current.subject:
            break
        try:
            current.verify_directly_issued_by(nxt)
        except InvalidSignature as exc:
            raise ImportRejected("signature_invalid",
                                 f"{current.subject.rfc4514_string()} is not signed by "
                                 f"{nxt.subject.rfc4514_string()}") from exc
        ordered.append(nxt)
        rest.remove(nxt)
    if rest:
        raise ImportRejected("chain_broken", "certificate(s) not part of the Sub-CA 2 chain: "
                             + ", ".join(c.subject.rfc4514_string() for c in rest))
    _check_ca(sub2, P.CPO_SUB_CA2, "CPO Sub-CA 2", moment)
    sub1 = root = None
    for cert in ordered[1:]:
        if cert.issuer == cert.subject:
            root = cert
            _check_ca(cert, P.V2G_ROOT, "V2G root", moment)
            try:
                cert.verify_directly_issued_by(cert)
            except InvalidSignature as exc:
                raise ImportRejected("signature_invalid", "the V2G root's self-signature is bad"
                                     ) from exc
        elif sub1 is None:
            sub1 = cert
            _check_ca(cert, P.CPO_SUB_CA1, "CPO Sub-CA 1", moment)
        else:
            raise ImportRejected("chain_too_long", "more than two Sub-CAs below the V2G root")
    fingerprint = await record_certificate(store, sub2, CertificateRole.CPO_SUB_CA2)
    if sub1 is not None:
        await record_certificate(store, sub1, CertificateRole.CPO_SUB_CA1)
    if root is not None:
        await record_certificate(store, root, CertificateRole.V2G_ROOT)
    keystore.save(fingerprint, key)
    log.info("imported CPO Sub-CA 2 %s", sub2.subject.rfc4514_string())
    return ImportResult(sub2, sub1, root)
