"""OCSP responder unreachable while authorising a contract: a policy, not a silent Blocked.
And GetCertificateStatus keeps serving a stored answer through a responder outage."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from certs.roles import CertificateRole as R
from tests.harness import wait_for
from tests.pnc.chargers import Wallet, connect
from tests.pnc.harness import (
    add_id_tag,
    add_station,
    certificate,
    issue_contract,
    notifications,
    ocsp_request_data,
    pnc_of,
)

DEAD = "http://127.0.0.1:9/ocsp"  # allow-listed, nobody listens


@pytest.mark.parametrize("policy", ["reject", "accept"])
async def test_unreachable_ocsp_follows_the_policy(pnc_hub_factory: Any, policy: str) -> None:
    running = await pnc_hub_factory(pnc={"ocsp_unreachable": policy},
                                    pki={"ocsp_allowed_urls": [DEAD]})
    pnc = pnc_of(running)
    await add_station(running, "CP-POL")
    await add_id_tag(running, "DEPNCC00000009")
    # A contract the hub never stored, under its trusted MO root, whose OCSP is unreachable.
    contract = await issue_contract(pnc, "DEPNCC00000009", record=False)
    mo_root = await certificate(pnc, R.MO_ROOT)
    hashes = [ocsp_request_data(c, i, DEAD)
              for c, i in zip(contract, [*contract[1:], mo_root], strict=True)]
    async with connect(running, "CP-POL", Wallet("CP-POL", "DE*PNC*E9")) as cp:
        await cp.boot()
        status, answer = await cp.tunnel("Authorize", {
            "idToken": {"idToken": "DEPNCC00000009", "type": "eMAID"},
            "iso15118CertificateHashData": hashes})
    if policy == "reject":
        assert answer == {"idTokenInfo": {"status": "Invalid"},
                          "certificateStatus": "CertChainError"}
    else:
        assert answer == {"idTokenInfo": {"status": "Accepted"},
                          "certificateStatus": "Accepted"}
    [warning] = await notifications(running, "CP-POL", "PncOcspUnavailable")
    detail = json.loads(warning.detail)
    assert detail["policy"] == policy and "responder_unreachable" in detail["ocspUnavailable"]


async def test_certificate_status_survives_a_responder_outage(pnc_hub_factory: Any) -> None:
    running = await pnc_hub_factory()
    pnc = pnc_of(running)
    await add_station(running, "CP-OCSP", ["DE*PNC*E0OC"])
    wallet = Wallet("CP-OCSP", "DE*PNC*E0OC")
    async with connect(running, "CP-OCSP", wallet) as cp:
        await cp.boot()
        await cp.sign_v2g()
        await wait_for(lambda: "V2GCertificate" in wallet.chains)
        chain = wallet.chains["V2GCertificate"]
        request = {"ocspRequestData": ocsp_request_data(chain[0], chain[1])}
        status, first = await cp.tunnel("GetCertificateStatus", request)
        assert first["status"] == "Accepted"
        sent = pnc.ocsp_fetch.requests_sent
        # The stored answer is fresh: no second request to the responder.
        status, again = await cp.tunnel("GetCertificateStatus", request)
        assert again == first and pnc.ocsp_fetch.requests_sent == sent
        # The refresh asks again (it runs before the answer goes stale) ...
        pnc.settings = dataclasses.replace(pnc.settings, ocsp_refresh_before_seconds=10**6)
        assert await pnc.lifecycle.sweep() and pnc.ocsp_fetch.requests_sent == sent + 1
        # ... and with the responder gone, the refresh failure is recorded, the answer stays.
        pnc.responder = None  # the hub's /ocsp now answers tryLater
        await pnc.lifecycle.sweep()
        status, view = await _view(running)
        [issued] = [c for c in view["issued"] if c["role"] == "V2GCertificate"]
        assert issued["ocsp"]["status"] == "good" and issued["ocsp"]["failures"] == 1
        assert issued["ocsp"]["lastError"].startswith("responder_try_later")
        status, served = await cp.tunnel("GetCertificateStatus", request)
        assert served["status"] == "Accepted"


async def _view(running: Any) -> tuple[int, Any]:
    from tests.pnc.test_tunnel_e2e import api

    return await api(running, "GET", "/api/pnc/stations/CP-OCSP/certificates")
