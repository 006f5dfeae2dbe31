"""Issue certificates from CSRs: SECC leaves (ISO 15118, signed by CPO Sub-CA 2) and charging
station TLS client certificates (OCPP security profile 3, signed by the CSMS CA).

Every check that fails raises ``CsrRejected`` with a reason code; nothing is "fixed up" silently.
The certificate's subject is the CSR's subject, after the checks proved it is the right one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from . import profiles as P
from .errors import CsrRejected, IssuerUnavailable
from .hierarchy import SigningAuthority, load_authority
from .identifiers import is_secc_common_name, normalise_id
from .keys import MIN_RSA_BITS, KeyStore, KeyType, describe_key, key_type
from .roles import CertificateRole
from .settings import PkiSettings
from .store import CertificateStore, record_certificate

log = logging.getLogger(__name__)


class CertificateKind(StrEnum):
    V2G = "v2g"
    STATION = "station"


_PROFILE = {CertificateKind.V2G: P.SECC_LEAF, CertificateKind.STATION: P.CHARGING_STATION}
_CA_ROLE = {CertificateKind.V2G: CertificateRole.CPO_SUB_CA2,
            CertificateKind.STATION: CertificateRole.CSMS_ROOT}
_ALLOWED_CSR_HASHES = {
    CertificateKind.V2G: (hashes.SHA256,),
    CertificateKind.STATION: (hashes.SHA256, hashes.SHA384, hashes.SHA512),
}


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: x509.Certificate
    #: Leaf first, then the intermediates; the root is left out (the charger has it).
    chain: tuple[x509.Certificate, ...] = field(repr=False)
    fingerprint: str

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)


def parse_csr(data: bytes | str) -> x509.CertificateSigningRequest:
    raw = data.encode() if isinstance(data, str) else bytes(data)
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_csr(raw)
        return x509.load_der_x509_csr(raw)
    except ValueError as exc:
        raise CsrRejected("csr_malformed", "the CSR could not be parsed as PKCS#10") from exc


def _single(name: x509.Name, oid: x509.ObjectIdentifier, label: str) -> str | None:
    values = P.name_values(name, oid)
    if len(values) > 1:
        raise CsrRejected("subject_attribute_repeated", f"the subject has {len(values)} {label}")
    return values[0] if values else None


def check_csr_crypto(csr: x509.CertificateSigningRequest, kind: CertificateKind) -> None:
    """Signature hash, signature, key type/curve/size, and the extension request."""
    profile = _PROFILE[kind]
    try:
        algorithm = csr.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if not isinstance(algorithm, _ALLOWED_CSR_HASHES[kind]):
        name = (algorithm.name if algorithm is not None
                else csr.signature_algorithm_oid.dotted_string)
        raise CsrRejected("signature_algorithm_not_allowed",
                          f"the CSR is signed with {name}; {profile.name} requires "
                          + "/".join(h.name.upper() for h in _ALLOWED_CSR_HASHES[kind]))
    try:
        signature_ok = csr.is_signature_valid
    except Exception as exc:  # unsupported algorithms surface here
        raise CsrRejected("csr_signature_invalid", f"the CSR signature cannot be checked: {exc}"
                          ) from exc
    if not signature_ok:
        raise CsrRejected("csr_signature_invalid", "the CSR signature does not verify")
    try:
        public_key = csr.public_key()
    except Exception as exc:
        raise CsrRejected("key_type_not_allowed", "the CSR's public key type is not supported"
                          ) from exc
    ktype = key_type(public_key)
    if ktype is None or ktype not in profile.key_types:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            allowed = ", ".join(sorted(k.value for k in profile.key_types if k != KeyType.RSA))
            raise CsrRejected("curve_not_allowed",
                              f"curve {public_key.curve.name} is not allowed here ({allowed})")
        raise CsrRejected("key_type_not_allowed",
                          f"{describe_key(public_key)} keys are not allowed for {profile.name} "
                          "certificates")
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        raise CsrRejected("rsa_key_too_small",
                          f"RSA key of {public_key.key_size} bits; at least {MIN_RSA_BITS}")
    try:
        requested = csr.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise CsrRejected("csr_malformed", f"the CSR's extension request is invalid: {exc}"
                          ) from exc
    for ext in requested:
        if isinstance(ext.value, x509.BasicConstraints) and ext.value.ca:
            raise CsrRejected("ca_requested", "the CSR asks for a CA certificate")


class CertificateIssuer:
    """Signs CSRs with the hub's CAs. Build once (``load``) and reuse: loading decrypts keys."""

    def __init__(self, store: CertificateStore, settings: PkiSettings,
                 authorities: dict[CertificateKind, SigningAuthority]) -> None:
        self.store = store
        self.settings = settings
        self.authorities = dict(authorities)

    @classmethod
    async def load(cls, store: CertificateStore, keystore: KeyStore,
                   settings: PkiSettings) -> CertificateIssuer:
        authorities = {}
        for kind, role in _CA_ROLE.items():
            authority = await load_authority(store, keystore, role)
            if authority is not None:
                authorities[kind] = authority
        return cls(store, settings, authorities)

    async def check_subject(self, csr: x509.CertificateSigningRequest, kind: CertificateKind,
                            station_id: str | None) -> str:
        """Check CN/O/DC against the rules and the station; returns the CN.

        With a ``station_id`` the CN must be a name the operator provisioned for that station
        (``store.station_identities``): its id for a station certificate; for a V2G (SECC)
        certificate one of its SECC IDs or the EvseIDs of its ports (unless the operator
        turned ``require_station_binding`` off)."""
        subject = csr.subject
        cn = _single(subject, NameOID.COMMON_NAME, "common names")
        org = _single(subject, NameOID.ORGANIZATION_NAME, "organisations")
        dc = _single(subject, NameOID.DOMAIN_COMPONENT, "domain components")
        if not cn:
            raise CsrRejected("subject_cn_missing", "the subject has no common name (CN)")
        if kind is CertificateKind.V2G:
            if not is_secc_common_name(cn):
                raise CsrRejected("subject_cn_syntax",
                                  f"CN {cn!r} is neither an EVSE ID nor a SECC ID")
            if org != self.settings.cpo_name:
                raise CsrRejected("subject_o_mismatch",
                                  f"O must be {self.settings.cpo_name!r}, got {org!r}")
            if dc != P.SECC_LEAF.domain_component:
                raise CsrRejected("subject_dc_mismatch", f"DC must be 'CPO', got {dc!r}")
            if station_id is not None and self.settings.require_station_binding:
                known = await self.store.station_identities(station_id)
                if known is None:
                    raise CsrRejected("unknown_station", f"station {station_id!r} is unknown")
                if normalise_id(cn) not in {normalise_id(i) for i in known}:
                    raise CsrRejected("subject_cn_not_station",
                                      f"CN {cn!r} is not an EVSE/SECC ID of station "
                                      f"{station_id!r}")
        else:
            wanted = self.settings.organization_for_stations
            if org != wanted:
                raise CsrRejected("subject_o_mismatch", f"O must be {wanted!r}, got {org!r}")
            # Security profile 3 admits a TLS client certificate whose CN is the station id,
            # so a station's certificate carries its own id and nothing else: not a serial
            # number it reported, which could be another station's id.
            if station_id is not None and cn != station_id:
                raise CsrRejected("subject_cn_not_station",
                                  f"CN {cn!r} is not the identity of station {station_id!r}")
        return cn

    async def issue_from_csr(self, csr_data: bytes | str | x509.CertificateSigningRequest, *,
                             kind: CertificateKind | str = CertificateKind.V2G,
                             station_id: str | None = None,
                             now: dt.datetime | None = None) -> IssuedCertificate:
        """Check the CSR and sign it. ``station_id=None`` means an operator issues by hand: the
        subject rules still apply, the binding to a station's identifiers does not."""
        kind = CertificateKind(kind)
        csr = (csr_data if isinstance(csr_data, x509.CertificateSigningRequest)
               else parse_csr(csr_data))
        check_csr_crypto(csr, kind)
        cn = await self.check_subject(csr, kind, station_id)
        authority = self.authorities.get(kind)
        if authority is None:
            raise IssuerUnavailable("no_issuer",
                                    f"no {_CA_ROLE[kind].value} with its key is configured "
                                    "(run 'pki init-dev' or 'pki import')")
        profile = _PROFILE[kind]
        days = (self.settings.secc_validity_days if kind is CertificateKind.V2G
                else self.settings.station_validity_days)
        start = (now or dt.datetime.now(dt.UTC)) - P.BACKDATE
        certificate = P.build_certificate(
            profile, csr.subject, csr.public_key(),  # type: ignore[arg-type]
            issuer_certificate=authority.certificate, issuer_key=authority.key,
            not_before=start, not_after=start + P.BACKDATE + dt.timedelta(days=days),
            ocsp_url=self.settings.ocsp_url,
        )
        fingerprint = await record_certificate(self.store, certificate, profile.role, station_id)
        log.info("issued %s certificate serial %x for CN %s (station %s)", kind.value,
                 certificate.serial_number, cn, station_id)
        chain = (certificate, *P.chain_without_root(authority.path()))
        return IssuedCertificate(certificate, chain, fingerprint)
