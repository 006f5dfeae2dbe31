"""What a stored certificate is for.

Values are OCPP's own names where OCPP has one (InstallCertificateUseEnumType,
CertificateSigningUseEnumType), so the hub can put them on the wire unchanged. They are plain
strings (``StrEnum``) because the storage interface passes them as ``str``.
"""

from __future__ import annotations

from enum import StrEnum


class CertificateRole(StrEnum):
    # Trust anchors, by use (OCPP InstallCertificateUseEnumType).
    V2G_ROOT = "V2GRootCertificate"
    MO_ROOT = "MORootCertificate"
    CSMS_ROOT = "CSMSRootCertificate"
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"
    OEM_ROOT = "OEMRootCertificate"
    # Intermediate CAs of the ISO 15118 hierarchies.
    CPO_SUB_CA1 = "CPOSubCA1"
    CPO_SUB_CA2 = "CPOSubCA2"
    MO_SUB_CA1 = "MOSubCA1"
    MO_SUB_CA2 = "MOSubCA2"
    OEM_SUB_CA1 = "OEMSubCA1"
    OEM_SUB_CA2 = "OEMSubCA2"
    # Delegated OCSP responder certificate of one of the hub's CAs.
    OCSP_SIGNER = "OCSPSigner"
    # End entities (OCPP CertificateSigningUseEnumType for the two the hub issues).
    SECC = "V2GCertificate"
    CHARGING_STATION = "ChargingStationCertificate"
    CONTRACT = "ContractCertificate"
    OEM_PROVISIONING = "OEMProvisioningCertificate"


ANCHOR_ROLES: frozenset[CertificateRole] = frozenset(
    {
        CertificateRole.V2G_ROOT,
        CertificateRole.MO_ROOT,
        CertificateRole.CSMS_ROOT,
        CertificateRole.MANUFACTURER_ROOT,
        CertificateRole.OEM_ROOT,
    }
)

#: Roles of certificates the hub itself issues from CSRs.
ISSUED_ROLES: frozenset[CertificateRole] = frozenset(
    {CertificateRole.SECC, CertificateRole.CHARGING_STATION}
)
