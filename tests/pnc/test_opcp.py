"""The Open Plug&Charge clients against the doubles: the OAuth token is cached until it
expires and renewed on a 401; the contract certificate pool is asked within the EV's budget;
EST signs the SECC certificate when it is the configured signer."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest

from certs.roles import CertificateRole as R
from pnc.opcp import ISO20_NAMESPACE, ContractCertificatePool, OpcpError, TokenProvider
from tests.harness import wait_for
from tests.pnc.chargers import Wallet, connect
from tests.pnc.doubles import NO_CONTRACT_EXI, Opcp
from tests.pnc.harness import add_station, notifications, pnc_of
from tests.pnc.test_tunnel_e2e import verify_chain


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


def _pool(opcp: Opcp, http: aiohttp.ClientSession) -> ContractCertificatePool:
    tokens = TokenProvider(lambda: http, f"{opcp.url}/oauth/token", opcp.client_id,
                           opcp.client_secret, opcp.url)
    return ContractCertificatePool(lambda: http, opcp.url, tokens)


async def test_token_is_cached_and_renewed_after_a_401(opcp: Opcp,
                                                       http: aiohttp.ClientSession) -> None:
    opcp.contracts["REQ"] = "RES"
    pool = _pool(opcp, http)
    for _ in range(3):
        answer = await pool.signed_contract_data("REQ", ISO20_NAMESPACE, timeout=3)
        assert (answer.found, answer.exi_response) == (True, "RES")
    assert opcp.token_requests == 1
    opcp.tokens.clear()  # the pool forgets every token: the next call gets a 401 first
    assert (await pool.signed_contract_data("REQ", ISO20_NAMESPACE, timeout=3)).found
    assert opcp.token_requests == 2
    assert opcp.ccp_requests[-1]["body"]["xsdMsgDefNamespace"] == ISO20_NAMESPACE
    assert "secret" not in repr(pool.tokens)


async def test_wrong_credentials_are_a_clear_error(opcp: Opcp,
                                                   http: aiohttp.ClientSession) -> None:
    tokens = TokenProvider(lambda: http, f"{opcp.url}/oauth/token", opcp.client_id, "wrong",
                           opcp.url)
    with pytest.raises(OpcpError) as error:
        await tokens.token()
    assert error.value.reason == "token_refused" and "401" in error.value.message


async def test_pool_retries_5xx_and_keeps_the_budget(opcp: Opcp,
                                                     http: aiohttp.ClientSession) -> None:
    opcp.contracts["REQ"] = "RES"
    opcp.ccp_failures = 2
    pool = _pool(opcp, http)
    assert (await pool.signed_contract_data("REQ", ISO20_NAMESPACE, timeout=3)).found
    no_contract = await pool.signed_contract_data("OTHER", ISO20_NAMESPACE, timeout=3)
    assert (no_contract.found, no_contract.exi_response) == (False, NO_CONTRACT_EXI)
    opcp.ccp_delay = 2
    with pytest.raises(OpcpError) as error:  # the pool would answer, but after the budget
        await pool.signed_contract_data("REQ", ISO20_NAMESPACE, timeout=0.5)
    assert error.value.reason == "ccp_timeout"


async def test_ev_certificate_failures_reach_the_charger_in_time(pnc_hub_factory: Any,
                                                                opcp: Opcp) -> None:
    running = await pnc_hub_factory(pnc={**opcp.hub_settings(),
                                         "ev_certificate_timeout_seconds": 0.5})
    await add_station(running, "CP-EV")
    opcp.ccp_delay = 1.5
    async with connect(running, "CP-EV", Wallet("CP-EV", "DE*PNC*E1")) as cp:
        await cp.boot()
        request = {"iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef", "action": "Install",
                   "exiRequest": "SLOW=="}
        status, answer = await cp.tunnel("Get15118EVCertificate", request)
        assert (status, answer["status"], answer["exiResponse"]) == ("Accepted", "Failed", "")
        assert answer["statusInfo"]["additionalInfo"].startswith("ccp_timeout")
        opcp.ccp_delay = 0
        # The answers below must not depend on the pool answering within 0.5 s of a loaded
        # machine: only the timeout above needs the short budget.
        pnc = pnc_of(running)
        pnc.settings = dataclasses.replace(pnc.settings, ev_certificate_timeout_seconds=30)
        status, answer = await cp.tunnel("Get15118EVCertificate", request)
        # No contract: the pool's ISO 15118 negative answer still goes to the EV.
        assert answer == {"status": "Failed", "exiResponse": NO_CONTRACT_EXI}
        status, answer = await cp.tunnel("Get15118EVCertificate", {
            **request, "iso15118SchemaVersion": "urn:din:70121:2012:MsgDef"})
        assert answer["statusInfo"]["additionalInfo"].startswith("schema_unsupported")
    reasons = [n.detail for n in await notifications(running, "CP-EV", "Get15118EVCertificate")]
    assert len(reasons) == 3 and "no_contract" in reasons[1]


async def test_est_signs_the_secc_certificate(pnc_hub_factory: Any, opcp: Opcp) -> None:
    running = await pnc_hub_factory(pnc={**opcp.hub_settings(), "v2g_signer": "est"})
    pnc = pnc_of(running)
    await add_station(running, "CP-EST", ["DE*PNC*E0EST"])
    wallet = Wallet("CP-EST", "DE*PNC*E0EST")
    async with connect(running, "CP-EST", wallet) as cp:
        await cp.boot()
        assert await cp.sign_v2g() == ("Accepted", {"status": "Accepted"})
        await wait_for(lambda: "V2GCertificate" in wallet.chains)
        # Another station's SECC ID is refused before anything goes to EST.
        status, answer = await cp.sign_v2g(cn="DE*PNC*E0XXX")
        assert answer["status"] == "Rejected"
    chain = wallet.chains["V2GCertificate"]
    assert opcp.pki is not None and opcp.est_requests == 1
    verify_chain(chain, opcp.pki[R.V2G_ROOT])  # Hubject's V2G root, not the hub's own
    assert len(chain) == 3  # leaf + both sub-CAs (from cacerts), root left out
    stored = await pnc.store.find_certificates(station_id="CP-EST", role=str(R.SECC))
    assert [r.serial for r in stored] == [format(chain[0].serial_number, "x")]
