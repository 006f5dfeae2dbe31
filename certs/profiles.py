"""Certificate profiles of ISO 15118-2 (Annex F) and OCPP 2.0.1 part 2 (A00), and the one
function that turns a profile into a signed certificate.

A profile fixes everything that is not per-request: CA flag and path length, key usage, EKU, the
domain component, the key types allowed, and the validity. Both the issuer (to build) and the
validator (to check) read the same table, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .keys import KeyType, PrivateKey, PublicKey, signature_hash
from .roles import CertificateRole

ISO_KEY_TYPES = frozenset({KeyType.P256})
#: ISO 15118-20 certificates: ECDSA secp521r1 with SHA-512, or Ed448.
ISO20_KEY_TYPES = frozenset({KeyType.P521, KeyType.ED448})
TLS_KEY_TYPES = frozenset({KeyType.P256, KeyType.P384, KeyType.RSA})

#: ISO 15118-2: at most two Sub-CAs between a root and a leaf.
MAX_ISO_INTERMEDIATES = 2

#: Issued certificates start slightly in the past: chargers' clocks drift, and a certificate that
#: is "not yet valid" for a few seconds breaks the TLS handshake it was issued for.
BACKDATE = dt.timedelta(minutes=5)

_KEY_USAGE_FIELDS = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
)


@dataclass(frozen=True)
class Profile:
    name: str
    role: CertificateRole
    ca: bool
    path_length: int | None
    key_usage: frozenset[str]
    key_types: frozenset[KeyType]
    validity: dt.timedelta
    domain_component: str | None = None
    extended_key_usage: tuple[x509.ObjectIdentifier, ...] = ()
    #: Put the issuing CA's OCSP responder URL into AIA (never on self-signed roots).
    ocsp_aia: bool = True
    #: id-pkix-ocsp-nocheck, for delegated OCSP responder certificates (RFC 6960 4.2.2.2.1).
    ocsp_nocheck: bool = False

    @property
    def iso15118(self) -> bool:
        return self.key_types == ISO_KEY_TYPES

    def key_usage_extension(self) -> x509.KeyUsage:
        flags = {name: name in self.key_usage for name in _KEY_USAGE_FIELDS}
        return x509.KeyUsage(**flags)


def key_usage_names(usage: x509.KeyUsage) -> frozenset[str]:
    names = set()
    for name in _KEY_USAGE_FIELDS:
        try:
            if getattr(usage, name):
                names.add(name)
        except ValueError:  # encipher_only/decipher_only raise unless key_agreement is set
            pass
    return frozenset(names)


_CA_USAGE = frozenset({"key_cert_sign", "crl_sign"})
_YEAR = dt.timedelta(days=365)


def _ca(name: str, role: CertificateRole, pathlen: int | None, years: int, dc: str | None,
        key_types: frozenset[KeyType] = ISO_KEY_TYPES) -> Profile:
    return Profile(name=name, role=role, ca=True, path_length=pathlen, key_usage=_CA_USAGE,
                   key_types=key_types, validity=years * _YEAR, domain_component=dc)


V2G_ROOT = _ca("V2G root", CertificateRole.V2G_ROOT, None, 40, "V2G")
CPO_SUB_CA1 = _ca("CPO Sub-CA 1", CertificateRole.CPO_SUB_CA1, 1, 4, "V2G")
CPO_SUB_CA2 = _ca("CPO Sub-CA 2", CertificateRole.CPO_SUB_CA2, 0, 2, "V2G")
SECC_LEAF = Profile(
    name="SECC leaf", role=CertificateRole.SECC, ca=False, path_length=None,
    key_usage=frozenset({"digital_signature", "key_agreement"}), key_types=ISO_KEY_TYPES,
    validity=dt.timedelta(days=60), domain_component="CPO",
)
MO_ROOT = _ca("MO root", CertificateRole.MO_ROOT, None, 40, "MO")
MO_SUB_CA1 = _ca("MO Sub-CA 1", CertificateRole.MO_SUB_CA1, 1, 4, "MO")
MO_SUB_CA2 = _ca("MO Sub-CA 2", CertificateRole.MO_SUB_CA2, 0, 2, "MO")
CONTRACT = Profile(
    name="contract", role=CertificateRole.CONTRACT, ca=False, path_length=None,
    key_usage=frozenset({"digital_signature", "content_commitment", "key_encipherment",
                         "key_agreement"}),
    key_types=ISO_KEY_TYPES, validity=2 * _YEAR, domain_component="MO",
)
OEM_ROOT = _ca("OEM root", CertificateRole.OEM_ROOT, None, 40, "OEM")
OEM_SUB_CA1 = _ca("OEM Sub-CA 1", CertificateRole.OEM_SUB_CA1, 1, 4, "OEM")
OEM_SUB_CA2 = _ca("OEM Sub-CA 2", CertificateRole.OEM_SUB_CA2, 0, 2, "OEM")
OEM_PROVISIONING = Profile(
    name="OEM provisioning", role=CertificateRole.OEM_PROVISIONING, ca=False, path_length=None,
    key_usage=frozenset({"digital_signature", "key_agreement"}), key_types=ISO_KEY_TYPES,
    validity=4 * _YEAR, domain_component="OEM",
)
CSMS_ROOT = _ca("CSMS root", CertificateRole.CSMS_ROOT, 0, 10, None, TLS_KEY_TYPES)
CHARGING_STATION = Profile(
    name="charging station", role=CertificateRole.CHARGING_STATION, ca=False, path_length=None,
    key_usage=frozenset({"digital_signature"}), key_types=TLS_KEY_TYPES,
    validity=_YEAR, extended_key_usage=(ExtendedKeyUsageOID.CLIENT_AUTH,),
)
OCSP_SIGNER = Profile(
    name="OCSP signer", role=CertificateRole.OCSP_SIGNER, ca=False, path_length=None,
    key_usage=frozenset({"digital_signature"}), key_types=TLS_KEY_TYPES,
    validity=dt.timedelta(days=90), extended_key_usage=(ExtendedKeyUsageOID.OCSP_SIGNING,),
    ocsp_aia=False, ocsp_nocheck=True,
)

def iso15118_20(profile: Profile) -> Profile:
    """The ISO 15118-20 form of an ISO 15118 profile: the same extensions, -20 key types."""
    if not profile.iso15118:
        raise ValueError(f"{profile.name} is not an ISO 15118 profile")
    return dataclasses.replace(profile, name=f"{profile.name} (ISO 15118-20)",
                               key_types=ISO20_KEY_TYPES)


PROFILES: dict[CertificateRole, Profile] = {
    p.role: p
    for p in (V2G_ROOT, CPO_SUB_CA1, CPO_SUB_CA2, SECC_LEAF, MO_ROOT, MO_SUB_CA1, MO_SUB_CA2,
              CONTRACT, OEM_ROOT, OEM_SUB_CA1, OEM_SUB_CA2, OEM_PROVISIONING, CSMS_ROOT,
              CHARGING_STATION, OCSP_SIGNER)
}


def build_name(common_name: str, organization: str | None, country: str | None = None,
               domain_component: str | None = None) -> x509.Name:
    """CN, O, C, DC in the order ISO 15118 examples use."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if domain_component:
        attrs.append(x509.NameAttribute(NameOID.DOMAIN_COMPONENT, domain_component))
    return x509.Name(attrs)


