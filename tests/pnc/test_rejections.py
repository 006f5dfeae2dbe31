"""The same ISO 15118 1.6 client with a malformed tunnel payload, a CSR for another station, or
an unknown root gets a clear rejection (and the reason is recorded) and stays connected."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.v16 import call as call16

from certs import profiles as P
from tests.pnc.chargers import VENDOR, Wallet, connect
from tests.pnc.harness import add_id_tag, add_station, notifications, ocsp_request_data, pem
from tests.pnc.test_tunnel_e2e import api


def foreign_contract(emaid: str) -> list[Any]:
    """A contract chain under a root the hub has never seen (O/DC as an MO would have)."""
    now = dt.datetime.now(dt.UTC) - P.BACKDATE
    end = now + dt.timedelta(days=365)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = P.build_certificate(P.MO_ROOT, P.build_name("Foreign MO Root", "Foreign", "DE", "MO"),
                               root_key.public_key(), issuer_certificate=None,
                               issuer_key=root_key, not_before=now, not_after=end)
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub = P.build_certificate(P.MO_SUB_CA2, P.build_name("Foreign MO Sub-CA 2", "Foreign",
                                                         "DE", "MO"),
                              sub_key.public_key(), issuer_certificate=root,
                              issuer_key=root_key, not_before=now, not_after=end)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = P.build_certificate(P.CONTRACT, P.build_name(emaid, "Foreign", "DE", "MO"),
                               leaf_key.public_key(), issuer_certificate=sub, issuer_key=sub_key,
                               not_before=now, not_after=end,
                               ocsp_url="http://ocsp.foreign.example/ocsp")
    return [leaf, sub, root]


async def test_bad_input_is_refused_clearly_and_the_charger_stays(pnc_hub_factory: Any) -> None:
    running = await pnc_hub_factory()
    await add_station(running, "CP-A", ["DE*PNC*E000A"])
    await add_station(running, "CP-B", ["DE*PNC*E000B"])
    await add_id_tag(running, "DEFOR000000001")
    wallet = Wallet("CP-B", "DE*PNC*E000B")
    async with connect(running, "CP-B", wallet) as cp:
        await cp.boot()
        # Malformed tunnel payloads: not JSON, wrong types, an unknown messageId.
        assert await cp.tunnel("SignCertificate", "this is not json") == ("Rejected", None)
        assert await cp.tunnel("SignCertificate", {"csr": 5}) == ("Rejected", None)
        assert await cp.tunnel("Authorize", {"idToken": {"idToken": "X"}}) == ("Rejected", None)
        assert await cp.tunnel("Authorize", "[1, 2]") == ("Rejected", None)
        assert await cp.tunnel("FlyToTheMoon", {}) == ("UnknownMessageId", None)
        answer = await cp.call(call16.DataTransfer(vendor_id=VENDOR))
        assert answer.status == "UnknownMessageId"

        # A CSR whose CN is another station's SECC ID.
        status, answer = await cp.sign_v2g(cn="DE*PNC*E000A")
        assert status == "Accepted" and answer["status"] == "Rejected"
        assert answer["statusInfo"]["reasonCode"] == "InvalidCSR"
        assert answer["statusInfo"]["additionalInfo"].startswith("subject_cn_not_station")
        # A CSR that is not a CSR.
        status, answer = await cp.tunnel("SignCertificate", {
            "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
            "certificateType": "V2GCertificate"})
        assert answer["statusInfo"]["additionalInfo"].startswith("csr_malformed")

        # A contract under a root the hub does not trust: as a chain, and as hash data.
        contract = foreign_contract("DEFOR000000001")
        token = {"idToken": "DEFOR000000001", "type": "eMAID"}
        status, answer = await cp.tunnel("Authorize", {"idToken": token,
                                                       "certificate": pem(*contract[:2])})
        assert answer == {"idTokenInfo": {"status": "Invalid"},
                          "certificateStatus": "CertChainError"}
        hashes = [ocsp_request_data(contract[0], contract[1]),
                  ocsp_request_data(contract[1], contract[2], "http://ocsp.foreign.example/ocsp")]
        status, answer = await cp.tunnel("Authorize", {"idToken": token,
                                                       "iso15118CertificateHashData": hashes})
        assert answer == {"idTokenInfo": {"status": "Invalid"},
                          "certificateStatus": "CertChainError"}
        # OCSP for it: the responder URL is not on the allow-list, so the hub does not call it.
        status, answer = await cp.tunnel("GetCertificateStatus",
                                         {"ocspRequestData": hashes[0]})
        assert answer["status"] == "Failed"
        assert answer["statusInfo"]["additionalInfo"].startswith("url_not_allowed")

        # Still connected, and still served.
        assert (await cp.boot()).status == "Accepted"
        assert await cp.sign_v2g() == ("Accepted", {"status": "Accepted"})

    tunnel = await notifications(running, "CP-B", "PncTunnel")
    assert [json.loads(n.detail)["reason"] for n in tunnel] == [
        "data_not_json", "TypeConstraintViolation", "OccurrenceConstraintViolation",
        "data_not_object"]
    signs = await notifications(running, "CP-B", "SignCertificate")
    assert [json.loads(n.detail).get("reason") for n in signs][:2] == [
        "subject_cn_not_station", "csr_malformed"]
    authorize = await notifications(running, "CP-B", "Authorize")
    assert [json.loads(n.detail)["reason"] for n in authorize] == [
        "issuer_not_found", "unknown_root"]

    # The API installs only roots from the trust store.
    status, body = await api(running, "POST", "/api/pnc/ocpp-certificates", {
        "operation": "install", "station_id": "CP-B", "certificate_type": "MORootCertificate",
        "certificate": pem(contract[2])})
    assert (status, body["error"]) == (400, "unknown_root")
