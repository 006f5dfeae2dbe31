"""Native 2.0.1 Plug&Charge messages: answered by a feature through hub.handle_action, and with
a well-formed (schema-valid: the `ocpp` client validates every answer) refusal without one."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from ocpp.v201 import call

from hub.db.models import IdTag, StationNotification
from hub.ocpp_server.session import StationSession
from tests.harness import RunningHub, connect_station201

CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----"
CONTRACT = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----"
EMAID = {"id_token": "DEABCC12345678X", "type": "eMAID"}
OCSP = {"hash_algorithm": "SHA256", "issuer_name_hash": "ab" * 32, "issuer_key_hash": "cd" * 32,
        "serial_number": "1f", "responder_url": "http://ocsp.example"}


async def pnc_requests(cp: Any) -> dict[str, Any]:
    return {
        "sign": await cp.call(call.SignCertificate(csr=CSR, certificate_type="V2GCertificate"),
                              suppress=False),
        "install": await cp.call(call.Get15118EVCertificate(
            iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install",
            exi_request="AAEC"), suppress=False),
        "status": await cp.call(call.GetCertificateStatus(ocsp_request_data=OCSP),
                                suppress=False),
        "cert": await cp.call(call.Authorize(id_token=EMAID, certificate=CONTRACT),
                              suppress=False),
        "hashes": await cp.call(call.Authorize(id_token=EMAID,
                                               iso15118_certificate_hash_data=[OCSP]),
                                suppress=False),
        "plain": await cp.call(call.Authorize(id_token=EMAID), suppress=False),
    }


async def test_without_a_pnc_feature_the_answers_are_well_formed_refusals(
        hub_factory: Any) -> None:
    hub: RunningHub = await hub_factory(dev=True, feature_list=[])
    async with hub.hub.sessions() as session, session.begin():
        session.add(IdTag(id_tag=EMAID["id_token"]))
    async with connect_station201(hub, "CP-PNC0") as cp:
        await cp.boot()
        answers = await pnc_requests(cp)
    assert answers["sign"].status == "Rejected"
    assert (answers["install"].status, answers["install"].exi_response) == ("Failed", "")
    assert answers["status"].status == "Failed"
    # Nobody can check the contract certificate: the token is not accepted on its strength.
    assert answers["cert"].id_token_info == {"status": "Unknown"}
    assert answers["hashes"].id_token_info == {"status": "Unknown"}
    # Without certificate data the eMAID is an ordinary token, authorised by the core.
    assert answers["plain"].id_token_info == {"status": "Accepted"}
    async with hub.hub.sessions() as session:
        kinds = (await session.execute(sa.select(StationNotification.kind).where(
            StationNotification.station_id == "CP-PNC0"))).scalars().all()
    assert {"SignCertificate", "Get15118EVCertificate", "GetCertificateStatus",
            "Authorize"} <= set(kinds)


async def test_a_feature_answers_them_through_handle_action(hub: RunningHub) -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def handler(action: str, answer: dict[str, Any]) -> Any:
        async def handle(session: StationSession, payload: dict[str, Any]) -> dict[str, Any]:
            seen.append((session.id, action, payload))
            return answer
        return handle

    h = hub.hub
    h.handle_action("2.0.1", "SignCertificate", handler("SignCertificate",
                                                        {"status": "Accepted"}))
    h.handle_action("2.0.1", "Get15118EVCertificate", handler(
        "Get15118EVCertificate", {"status": "Accepted", "exiResponse": "AAECAw=="}))
    h.handle_action("2.0.1", "GetCertificateStatus", handler(
        "GetCertificateStatus", {"status": "Accepted", "ocspResult": "MAo="}))
    h.handle_action("2.0.1", "Authorize", handler(
        "Authorize", {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"}))

    async with connect_station201(hub, "CP-PNC1") as cp:
        await cp.boot()
        answers = await pnc_requests(cp)
    assert answers["sign"].status == "Accepted"
    assert answers["install"].exi_response == "AAECAw=="
    assert answers["status"].ocsp_result == "MAo="
    assert answers["cert"].certificate_status == "Accepted"
    assert answers["hashes"].certificate_status == "Accepted"
    # The plain eMAID stayed with the core (unknown there: Invalid), not the feature.
    assert answers["plain"].id_token_info == {"status": "Invalid"}
    assert [action for _, action, _ in seen] == [
        "SignCertificate", "Get15118EVCertificate", "GetCertificateStatus", "Authorize",
        "Authorize"]
    # Features get the camelCase payload as sent.
    assert seen[3][2] == {"idToken": {"idToken": "DEABCC12345678X", "type": "eMAID"},
                          "certificate": CONTRACT}
    assert seen[4][2]["iso15118CertificateHashData"][0]["issuerNameHash"] == "ab" * 32
