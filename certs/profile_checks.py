"""ISO 15118 and OCPP profile rules for certificate chains, as the validator applies them
after cryptography's verifier has built and verified a path.

Each check returns ``(reason, message)`` for the first violation or None; the reasons end up in
``ValidationResult.reason`` next to OCPP's CertChainError.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import profiles as P
from .identifiers import is_emaid, is_pcid
from .keys import KeyType, key_type


class ValidationUse(StrEnum):
    """What a chain is validated for: picks the trust anchors and the leaf profile."""

    SECC = "secc"
    CONTRACT = "contract"
    OEM_PROVISIONING = "oem_provisioning"
    CHARGING_STATION = "charging_station"


LEAF_PROFILE: dict[ValidationUse, P.Profile] = {
    ValidationUse.SECC: P.SECC_LEAF,
    ValidationUse.CONTRACT: P.CONTRACT,
    ValidationUse.OEM_PROVISIONING: P.OEM_PROVISIONING,
    ValidationUse.CHARGING_STATION: P.CHARGING_STATION,
}
#: keyUsage bits a leaf must have (others may be present; keyCertSign never).
REQUIRED_LEAF_USAGE: dict[ValidationUse, frozenset[str]] = {
    ValidationUse.SECC: frozenset({"digital_signature", "key_agreement"}),
    ValidationUse.CONTRACT: frozenset({"digital_signature"}),
    ValidationUse.OEM_PROVISIONING: frozenset({"digital_signature"}),
    ValidationUse.CHARGING_STATION: frozenset({"digital_signature"}),
}


def _basic_constraints(cert: x509.Certificate) -> x509.Extension[x509.BasicConstraints] | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return None


def check_leaf(leaf: x509.Certificate, use: ValidationUse) -> tuple[str, str] | None:
    """Profile rules for the end entity. Returns (reason, message) or None."""
    profile = LEAF_PROFILE[use]
    ktype = key_type(leaf.public_key())
    if ktype not in profile.key_types:
        return "leaf_key_type", f"the leaf key type is not allowed for {profile.name}"
    extensions = leaf.extensions
    bc = _basic_constraints(leaf)
    if profile.iso15118 and (bc is None or not bc.critical):
        return "leaf_basic_constraints", "the leaf needs a critical basicConstraints CA:false"
    if bc is not None and bc.value.ca:
        return "leaf_basic_constraints", "the leaf is a CA certificate"
    try:
        usage_ext = extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return "leaf_key_usage", "the leaf has no keyUsage"
    usage = P.key_usage_names(usage_ext.value)
    missing = REQUIRED_LEAF_USAGE[use] - usage
    if missing or "key_cert_sign" in usage:
        return ("leaf_key_usage",
                f"the leaf keyUsage {sorted(usage)} does not fit a {profile.name} certificate")
    subject = leaf.subject
    if profile.domain_component is not None:
        dcs = P.name_values(subject, NameOID.DOMAIN_COMPONENT)
        if dcs != [profile.domain_component]:
            return ("leaf_domain_component",
                    f"the leaf DC is {dcs}, a {profile.name} certificate has "
                    f"DC={profile.domain_component}")
    if use is ValidationUse.CONTRACT:
        cns = P.name_values(subject, NameOID.COMMON_NAME)
        if len(cns) != 1 or not is_emaid(cns[0]):
            return "contract_cn_not_emaid", f"the contract certificate CN {cns} is not an eMAID"
    if use is ValidationUse.OEM_PROVISIONING:
        cns = P.name_values(subject, NameOID.COMMON_NAME)
        if len(cns) != 1 or not is_pcid(cns[0]):
            return ("provisioning_cn_not_pcid",
                    f"the provisioning certificate CN {cns} is not a PCID")
    if use is ValidationUse.CHARGING_STATION:
        try:
            eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None
        if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            return "leaf_extended_key_usage", "the station certificate is not for TLS clients"
    if profile.iso15118 and not isinstance(leaf.signature_hash_algorithm, hashes.SHA256):
        return "iso_signature_algorithm", "the leaf is not signed with SHA-256"
    return None


def check_ca_path(chain: Sequence[x509.Certificate], use: ValidationUse) -> tuple[str, str] | None:
    """Profile rules for the CAs of a built chain (leaf first, anchor last): ISO 15118 allows
    at most two sub-CAs, with pathLen 0 next to the leaf and 1 above, all ECDSA P-256/SHA-256."""
    if not LEAF_PROFILE[use].iso15118:
        return None
    intermediates = chain[1:-1]
    if len(intermediates) > P.MAX_ISO_INTERMEDIATES:
        return ("iso_chain_too_long",
                f"{len(intermediates)} sub-CAs; ISO 15118 allows at most two")
    for depth, ca in enumerate(intermediates):
        ca_bc = _basic_constraints(ca)
        if ca_bc is None or not ca_bc.critical or ca_bc.value.path_length != depth:
            return ("iso_path_length",
                    f"{ca.subject.rfc4514_string()} must have a critical pathLen {depth}")
    for cert in chain[1:]:
        if key_type(cert.public_key()) is not KeyType.P256:
            return "iso_key_type", f"{cert.subject.rfc4514_string()} is not ECDSA P-256"
        if cert is not chain[-1] and not isinstance(cert.signature_hash_algorithm,
                                                    hashes.SHA256):
            return ("iso_signature_algorithm",
                    f"{cert.subject.rfc4514_string()} is not signed with SHA-256")
    return None


def check_profile(chain: Sequence[x509.Certificate],
                  use: ValidationUse) -> tuple[str, str] | None:
    """ISO 15118 / OCPP profile rules on a built chain (leaf first, anchor last).
    Returns (reason, message) for the first violation, None if all hold."""
    return check_leaf(chain[0], use) or check_ca_path(chain, use)
