"""Chain validation: cryptography's X.509 verifier (with explicit extension policies, because
ISO 15118 leaves have no SAN) plus the ISO 15118 profile checks, then OCSP; the outcome is mapped
to OCPP's AuthorizeCertificateStatus with a machine-readable reason.

The verifier runs first because it is the authority and the fast path. Only when it refuses do we
walk the chain ourselves to tell a bad signature from an expired certificate from a broken chain.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    ClientVerifier,
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from . import profiles as P
from .errors import OcspError
from .hashdata import compute_cert_id
from .identifiers import normalise_id
from .ocsp_client import OcspCertStatus, OcspClient, OcspStatus
from .profile_checks import ValidationUse, check_ca_path, check_leaf, check_profile
from .roles import CertificateRole
from .store import CertificateStore, load_record_certificate


class AuthorizeCertificateStatus(StrEnum):
    """OCPP 2.0.1 AuthorizeCertificateStatusEnumType."""

    ACCEPTED = "Accepted"
    SIGNATURE_ERROR = "SignatureError"
    CERTIFICATE_EXPIRED = "CertificateExpired"
    CERTIFICATE_REVOKED = "CertificateRevoked"
    NO_CERTIFICATE_AVAILABLE = "NoCertificateAvailable"
    CERT_CHAIN_ERROR = "CertChainError"
    CONTRACT_CANCELLED = "ContractCancelled"


#: Trust anchors by use. Contract and provisioning chains may end at an MO/OEM root or at a V2G
#: root (ISO 15118-2 allows both).
ANCHOR_ROLES: dict[ValidationUse, tuple[CertificateRole, ...]] = {
    ValidationUse.SECC: (CertificateRole.V2G_ROOT,),
    ValidationUse.CONTRACT: (CertificateRole.MO_ROOT, CertificateRole.V2G_ROOT),
    ValidationUse.OEM_PROVISIONING: (CertificateRole.OEM_ROOT, CertificateRole.V2G_ROOT),
    ValidationUse.CHARGING_STATION: (CertificateRole.CSMS_ROOT,),
}
class RevocationState(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    UNAVAILABLE = "unavailable"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class RevocationCheck:
    certificate: x509.Certificate
    state: RevocationState
    detail: str = ""

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()


@dataclass(frozen=True)
class ValidationResult:
    status: AuthorizeCertificateStatus
    reason: str
    message: str
    chain: tuple[x509.Certificate, ...] = ()
    revocation: tuple[RevocationCheck, ...] = ()
    #: The contract certificate's eMAID, normalised (contract use only).
    emaid: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is AuthorizeCertificateStatus.ACCEPTED


S = AuthorizeCertificateStatus


def _fail(status: AuthorizeCertificateStatus, reason: str, message: str,
          chain: Sequence[x509.Certificate] = ()) -> ValidationResult:
    return ValidationResult(status, reason, message, tuple(chain))


_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.S)


@lru_cache(maxsize=4096)
def _load_intermediate(block: bytes) -> x509.Certificate:
    # Sub-CA certificates arrive again with every leaf they issued; parsing is pure, so the
    # parsed object is reused. Leaves are always parsed afresh.
    return x509.load_pem_x509_certificate(block)


def parse_chain(data: str | bytes | Sequence[bytes | x509.Certificate]) -> list[x509.Certificate]:
    """PEM text with one or more certificates (leaf first), one DER blob, or a list of either."""
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes | bytearray):
        raw = bytes(data)
        if not raw.strip():
            return []
        if b"-----BEGIN" in raw:
            blocks = _PEM_BLOCK.findall(raw)
            if not blocks or len(blocks) != raw.count(b"-----BEGIN"):
                return x509.load_pem_x509_certificates(raw)  # other labels: the slow way
            return [x509.load_pem_x509_certificate(blocks[0]),
                    *(_load_intermediate(b) for b in blocks[1:])]
        return [x509.load_der_x509_certificate(raw)]
    out = []
    for item in data:
        out.extend([item] if isinstance(item, x509.Certificate) else parse_chain(item))
    return out


def _ee_policy() -> ExtensionPolicy:
    # Explicit end-entity policy: the webpki default demands a SAN (ISO leaves have none) and a
    # serverAuth/clientAuth EKU (ISO leaves have none). Structurally we require a keyUsage;
    # its bits and basicConstraints (CA:false; present and critical for ISO 15118) are checked
    # by check_leaf, which runs on every path and names the exact problem. No Python callbacks
    # here: they would run on every verification.
    return (
        ExtensionPolicy.permit_all()
        .require_present(x509.KeyUsage, Criticality.AGNOSTIC, None)
        .may_be_present(x509.BasicConstraints, Criticality.AGNOSTIC, None)
    )


def diagnose(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
             anchors: Sequence[x509.Certificate], at: dt.datetime,
             ) -> tuple[tuple[AuthorizeCertificateStatus, str, str] | None, list[x509.Certificate]]:
    """Walk the chain by hand to name what the verifier refused. Returns the problem found (or
    None) and the path walked, leaf first (ending at an anchor when the walk got there)."""
    pool = [*intermediates, *anchors]
    current = leaf
    path = [leaf]
    for _ in range(10):
        label = current.subject.rfc4514_string()
        if at >= current.not_valid_after_utc:
            return (S.CERTIFICATE_EXPIRED, "expired",
                    f"{label} expired at {current.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z"), path
        if at < current.not_valid_before_utc:
            return (S.CERT_CHAIN_ERROR, "not_yet_valid",
                    f"{label} is valid from {current.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z"
                    ), path
        if current in anchors:
            return None, path
        if current.issuer == current.subject:
            return (S.CERT_CHAIN_ERROR, "untrusted_root", f"{label} is not a trusted root"), path
        issuers = [c for c in pool if c.subject == current.issuer and c is not current]
        if not issuers:
            return (S.CERT_CHAIN_ERROR, "issuer_not_found",
                    f"no trusted issuer {current.issuer.rfc4514_string()} for {label}"), path
        next_cert = None
        bad_signature = False
        for candidate in issuers:
            try:
                current.verify_directly_issued_by(candidate)
            except InvalidSignature:
                bad_signature = True
                continue
            except (ValueError, TypeError):
                continue
            next_cert = candidate
            break
        if next_cert is None:
            if bad_signature:
                return (S.SIGNATURE_ERROR, "signature_invalid",
                        f"the signature of {label} does not verify"), path
            return (S.CERT_CHAIN_ERROR, "issuer_not_found", f"no usable issuer for {label}"), path
        current = next_cert
        path.append(current)
    return (S.CERT_CHAIN_ERROR, "chain_too_long", "the chain does not end at an anchor"), path


#: Verified CA paths kept for the fast path; a CPO has a handful, MOs a few hundred at most.
MAX_CACHED_PATHS = 4096


@dataclass(frozen=True)
class _VerifiedPath:
    cas: tuple[x509.Certificate, ...]
    issuer_store: Store
    valid_from: dt.datetime
    valid_until: dt.datetime


class ChainValidator:
    """Validates chains against the trust anchors of each use. Build once, reuse; ``reload``
    after anchors change."""

    def __init__(self, anchors: Mapping[str, Sequence[x509.Certificate]], *,
                 ocsp: OcspClient | None = None, ocsp_failure_policy: str = "soft",
                 is_contract_cancelled: Callable[[str], Awaitable[bool]] | None = None) -> None:
        self.ocsp = ocsp
        self.ocsp_failure_policy = ocsp_failure_policy
        self.is_contract_cancelled = is_contract_cancelled
        self._ee_policy = _ee_policy()
        self._ca_policy = ExtensionPolicy.webpki_defaults_ca()
        self._set_anchors(anchors)

    def _set_anchors(self, anchors: Mapping[str, Sequence[x509.Certificate]]) -> None:
        self._paths: dict[tuple[ValidationUse, x509.Certificate], _VerifiedPath] = {}
        self._anchors: dict[ValidationUse, list[x509.Certificate]] = {}
        self._stores: dict[ValidationUse, Store] = {}
        for use, roles in ANCHOR_ROLES.items():
            certs = [c for role in roles for c in anchors.get(str(role), ())]
            self._anchors[use] = certs
            if certs:
                self._stores[use] = Store(certs)

    @staticmethod
    async def load_anchors(store: CertificateStore) -> dict[str, list[x509.Certificate]]:
        anchors: dict[str, list[x509.Certificate]] = {}
        for role in {r for roles in ANCHOR_ROLES.values() for r in roles}:
            records = await store.find_certificates(role=str(role))
            anchors[str(role)] = [load_record_certificate(r) for r in records
                                  if r.revoked_at is None]
        return anchors

    @classmethod
    async def from_store(cls, store: CertificateStore, **kwargs: object) -> ChainValidator:
        return cls(await cls.load_anchors(store), **kwargs)  # type: ignore[arg-type]

    async def reload(self, store: CertificateStore) -> None:
        self._set_anchors(await self.load_anchors(store))

    def validate_path(self, chain: str | bytes | Sequence[bytes | x509.Certificate],
                      use: ValidationUse | str, *,
                      at: dt.datetime | None = None) -> ValidationResult:
        """Chain building, signatures, validity and profile rules; no revocation check."""
        use = ValidationUse(use)
        at = at or dt.datetime.now(dt.UTC)
        try:
            certs = parse_chain(chain)
        except ValueError as exc:
            return _fail(S.CERT_CHAIN_ERROR, "certificate_malformed",
                         f"the certificate could not be parsed: {exc}")
        if not certs:
            return _fail(S.NO_CERTIFICATE_AVAILABLE, "no_certificate", "no certificate given")
        leaf, intermediates = certs[0], certs[1:]
        store = self._stores.get(use)
        if store is None:
            return _fail(S.CERT_CHAIN_ERROR, "no_trust_anchor",
                         f"no trust anchor installed for {use.value} certificates", certs)
        built = self._verify_with_known_path(leaf, intermediates, use, at)
        if built is not None:  # the CA path passed check_ca_path when it was remembered
            return self._finish(built, use, check_leaf(leaf, use))
        try:
            built = self._verifier(store, at).verify(leaf, intermediates).chain
        except VerificationError as exc:
            found, path = diagnose(leaf, intermediates, self._anchors[use], at)
            if found is not None:
                return _fail(*found, chain=path)
            problem = check_profile(path, use)
            if problem is not None:
                return _fail(S.CERT_CHAIN_ERROR, *problem, chain=path)
            return _fail(S.CERT_CHAIN_ERROR, "chain_rejected", str(exc), path)
        ca_problem = check_ca_path(built, use)
        if ca_problem is None:
            self._remember_path(built, use)
        return self._finish(built, use, check_leaf(leaf, use) or ca_problem)

    def _verifier(self, store: Store, at: dt.datetime) -> ClientVerifier:
        return (
            PolicyBuilder().store(store).time(at)
            .extension_policies(ca_policy=self._ca_policy, ee_policy=self._ee_policy)
            .build_client_verifier()
        )

    def _remember_path(self, built: Sequence[x509.Certificate], use: ValidationUse) -> None:
        """Keep the verified CA part of a chain (issuer .. anchor) for the next leaves."""
        if len(built) < 3:
            return
        if len(self._paths) >= MAX_CACHED_PATHS:
            self._paths.pop(next(iter(self._paths)))
        cas = tuple(built[1:])
        self._paths[(use, built[1])] = _VerifiedPath(
            cas, Store([built[1]]),
            max(c.not_valid_before_utc for c in cas), min(c.not_valid_after_utc for c in cas),
        )

    def _verify_with_known_path(self, leaf: x509.Certificate,
                                intermediates: Sequence[x509.Certificate], use: ValidationUse,
                                at: dt.datetime) -> list[x509.Certificate] | None:
        """Fast path: when the leaf's issuer heads a CA path the full verifier accepted before
        (same certificates, presented again; same anchors; ``at`` inside all their validity
        periods), only the leaf needs verifying, against that issuer. Anything else takes the
        full path."""
        for candidate in intermediates:
            # Dict lookup by certificate (hash of its DER) rather than comparing names, which
            # cryptography rebuilds on every access; a wrong candidate fails the verify below.
            known = self._paths.get((use, candidate))
            if known is None or not (known.valid_from <= at < known.valid_until):
                continue
            # Same outcome as the full path or none at all: the sender must have presented
            # every sub-CA of the remembered path, as the full verifier would need.
            if not all(ca in intermediates for ca in known.cas[:-1]):
                return None
            try:
                self._verifier(known.issuer_store, at).verify(leaf, [])
            except VerificationError:
                return None
            return [leaf, *known.cas]
        return None

    def _finish(self, built: Sequence[x509.Certificate], use: ValidationUse,
                problem: tuple[str, str] | None) -> ValidationResult:
        leaf = built[0]
        if problem is not None:
            return _fail(S.CERT_CHAIN_ERROR, *problem, chain=built)
        emaid = None
        if use is ValidationUse.CONTRACT:
            emaid = normalise_id(P.name_values(leaf.subject, NameOID.COMMON_NAME)[0])
        return ValidationResult(S.ACCEPTED, "ok", "certificate chain is valid", tuple(built),
                                emaid=emaid)

    async def validate(self, chain: str | bytes | Sequence[bytes | x509.Certificate],
                       use: ValidationUse | str, *, at: dt.datetime | None = None,
                       check_revocation: bool = True) -> ValidationResult:
        """``validate_path`` plus OCSP for every certificate below the anchor, plus the
        contract-cancelled hook for contract certificates."""
        result = self.validate_path(chain, use, at=at)
        if not result.accepted:
            return result
        checks: tuple[RevocationCheck, ...] = ()
        if check_revocation and self.ocsp is not None:
            checks = await self._revocation(result.chain)
            for check in checks:
                if check.state is RevocationState.REVOKED:
                    return ValidationResult(S.CERTIFICATE_REVOKED, "revoked",
                                            f"{check.subject} is revoked ({check.detail})",
                                            result.chain, checks)
                if check.state is RevocationState.UNKNOWN:
                    return ValidationResult(S.CERT_CHAIN_ERROR, "ocsp_unknown",
                                            f"the OCSP responder does not know {check.subject}",
                                            result.chain, checks)
                if check.state is RevocationState.UNAVAILABLE and \
                        self.ocsp_failure_policy == "hard":
                    return ValidationResult(S.CERT_CHAIN_ERROR, "ocsp_unavailable",
                                            f"no OCSP answer for {check.subject}: {check.detail}",
                                            result.chain, checks)
        if result.emaid and self.is_contract_cancelled is not None and \
                await self.is_contract_cancelled(result.emaid):
            return ValidationResult(S.CONTRACT_CANCELLED, "contract_cancelled",
                                    f"the contract {result.emaid} is cancelled", result.chain,
                                    checks, result.emaid)
        return ValidationResult(result.status, result.reason, result.message, result.chain,
                                checks, result.emaid)

    async def _revocation(self, chain: Sequence[x509.Certificate]) -> tuple[RevocationCheck, ...]:
        assert self.ocsp is not None
        checks: list[RevocationCheck | None] = []
        misses: list[tuple[int, x509.Certificate, x509.Certificate, str]] = []
        for index, cert in enumerate(chain[:-1]):  # the anchor is trusted by configuration
            urls = P.ocsp_urls(cert)
            if not urls:
                checks.append(RevocationCheck(cert, RevocationState.NOT_CHECKED, "no OCSP URL"))
                continue
            issuer = chain[index + 1]
            hit = self.ocsp.cached(compute_cert_id(cert, issuer))
            if hit is not None:
                checks.append(_to_check(cert, hit))
            else:
                checks.append(None)
                misses.append((index, cert, issuer, urls[0]))
        if misses:
            answers = await asyncio.gather(
                *(self.ocsp.check(cert, issuer, url=url) for _, cert, issuer, url in misses),
                return_exceptions=True,
            )
            for (index, cert, _, _), answer in zip(misses, answers, strict=True):
                if isinstance(answer, OcspStatus):
                    checks[index] = _to_check(cert, answer)
                elif isinstance(answer, OcspError):
                    checks[index] = RevocationCheck(cert, RevocationState.UNAVAILABLE,
                                                    f"{answer.reason}: {answer.message}")
                else:
                    raise answer
        return tuple(c for c in checks if c is not None)


def _to_check(cert: x509.Certificate, status: OcspStatus) -> RevocationCheck:
    if status.status is OcspCertStatus.REVOKED:
        return RevocationCheck(cert, RevocationState.REVOKED,
                               f"since {status.revoked_at}, reason {status.revocation_reason}")
    if status.status is OcspCertStatus.UNKNOWN:
        return RevocationCheck(cert, RevocationState.UNKNOWN, status.responder)
    return RevocationCheck(cert, RevocationState.GOOD, status.responder)
