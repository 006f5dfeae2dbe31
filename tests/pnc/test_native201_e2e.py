"""The same Plug&Charge exchange natively over OCPP 2.0.1 (a real `ocpp` 2.0.1 client), plus
the charging-station certificate over 2.0.1 and over the 1.6 Security Whitepaper."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.x509 import ocsp
from ocpp.v201 import call as call201

from certs.hashdata import compute_hash_data
from certs.lifecycle import revoke
from certs.roles import CertificateRole as R
from certs.store import fingerprint_of
from tests.harness import wait_for
from tests.pnc.chargers import Wallet, connect
from tests.pnc.doubles import Opcp
from tests.pnc.harness import (
    add_id_tag,
    add_station,
    certificate,
    issue_contract,
    ocsp_request_data,
    pnc_of,
)
from tests.pnc.test_tunnel_e2e import api, verify_chain

SECC = "DE*PNC*E0201*1"
EMAID = "DEPNCC00000201"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_iso15118_charger_over_native_201(pnc_hub_factory: Any, opcp: Opcp,
                                                version: str) -> None:
    """And for a station speaking OCPP 2.1 (the same Plug&Charge handlers answer it)."""
    opcp.contracts["EXI201=="] = "EXI201RESPONSE=="
    running = await pnc_hub_factory(pnc=opcp.hub_settings())
    pnc = pnc_of(running)
    await add_station(running, "CP-PNC201", [SECC])
    await add_id_tag(running, EMAID)
    v2g_root, mo_root = await certificate(pnc, R.V2G_ROOT), await certificate(pnc, R.MO_ROOT)
    wallet = Wallet("CP-PNC201", SECC)
    async with connect(running, "CP-PNC201", wallet, version=version) as cp:
        await cp.boot()
        assert (await cp.sign("V2GCertificate")).status == "Accepted"
        await wait_for(lambda: "V2GCertificate" in wallet.chains)
        verify_chain(wallet.chains["V2GCertificate"], v2g_root)
        # The charging-station certificate (TLS client, security profile 3) from the CSMS CA.
        assert (await cp.sign("ChargingStationCertificate")).status == "Accepted"
        await wait_for(lambda: "ChargingStationCertificate" in wallet.chains)
        verify_chain(wallet.chains["ChargingStationCertificate"],
                     await certificate(pnc, R.CSMS_ROOT))

        for kind in ("V2GRootCertificate", "MORootCertificate"):
            status, body = await api(running, "POST", "/api/pnc/ocpp-certificates", {
                "operation": "install", "station_id": "CP-PNC201", "certificate_type": kind})
            assert (status, body["results"][0]["status"]) == (200, "Accepted"), body
            assert body["results"][0]["transport"] == "native"
        status, body = await api(running, "POST", "/api/pnc/ocpp-certificates", {
            "operation": "check", "station_id": "CP-PNC201"})
        assert status == 200, body
        reported = {c["certificateType"]: c["certificateHashData"] for c in
                    body["reports"][0]["response"]["certificateHashDataChain"]}
        assert reported["V2GRootCertificate"] == compute_hash_data(v2g_root, v2g_root).to_ocpp()
        assert reported["MORootCertificate"] == compute_hash_data(mo_root, mo_root).to_ocpp()
        assert body["missing"] == [] and body["unexpected"] == []

        status, body = await api(running, "POST", "/api/pnc/ocpp-command", {
            "station_id": "CP-PNC201", "action": "DeleteCertificate", "payload": {
                "certificateHashData": compute_hash_data(mo_root, mo_root).to_ocpp()}})
        assert (status, body["status"], body["transport"]) == (200, "Accepted", "native"), body
        assert wallet.roots["MORootCertificate"] == []

        answer = await cp.call(call201.Get15118EVCertificate(
            iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install",
            exi_request="EXI201=="))
        assert (answer.status, answer.exi_response) == ("Accepted", "EXI201RESPONSE==")

        chain = wallet.chains["V2GCertificate"]
        answer = await cp.call(call201.GetCertificateStatus(
            ocsp_request_data=_snake(ocsp_request_data(chain[0], chain[1]))))
        assert answer.status == "Accepted"
        response = ocsp.load_der_ocsp_response(base64.b64decode(answer.ocsp_result))
        assert response.certificate_status is ocsp.OCSPCertStatus.GOOD

        contract = await issue_contract(pnc, EMAID)
        hashes = [_snake(ocsp_request_data(c, i))
                  for c, i in zip(contract, [*contract[1:], mo_root], strict=True)]
        answer = await cp.call(call201.Authorize(id_token={"id_token": EMAID, "type": "eMAID"},
                                                 iso15118_certificate_hash_data=hashes))
        assert (answer.certificate_status, answer.id_token_info) == (
            "Accepted", {"status": "Accepted"})
        await revoke(pnc.store, fingerprint_of(contract[0]), reason="keyCompromise")
        pnc.ocsp.clear_cache()  # the hub's own revocation: its validation cache is not stale
        answer = await cp.call(call201.Authorize(id_token={"id_token": EMAID, "type": "eMAID"},
                                                 iso15118_certificate_hash_data=hashes))
        assert (answer.certificate_status, answer.id_token_info) == (
            "CertificateRevoked", {"status": "Blocked"})


def _snake(data: dict[str, str]) -> dict[str, str]:
    names = {"hashAlgorithm": "hash_algorithm", "issuerNameHash": "issuer_name_hash",
             "issuerKeyHash": "issuer_key_hash", "serialNumber": "serial_number",
             "responderURL": "responder_url"}
    return {names[k]: v for k, v in data.items()}


async def test_charging_station_certificate_over_16_security(pnc_hub_factory: Any) -> None:
    running = await pnc_hub_factory()
    pnc = pnc_of(running)
    await add_station(running, "CP-SEC16")
    wallet = Wallet("CP-SEC16", "DE*PNC*E0016")
    async with connect(running, "CP-SEC16", wallet) as cp:
        await cp.boot()
        status, body = await api(running, "POST", "/api/pnc/ocpp-command", {
            "station_id": "CP-SEC16", "action": "TriggerMessage",
            "payload": {"requestedMessage": "SignChargingStationCertificate"}})
        assert (status, body["status"], body["transport"]) == (200, "Accepted", "security")
        await wait_for(lambda: "ChargingStationCertificate" in wallet.chains)
        chain = wallet.chains["ChargingStationCertificate"]
        verify_chain(chain, await certificate(pnc, R.CSMS_ROOT))
        assert chain[0].subject.rfc4514_string() == "C=DE,O=pnc-hub Test CPO,CN=CP-SEC16"
