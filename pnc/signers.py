"""Who signs a station's CSR: the hub's own CAs (``certs``), or Hubject's EST for V2G.

Both give the chain leaf first, root excluded, and record the leaf in the certificate store
under the station, so renewals, the inventory and the OCSP responder know it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from certs.errors import IssuerUnavailable
from certs.issuing import CertificateIssuer, CertificateKind
from certs.keys import public_key_der
from certs.roles import CertificateRole
from certs.store import CertificateStore, record_certificate
from pnc.opcp import EstClient, OpcpError


@dataclass(frozen=True)
class SignedChain:
    certificate: x509.Certificate
    #: Leaf first, then the sub-CAs; no root.
    chain: tuple[x509.Certificate, ...]
    fingerprint: str

    def pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)


class SignerError(Exception):
    def __init__(self, reason: str, message: str, *, transient: bool) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.transient = transient


class LocalSigner:
    name = "local"

    def __init__(self, issuer: CertificateIssuer) -> None:
        self.issuer = issuer

    def can_sign(self, kind: CertificateKind) -> bool:
        return kind in self.issuer.authorities

    async def sign(self, csr: x509.CertificateSigningRequest, kind: CertificateKind,
                   station_id: str) -> SignedChain:
        try:
            issued = await self.issuer.issue_from_csr(csr, kind=kind, station_id=station_id)
        except IssuerUnavailable as exc:
            raise SignerError(exc.reason, exc.message, transient=False) from exc
        return SignedChain(issued.certificate, issued.chain, issued.fingerprint)


def order_chain(leaf: x509.Certificate,
                candidates: list[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """Leaf, then each issuer found among ``candidates``; self-signed roots left out."""
    chain = [leaf]
    pool = [c for c in candidates if c != leaf and c.issuer != c.subject]
    current = leaf
    while True:
        issuer = None
        for candidate in pool:
            if candidate.subject != current.issuer:
                continue
            try:
                current.verify_directly_issued_by(candidate)
            except (InvalidSignature, ValueError, TypeError):
                continue
            issuer = candidate
            break
        if issuer is None:
            return tuple(chain)
        chain.append(issuer)
        pool.remove(issuer)
        current = issuer


class EstSigner:
    """V2G certificates from Hubject's EST; other kinds are left to the local signer."""

    name = "est"

    def __init__(self, est: EstClient, store: CertificateStore) -> None:
        self.est = est
        self.store = store

    def can_sign(self, kind: CertificateKind) -> bool:
        return kind is CertificateKind.V2G

    async def sign(self, csr: x509.CertificateSigningRequest, kind: CertificateKind,
                   station_id: str) -> SignedChain:
        der = csr.public_bytes(serialization.Encoding.DER)
        try:
            certs = await self.est.simple_enroll(der)
        except OpcpError as exc:
            raise SignerError(exc.reason, exc.message, transient=exc.transient) from exc
        wanted = public_key_der(csr.public_key())  # type: ignore[arg-type]
        leaf = next((c for c in certs if public_key_der(c.public_key()) == wanted), None)
        if leaf is None:
            raise SignerError("est_wrong_certificate",
                              "the EST answer holds no certificate for the CSR's key",
                              transient=False)
        if leaf.subject != csr.subject:
            raise SignerError("est_wrong_subject",
                              f"EST issued {leaf.subject.rfc4514_string()} for "
                              f"{csr.subject.rfc4514_string()}", transient=False)
        chain = order_chain(leaf, certs)
        if len(chain) < 2:
            try:
                chain = order_chain(leaf, [*certs, *await self.est.ca_certs()])
            except OpcpError as exc:
                raise SignerError(exc.reason, exc.message, transient=exc.transient) from exc
        fingerprint = await record_certificate(self.store, leaf, CertificateRole.SECC,
                                               station_id)
        return SignedChain(leaf, chain, fingerprint)
