"""SignCertificate: check the CSR before answering, sign it afterwards (the hub's CA or EST),
then deliver CertificateSigned; the last two run as a ``sign`` job (see ``pnc.jobs``).

A V2G CSR's CN must be one of the station's SECC IDs (the EvseIDs of its ports and the ids set
with ``pnc-hub station update ID --secc-id ...``); with ``--dev`` a station that has none may use
any CN of valid syntax.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.errors import CsrRejected
from certs.identifiers import is_secc_common_name
from certs.issuing import CertificateIssuer, CertificateKind, check_csr_crypto, parse_csr
from hub.ocpp_server.session import StationSession
from hub.services.notifications import record_notification
from pnc.signers import EstSigner, SignedChain, SignerError

if TYPE_CHECKING:
    from pnc.runtime import Pnc

log = logging.getLogger(__name__)


def kind_of(certificate_type: str | None) -> CertificateKind:
    return CertificateKind.V2G if certificate_type == "V2GCertificate" \
        else CertificateKind.STATION


def status_info(reason: str, message: str, code: str) -> dict[str, str]:
    return {"reasonCode": code[:20], "additionalInfo": f"{reason}: {message}"[:512]}


class Signing:
    def __init__(self, pnc: Pnc) -> None:
        self.pnc = pnc

    async def _binds(self, station_id: str, kind: CertificateKind) -> bool:
        """Whether the CN must be one of the station's identities (always, except a V2G CSR
        from a station without SECC IDs on a --dev hub)."""
        if kind is not CertificateKind.V2G or not self.pnc.hub.config.dev:
            return True
        identities = await self.pnc.store.station_identities(station_id) or []
        return any(is_secc_common_name(i) for i in identities)

    async def _issuer(self, station_id: str, kind: CertificateKind) -> CertificateIssuer:
        issuer = self.pnc.issuer
        if not await self._binds(station_id, kind):
            issuer = CertificateIssuer(issuer.store, issuer.settings.replace(
                require_station_binding=False), issuer.authorities)
        return issuer

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
        await (await self._issuer(station_id, kind)).check_subject(csr, kind, station_id)
        return csr

    async def sign(self, station_id: str, csr_pem: str, kind: CertificateKind) -> SignedChain:
        csr = parse_csr(csr_pem)
        if self.uses_est(kind):
            assert isinstance(self.pnc.est_signer, EstSigner)
            return await self.pnc.est_signer.sign(csr, kind, station_id)
        issuer = await self._issuer(station_id, kind)
        try:
            issued = await issuer.issue_from_csr(csr, kind=kind, station_id=station_id)
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
        return {"status": "Rejected",
                "statusInfo": status_info(exc.reason, exc.message, "InvalidCSR")}
    csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    job_id = await pnc.jobs.open_sign_job(session.id, csr_pem, certificate_type)
    await record_notification(pnc.hub, session.id, "SignCertificate", "Accepted",
                              detail=json.dumps({"certificateType": certificate_type,
                                                 "job": job_id}))
    # CertificateSigned must follow the CALLRESULT of SignCertificate, not overtake it.
    session.after_answer(lambda: pnc.jobs.run_now(job_id))
    return {"status": "Accepted"}
