"""certs: the PKI of pnc-hub for ISO 15118 Plug&Charge and OCPP security profile 3.

A pure library: it imports nothing of the project. The hub provides storage by implementing
``certs.store.CertificateStore`` on its database and mounts ``certs.cli`` and the OCSP routes.
"""

from .errors import (
    CsrRejected,
    HashDataError,
    ImportRejected,
    IssuerUnavailable,
    OcspError,
    PkiError,
)
from .roles import CertificateRole
from .settings import PkiSettings

__all__ = [
    "CertificateRole",
    "CsrRejected",
    "HashDataError",
    "ImportRejected",
    "IssuerUnavailable",
    "OcspError",
    "PkiError",
    "PkiSettings",
]
