"""The EV's contract: Authorize with a contract certificate (chain or hash data) and
Get15118EVCertificate (a new contract from the contract certificate pool).

Authorize follows OCPP 2.0.1 C07: the contract is validated first (chain to an MO or V2G root,
OCSP for every certificate below the root), then the eMAID is authorised like any idToken
(local tokens, then ``hub.remote_authorizers`` such as Hubject AuthorizeStart, which sends an
eMAID as PlugAndChargeIdentification). The answer carries ``idTokenInfo`` and
``certificateStatus``. An unreachable OCSP responder is a policy (``[pnc] ocsp_unreachable``):
"reject" answers CertChainError, "accept" goes on and records a PncOcspUnavailable warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509

from certs.errors import HashDataError, OcspError
from certs.hashdata import CertificateHashData, find_certificate_by_hash, parse_hash_data
from certs.hierarchy import issuer_chain
from certs.identifiers import normalise_id
from certs.ocsp_client import OcspCertStatus
from certs.profile_checks import ValidationUse
from certs.roles import CertificateRole
from certs.store import load_record_certificate
from certs.validation import AuthorizeCertificateStatus as S
from certs.validation import RevocationState, parse_chain
from hub.feature_api import StationSession, to_camel
from hub.services.authorization import authorize as authorize_token
from hub.services.id_tokens import id_token_info
from hub.services.notifications import record_notification
from pnc.ocsp_status import UNREACHABLE, find_ca
from pnc.opcp import OpcpError, namespace_for
from pnc.signing import status_info

if TYPE_CHECKING:
    from pnc.runtime import Pnc

log = logging.getLogger(__name__)

CONTRACT_ANCHORS = (str(CertificateRole.MO_ROOT), str(CertificateRole.V2G_ROOT))
#: certificateStatus -> idTokenInfo.status when the contract is not valid.
TOKEN_STATUS = {S.CERTIFICATE_REVOKED: "Blocked", S.CERTIFICATE_EXPIRED: "Expired"}


@dataclass(frozen=True)
class ContractCheck:
    status: S
    reason: str
    message: str
    emaid: str | None = None
    #: An OCSP responder could not be asked (the policy decides).
    ocsp_unavailable: str | None = None


def _unavailable(details: Sequence[str]) -> str | None:
    for detail in details:
        if detail.split(":", 1)[0] in UNREACHABLE:
            return detail
    return None


async def _store_chain(pnc: Pnc, leaf: x509.Certificate) -> list[x509.Certificate]:
    """The leaf's sub-CAs known to the store (anchors left out: the validator has them)."""
    return [c for c in await issuer_chain(pnc.store, leaf) if c.issuer != c.subject]


async def check_chain(pnc: Pnc, chain: list[x509.Certificate]) -> ContractCheck:
    if len(chain) == 1:
        chain = [chain[0], *await _store_chain(pnc, chain[0])]
    result = await pnc.validator.validate(chain, ValidationUse.CONTRACT)
    unavailable = [c.detail for c in result.revocation
                   if c.state is RevocationState.UNAVAILABLE]
    hard = [d for d in unavailable if d.split(":", 1)[0] not in UNREACHABLE]
    if result.accepted and hard:  # e.g. a responder URL off the allow-list
        return ContractCheck(S.CERT_CHAIN_ERROR, "ocsp_failed", hard[0], result.emaid)
    return ContractCheck(result.status, result.reason, result.message, result.emaid,
                         _unavailable(unavailable) if result.accepted else None)


async def _issuer_is_contract_anchor(pnc: Pnc, data: CertificateHashData) -> bool:
    issuer = await find_ca(pnc, data)
    if issuer is None:
        return False
    path = [issuer, *await issuer_chain(pnc.store, issuer)]
    return path[-1] in pnc.contract_anchors


async def check_hash_data(pnc: Pnc, entries: Sequence[dict[str, Any]]) -> ContractCheck:
    """Contract given as OCSPRequestData (leaf first, then its sub-CAs)."""
    try:
        parsed = [parse_hash_data(e)[0] for e in entries]
    except HashDataError as exc:
        return ContractCheck(S.CERT_CHAIN_ERROR, exc.reason, exc.message)
    record = await find_certificate_by_hash(pnc.store, parsed[0])
    if record is not None:  # the hub knows the certificate: validate it fully
        return await check_chain(pnc, [load_record_certificate(record)])
    # Otherwise: the chain must hang off a contract anchor the hub trusts, and every
    # certificate must be good according to its OCSP responder.
    if not any([await _issuer_is_contract_anchor(pnc, d) for d in parsed]):
        return ContractCheck(S.CERT_CHAIN_ERROR, "unknown_root",
                             "the contract's chain does not lead to a trusted MO or V2G root")
    unavailable = None
    for entry, data in zip(entries, parsed, strict=True):
        try:
            status = await pnc.ocsp.check_request_data(entry, issuer=await find_ca(pnc, data))
        except OcspError as exc:
            if exc.reason in UNREACHABLE:
                unavailable = unavailable or f"{exc.reason}: {exc.message}"
                continue
            return ContractCheck(S.CERT_CHAIN_ERROR, "ocsp_failed",
                                 f"{exc.reason}: {exc.message}")
        if status.status is OcspCertStatus.REVOKED:
            return ContractCheck(S.CERTIFICATE_REVOKED, "revoked",
                                 f"serial {data.serial_number} is revoked "
                                 f"({status.revocation_reason})")
        if status.status is OcspCertStatus.UNKNOWN:
            return ContractCheck(S.CERT_CHAIN_ERROR, "ocsp_unknown",
                                 f"the OCSP responder does not know serial {data.serial_number}")
    return ContractCheck(S.ACCEPTED, "ok", "every certificate is good", None, unavailable)


