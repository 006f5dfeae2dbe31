"""OCSP out of the box: the responders named in the AIA of the CAs the hub trusts are allowed
without configuration, so a contract of that mobility operator is checked at its own
responder (a real aiohttp OCSP responder here); a URL no trusted CA names is still refused, and
with the derivation switched off the hub warns at start-up, naming the chain it cannot check."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from ocpp.v201 import call as call201

from certs.roles import CertificateRole as R
from certs.store import record_certificate
from tests.harness import RunningHub
from tests.pnc.chargers import Wallet, connect
from tests.pnc.harness import add_id_tag, add_station, pem, pnc_of
from tests.pnc.test_root_pool import MoPki

EMAID = "DEEMSC00000077"


class Responder:
    """An eMSP's OCSP responder: answers for every certificate of its PKI, signed by the
    certificate's issuer; serials in ``revoked`` are revoked."""

    def __init__(self) -> None:
        self.issuers: list[tuple[x509.Certificate, Any]] = []
        self.revoked: set[int] = set()
        self.asked: list[int] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Responder:
        app = web.Application()
        app.router.add_post("/ocsp", self.answer)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/ocsp"  # type: ignore
        return self

    async def answer(self, request: web.Request) -> web.Response:
        req = ocsp.load_der_ocsp_request(await request.read())
        self.asked.append(req.serial_number)
        for issuer, key in self.issuers:
            spki = issuer.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
            digest = hashes.Hash(hashes.SHA256())
            digest.update(spki)
            if digest.finalize() != req.issuer_key_hash:
                continue
            now = dt.datetime.now(dt.UTC)
            revoked = req.serial_number in self.revoked
            builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
                req.issuer_name_hash, req.issuer_key_hash, req.serial_number,
                req.hash_algorithm,
                ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
                now - dt.timedelta(minutes=1), now + dt.timedelta(hours=1),
                now - dt.timedelta(minutes=5) if revoked else None,
                x509.ReasonFlags.key_compromise if revoked else None,
            ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
            der = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
            return web.Response(body=der, content_type="application/ocsp-response")
        return web.Response(body=ocsp.OCSPResponseBuilder.build_unsuccessful(
            ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER),
            content_type="application/ocsp-response")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def responder() -> Any:
    started = await Responder().start()
    yield started
    await started.stop()


async def _trust(running: RunningHub, emsp: MoPki) -> None:
    pnc = pnc_of(running)
    for cert, role in ((emsp.root, R.MO_ROOT), (emsp.sub1, R.MO_SUB_CA1),
                       (emsp.sub2, R.MO_SUB_CA2)):
        await record_certificate(pnc.store, cert, role)
    await pnc.reload_pki(force=True)


async def _authorize(cp: Any, chain: list[x509.Certificate]) -> str:
    answer = await cp.call(call201.Authorize(id_token={"id_token": EMAID, "type": "eMAID"},
                                             certificate=pem(*chain)))
    return str(answer.certificate_status)


async def test_responders_of_trusted_cas_are_allowed_out_of_the_box(
        pnc_hub_factory: Any, responder: Responder) -> None:
    running = await pnc_hub_factory()
    pnc = pnc_of(running)
    emsp = MoPki.create(ocsp_url=responder.url)
    responder.issuers = [(emsp.root, emsp.root_key), (emsp.sub1, emsp.sub1_key),
                         (emsp.sub2, emsp.sub2_key)]
    assert not pnc.ocsp.allow_list.allows(responder.url)  # not trusted yet: refused
    await _trust(running, emsp)
    assert pnc.ocsp.allow_list.allows(responder.url)
    assert pnc.ocsp_fetch.allow_list.allows(responder.url)
    assert not pnc.ocsp.allow_list.allows(responder.url.replace("/ocsp", "/other"))
    assert not pnc.ocsp.allow_list.allows("http://169.254.169.254/latest/meta-data/")

    await add_station(running, "CP-OCSPA", ["DE*PNC*E0077*1"])
    await add_id_tag(running, EMAID)
    async with connect(running, "CP-OCSPA", Wallet("CP-OCSPA", "DE*PNC*E0077*1"),
                       version="2.0.1") as cp:
        await cp.boot()
        good = emsp.contract(EMAID, ocsp_url=responder.url)
        assert await _authorize(cp, good) == "Accepted"
        assert good[0].serial_number in responder.asked
        revoked = emsp.contract(EMAID, ocsp_url=responder.url)
        responder.revoked.add(revoked[0].serial_number)
        assert await _authorize(cp, revoked) == "CertificateRevoked"
        # A leaf naming a responder no trusted CA names is refused, never fetched.
        elsewhere = emsp.contract(EMAID, ocsp_url="http://127.0.0.1:9/elsewhere")
        assert await _authorize(cp, elsewhere) == "CertChainError"


async def test_without_the_derivation_the_start_up_names_the_chain(
        pnc_hub_factory: Any, responder: Responder, caplog: pytest.LogCaptureFixture) -> None:
    running = await pnc_hub_factory(pki={"ocsp_allow_trusted_aia": False})
    pnc = pnc_of(running)
    emsp = MoPki.create(name="Unlisted eMSP", ocsp_url=responder.url)
    with caplog.at_level(logging.WARNING, logger="pnc.ocsp_allow"):
        await _trust(running, emsp)
    warned = [r.getMessage() for r in caplog.records if r.name == "pnc.ocsp_allow"]
    assert any(responder.url in m and "Unlisted eMSP MO Sub-CA 2" in m for m in warned), warned
    assert not pnc.ocsp.allow_list.allows(responder.url)
    assert set(pnc.ocsp_refused) == {responder.url}
