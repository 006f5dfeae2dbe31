"""Exceptions of the PKI, each carrying a machine-readable reason code.

Callers (the OCPP handlers, the CLI) turn ``reason`` into a protocol status or an exit code and
show ``message`` to humans; nothing in this package rejects a request without saying why.
"""

from __future__ import annotations


class PkiError(Exception):
    """Base class: ``reason`` is a stable snake_case code, ``message`` a human sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class CsrRejected(PkiError):
    """A certificate signing request failed a check; nothing was issued."""


class IssuerUnavailable(PkiError):
    """No usable CA (certificate + key) is configured for the requested kind of certificate."""


class ImportRejected(PkiError):
    """A CA chain or key offered for import does not fit the profile or does not match."""


class OcspError(PkiError):
    """An OCSP exchange failed: transport, URL not allowed, or a response we cannot trust."""


class HashDataError(PkiError):
    """CertificateHashData could not be parsed."""