def name_values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attr.value) for attr in name.get_attributes_for_oid(oid)]


def build_certificate(
    profile: Profile,
    subject: x509.Name,
    public_key: PublicKey,
    *,
    issuer_certificate: x509.Certificate | None,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ocsp_url: str | None = None,
    serial_number: int | None = None,
) -> x509.Certificate:
    """Sign a certificate for ``profile``. ``issuer_certificate=None`` means self-signed."""
    if issuer_certificate is not None:
        # A certificate never outlives its issuer (ISO 15118-2 and RFC 5280 practice).
        not_after = min(not_after, issuer_certificate.not_valid_after_utc)
    issuer_name = issuer_certificate.subject if issuer_certificate is not None else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        # 159 random bits: well above the 64 bits CA/B and ISO 15118 practice ask for.
        .serial_number(serial_number if serial_number is not None
                       else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=profile.ca, path_length=profile.path_length),
                       critical=True)
        .add_extension(profile.key_usage_extension(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer_certificate is not None:
        builder = builder.add_extension(
            _authority_key_identifier(issuer_certificate), critical=False
        )
    if profile.extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(profile.extended_key_usage)), critical=False
        )
    if profile.ocsp_nocheck:
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
    if ocsp_url and profile.ocsp_aia and issuer_certificate is not None:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess([
                x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                       x509.UniformResourceIdentifier(ocsp_url)),
            ]),
            critical=False,
        )
    return builder.sign(issuer_key, signature_hash(issuer_key))


def _authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def ocsp_urls(certificate: x509.Certificate) -> list[str]:
    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return []
    return [
        str(desc.access_location.value)
        for desc in aia.value
        if desc.access_method == x509.AuthorityInformationAccessOID.OCSP
        and isinstance(desc.access_location, x509.UniformResourceIdentifier)
    ]


def chain_without_root(chain: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Drop self-signed roots: chargers already hold them and OCPP sends the sub-CAs only."""
    return [c for c in chain if c.issuer != c.subject]
