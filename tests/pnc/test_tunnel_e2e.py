"""Done-means of issue 7: a real `ocpp` 1.6 client playing an ISO 15118 charger completes the
whole Plug&Charge exchange over the DataTransfer tunnel."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
from cryptography.x509 import ocsp

from certs.hashdata import compute_hash_data
from certs.lifecycle import revoke
from certs.roles import CertificateRole as R
from tests.harness import wait_for
from tests.pnc.chargers import Wallet, connect
from tests.pnc.doubles import Opcp
from tests.pnc.harness import (
    add_id_tag,
    add_station,
    certificate,
    issue_contract,
    notifications,
    ocsp_request_data,
    pem,
    pnc_of,
)

SECC = "DE*PNC*E0001*1"
EMAID = "DEPNCC00000001"


def verify_chain(chain: list[Any], root: Any) -> None:
    for cert, issuer in zip(chain, [*chain[1:], root], strict=True):
        cert.verify_directly_issued_by(issuer)


async def api(running: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(
            method, running.http_url + path, json=body, headers=running.auth) as resp:
        return resp.status, await resp.json()


async def test_iso15118_charger_over_the_16_tunnel(pnc_hub_factory: Any, opcp: Opcp) -> None:
    opcp.contracts["EXIREQUEST=="] = "EXIRESPONSE=="
    running = await pnc_hub_factory(pnc=opcp.hub_settings())
    pnc = pnc_of(running)
    await add_station(running, "CP-PNC16", [SECC])
    await add_id_tag(running, EMAID)
    v2g_root, mo_root = await certificate(pnc, R.V2G_ROOT), await certificate(pnc, R.MO_ROOT)
    wallet = Wallet("CP-PNC16", SECC)
    async with connect(running, "CP-PNC16", wallet) as cp:
        await cp.boot()

        # SignCertificate -> Accepted, then CertificateSigned with a chain to the V2G root.
        assert await cp.sign_v2g() == ("Accepted", {"status": "Accepted"})
        await wait_for(lambda: "V2GCertificate" in wallet.chains)
        chain = wallet.chains["V2GCertificate"]
        assert len(chain) == 3 and chain[0].subject.rfc4514_string().startswith(
            "DC=CPO,C=DE,O=pnc-hub Test CPO,CN=DE*PNC*E0001*1")
        verify_chain(chain, v2g_root)
        # ...and the CertificateSigned came after the SignCertificate answer.
        sign_answer = cp.frames.index("result", 1)  # [0] is the boot answer
        assert cp.frames.index("call:DataTransfer/CertificateSigned") > sign_answer
        await wait_for(lambda: _job_states(running, "sign"), timeout=5)

        # InstallCertificate of the V2G and MO roots (from the trust store).
        for kind in ("V2GRootCertificate", "MORootCertificate"):
            status, body = await api(running, "POST", "/api/pnc/ocpp-certificates", {
                "operation": "install", "station_id": "CP-PNC16", "certificate_type": kind})
            assert status == 200, body
            assert [r["status"] for r in body["results"]] == ["Accepted"]
            assert body["results"][0]["transport"] == "tunnel"
        assert wallet.roots == {"V2GRootCertificate": [v2g_root],
                                "MORootCertificate": [mo_root]}

        # GetInstalledCertificateIds: the charger's hashes are the ones the hub computes.
        status, body = await api(running, "POST", "/api/pnc/ocpp-certificates", {
            "operation": "get", "station_id": "CP-PNC16"})
        assert status == 200 and body["status"] == "Accepted", body
        reported = {c["certificateType"]: c for c in
                    body["response"]["certificateHashDataChain"]}
        assert reported["V2GRootCertificate"]["certificateHashData"] == \
            compute_hash_data(v2g_root, v2g_root).to_ocpp()
        assert reported["MORootCertificate"]["certificateHashData"] == \
            compute_hash_data(mo_root, mo_root).to_ocpp()
        assert reported["V2GCertificateChain"]["certificateHashData"] == \
            compute_hash_data(chain[0], chain[1]).to_ocpp()
        assert body["missing"] == [] and body["unexpected"] == []

        # DeleteCertificate of the MO root; the inventory then misses it.
        status, body = await api(running, "POST", "/api/pnc/ocpp-certificates", {
            "operation": "delete", "station_id": "CP-PNC16",
            "fingerprint": _fingerprint(mo_root)})
        assert (status, body["status"]) == (200, "Accepted"), body
        assert wallet.roots["MORootCertificate"] == []
        status, view = await api(running, "GET", "/api/pnc/stations/CP-PNC16/certificates")
        assert status == 200
        assert [m["certificateType"] for m in view["missing"]] == ["MORootCertificate"]
        assert any(i["certificateType"] == "V2GCertificateChain" for i in view["installed"])

        # Get15118EVCertificate: forwarded to the contract certificate pool and answered.
        assert await cp.tunnel("Get15118EVCertificate", {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install",
            "exiRequest": "EXIREQUEST=="}) == ("Accepted", {"status": "Accepted",
                                                          "exiResponse": "EXIRESPONSE=="})
        sent = opcp.ccp_requests[-1]
        assert sent["body"] == {"certificateInstallationReq": "EXIREQUEST==",
                                "xsdMsgDefNamespace": "urn:iso:15118:2:2013:MsgDef"}
        assert sent["headers"]["Authorization"].startswith("Bearer ")

        # GetCertificateStatus for the SECC certificate: a valid OCSP answer.
        status, answer = await cp.tunnel("GetCertificateStatus", {
            "ocspRequestData": ocsp_request_data(chain[0], chain[1])})
        assert status == "Accepted" and answer["status"] == "Accepted", answer
        response = ocsp.load_der_ocsp_response(base64.b64decode(answer["ocspResult"]))
        assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
        assert response.serial_number == chain[0].serial_number

        # Authorize with contract hash data -> Accepted.
        contract = await issue_contract(pnc, EMAID)
        hashes = [ocsp_request_data(c, i) for c, i in zip(contract, [*contract[1:], mo_root],
                                                           strict=True)]
        status, answer = await cp.tunnel("Authorize", {
            "idToken": {"idToken": EMAID, "type": "eMAID"},
            "iso15118CertificateHashData": hashes})
        assert (status, answer) == ("Accepted", {"idTokenInfo": {"status": "Accepted"},
                                                 "certificateStatus": "Accepted"})

        # ...and -> revoked for a contract the test PKI revoked (the token itself is fine).
        revoked = await issue_contract(pnc, "DEPNCC00000002")
        await add_id_tag(running, "DEPNCC00000002")
        await revoke(pnc.store, _fingerprint(revoked[0]), reason="keyCompromise")
        hashes = [ocsp_request_data(c, i) for c, i in zip(revoked, [*revoked[1:], mo_root],
                                                           strict=True)]
        status, answer = await cp.tunnel("Authorize", {
            "idToken": {"idToken": "DEPNCC00000002", "type": "eMAID"},
            "iso15118CertificateHashData": hashes})
        assert (status, answer) == ("Accepted", {"idTokenInfo": {"status": "Blocked"},
                                                 "certificateStatus": "CertificateRevoked"})
        # The same contract as a PEM chain is refused the same way.
        status, answer = await cp.tunnel("Authorize", {
            "idToken": {"idToken": "DEPNCC00000002", "type": "eMAID"},
            "certificate": pem(*revoked)})
        assert answer["certificateStatus"] == "CertificateRevoked"
    refused = await notifications(running, "CP-PNC16", "Authorize")
    assert [n.status for n in refused] == ["CertificateRevoked", "CertificateRevoked"]


def _fingerprint(cert: Any) -> str:
    from certs.store import fingerprint_of

    return fingerprint_of(cert)


async def _job_states(running: Any, kind: str) -> bool:
    status, body = await api(running, "GET", f"/api/pnc/jobs?kind={kind}")
    return status == 200 and bool(body["jobs"]) and all(j["state"] == "done"
                                                        for j in body["jobs"])