async def authorize(pnc: Pnc, session: StationSession, payload: dict[str, Any]
                    ) -> dict[str, Any]:
    id_token = payload["idToken"]
    token = id_token["idToken"]
    if payload.get("certificate"):
        try:
            check = await check_chain(pnc, parse_chain(payload["certificate"]))
        except ValueError as exc:
            check = ContractCheck(S.CERT_CHAIN_ERROR, "certificate_malformed", str(exc))
    else:
        check = await check_hash_data(pnc, payload["iso15118CertificateHashData"])
    detail: dict[str, Any] = {"idToken": token, "reason": check.reason,
                              "message": check.message}
    if check.ocsp_unavailable:
        detail["ocspUnavailable"] = check.ocsp_unavailable
        if pnc.settings.ocsp_unreachable == "reject":
            check = ContractCheck(S.CERT_CHAIN_ERROR, "ocsp_unavailable",
                                  check.ocsp_unavailable, check.emaid)
            detail.update(reason=check.reason, policy="reject")
        else:
            detail["policy"] = "accept"
        await record_notification(pnc.hub, session.id, "PncOcspUnavailable",
                                  "Rejected" if detail["policy"] == "reject" else "Accepted",
                                  detail=detail)
    if check.status is not S.ACCEPTED:
        await record_notification(pnc.hub, session.id, "Authorize", check.status.value,
                                  detail=detail)
        return {"idTokenInfo": {"status": TOKEN_STATUS.get(check.status, "Invalid")},
                "certificateStatus": check.status.value}
    if check.emaid and normalise_id(check.emaid) != normalise_id(token):
        await record_notification(pnc.hub, session.id, "Authorize", "Invalid", detail={
            **detail, "reason": "emaid_mismatch",
            "message": f"the contract certificate is for {check.emaid}"})
        return {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": check.status.value}
    auth = await authorize_token(pnc.hub, session.id, token)
    return {"idTokenInfo": to_camel(id_token_info(auth)),
            "certificateStatus": check.status.value}


async def get_15118_ev_certificate(pnc: Pnc, session: StationSession,
                                   payload: dict[str, Any]) -> dict[str, Any]:
    """Forward the EV's opaque CertificateInstallationReq to the contract certificate pool."""

    async def failed(reason: str, message: str) -> dict[str, Any]:
        await record_notification(pnc.hub, session.id, "Get15118EVCertificate", "Failed",
                                  detail={"reason": reason, "message": message,
                                          "action": payload.get("action")})
        return {"status": "Failed", "exiResponse": "",
                "statusInfo": status_info(reason, message, "ContractPoolFailed")}

    namespace = namespace_for(payload["iso15118SchemaVersion"])
    if namespace is None:
        return await failed("schema_unsupported", f"iso15118SchemaVersion "
                            f"{payload['iso15118SchemaVersion']!r} is not supported")
    if pnc.ccp is None:
        return await failed("no_contract_pool", "no contract certificate pool is configured "
                            "([pnc] ccp_url)")
    try:
        answer = await pnc.ccp.signed_contract_data(
            payload["exiRequest"], namespace,
            timeout=pnc.settings.ev_certificate_timeout_seconds)
    except OpcpError as exc:
        log.warning("%s: Get15118EVCertificate failed: %s", session.id, exc)
        return await failed(exc.reason, exc.message)
    if len(answer.exi_response) > 5600:  # the schema's limit for exiResponse
        return await failed("exi_too_large", "the pool's EXI answer exceeds 5600 characters")
    if not answer.found:
        # The pool's ISO 15118 negative answer still goes to the EV: it tells the car why.
        await record_notification(pnc.hub, session.id, "Get15118EVCertificate", "Failed",
                                  detail={"reason": "no_contract", "action": payload["action"]})
        return {"status": "Failed", "exiResponse": answer.exi_response}
    return {"status": "Accepted", "exiResponse": answer.exi_response}
