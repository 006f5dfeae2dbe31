"""SignCertificate: check the CSR before answering, sign it afterwards (the hub's CA or EST),
then deliver CertificateSigned; the last two run as a ``sign`` job (see ``pnc.jobs``).

The CN must be a name the operator provisioned for the station asking (see
``hub.certificate_store.DatabaseCertificateStore.station_identities``): a station certificate
carries the station's id; a V2G certificate one of its SECC IDs (``pnc-hub station update ID
--secc-id ...``) or an EvseID of its ports. ``--dev`` changes nothing here: a dev hub accepts
unknown stations, and that must not let one of them name itself after another station. A
refused CSR is answered Rejected and recorded as a ``CsrRejected`` security event.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.errors import CsrRejected
from certs.issuing import CertificateKind, check_csr_crypto, parse_csr
from hub.feature_api import StationSession
from hub.services.notifications import record_notification
from hub.services.security_events import record_security_event
from pnc.signers import EstSigner, SignedChain, SignerError

if TYPE_CHECKING:
    from pnc.runtime import Pnc

log = logging.getLogger(__name__)


def kind_of(certificate_type: str | None) -> CertificateKind:
    return CertificateKind.V2G if certificate_type == "V2GCertificate" \
        else CertificateKind.STATION


def status_info(reason: str, message: str, code: str) -> dict[str, str]:
    return {"reasonCode": code[:20], "additionalInfo": f"{reason}: {message}"[:512]}


def _subject_of(csr_text: Any) -> str | None:
    """The subject the CSR asked for, for the security event (None if it cannot be read)."""
    try:
        return parse_csr(csr_text).subject.rfc4514_string()[:200]
    except Exception:  # malformed CSRs are refused before; this is only a description
        return None


class Signing:
    def __init__(self, pnc: Pnc) -> None:
        self.pnc = pnc

    def uses_est(self, kind: CertificateKind) -> bool:
        return kind is CertificateKind.V2G and self.pnc.est_signer is not None

    async def check(self, station_id: str, csr_text: str,
                    kind: CertificateKind) -> x509.CertificateSigningRequest:
        """Everything that decides Accepted or Rejected; raises CsrRejected with the reason."""
        csr = parse_csr(csr_text)
        check_csr_crypto(csr, kind)
        if not self.uses_est(kind) and kind not in self.pnc.issuer.authorities:
            raise CsrRejected("no_issuer", f"the hub holds no CA for {kind.value} certificates "
                              "(pnc-hub pki init-dev or pki import)")
        await self.pnc.issuer.check_subject(csr, kind, station_id)
        return csr

    async def sign(self, station_id: str, csr_pem: str, kind: CertificateKind) -> SignedChain:
        csr = parse_csr(csr_pem)
        if self.uses_est(kind):
            assert isinstance(self.pnc.est_signer, EstSigner)
            return await self.pnc.est_signer.sign(csr, kind, station_id)
        try:
            issued = await self.pnc.issuer.issue_from_csr(csr, kind=kind, station_id=station_id)
        except CsrRejected as exc:
            raise SignerError(exc.reason, exc.message, transient=False) from exc
        except Exception as exc:  # IssuerUnavailable, a key that cannot be read
            raise SignerError(getattr(exc, "reason", "issuer_failed"), str(exc),
                              transient=False) from exc
        return SignedChain(issued.certificate, issued.chain, issued.fingerprint)


async def sign_certificate(pnc: Pnc, session: StationSession, payload: dict[str, Any], *,
                           default_type: str) -> dict[str, Any]:
    """The version-independent SignCertificate: a 2.0.1 payload in, a 2.0.1 answer out."""
    certificate_type = payload.get("certificateType") or default_type
    kind = kind_of(certificate_type)
    try:
        csr = await pnc.signing.check(session.id, payload["csr"], kind)
    except CsrRejected as exc:
        log.info("%s: %s CSR rejected: %s", session.id, certificate_type, exc)
        await record_notification(pnc.hub, session.id, "SignCertificate", "Rejected",
                                  detail={"certificateType": certificate_type,
                                          "reason": exc.reason, "message": exc.message})
        await record_security_event(pnc.hub, session.id, "CsrRejected", exc.reason, {
            "certificateType": certificate_type, "message": exc.message,
            "subject": _subject_of(payload.get("csr"))})
        return {"status": "Rejected",
                "statusInfo": status_info(exc.reason, exc.message, "InvalidCSR")}
    csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    job_id = await pnc.jobs.open_sign_job(session.id, csr_pem, certificate_type)
    await record_notification(pnc.hub, session.id, "SignCertificate", "Accepted",
                              detail=json.dumps({"certificateType": certificate_type,
                                                 "job": job_id}))
    # CertificateSigned must follow the CALLRESULT of SignCertificate, not overtake it.
    session.after_answer(lambda: pnc.jobs.run_soon(job_id))
    return {"status": "Accepted"}
