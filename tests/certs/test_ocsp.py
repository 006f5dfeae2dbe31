"""OCSP: our client against our responder, openssl against our responder, our client against
openssl's responder; signature, authorisation, cache, allow-list, retries and timeouts."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509

from certs import profiles as P
from certs.errors import OcspError
from certs.hashdata import CertId, compute_cert_id
from certs.hierarchy import create_ocsp_signer, load_authority
from certs.issuing import IssuedCertificate
from certs.lifecycle import revoke
from certs.ocsp_client import OcspCertStatus, OcspClient, UrlAllowList, build_request
from certs.ocsp_responder import OcspResponder, ResponderIdentity, create_ocsp_app
from certs.roles import CertificateRole as R
from certs.validation import AuthorizeCertificateStatus as S
from certs.validation import ChainValidator, RevocationState, ValidationUse

from .conftest import (
    OPENSSL,
    OpensslPki,
    Pki,
    build_pki,
    free_port,
    make_csr,
    needs_openssl,
    write_pem,
)


@dataclass
class Env:
    pki: Pki
    url: str
    responder: OcspResponder
    leaf: IssuedCertificate
    leaf_key: object
    runner: web.AppRunner

    @property
    def sub2(self) -> x509.Certificate:
        return self.pki[R.CPO_SUB_CA2]

    def client(self, **kwargs: object) -> OcspClient:
        kwargs.setdefault("allowed_urls", [self.url])
        return OcspClient(**kwargs)  # type: ignore[arg-type]


async def _serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/ocsp"
    pki = await build_pki(tmp_path, ocsp_url=url)
    csr, key = make_csr("DE*PNC*E1")
    leaf = await pki.issuer.issue_from_csr(csr)
    responder = await OcspResponder.from_store(pki.store, pki.keystore, pki.settings)
    runner = await _serve(create_ocsp_app(responder), port)
    try:
        yield Env(pki, url, responder, leaf, key, runner)
    finally:
        await runner.cleanup()


async def test_good_then_revoked(env: Env):
    async with env.client() as client:
        status = await client.check(env.leaf.certificate, env.sub2)
        assert status.status is OcspCertStatus.GOOD
        assert status.next_update - status.this_update == dt.timedelta(hours=1)
        await revoke(env.pki.store, env.leaf.certificate.serial_number.__format__("x"),
                     reason="keyCompromise")
        assert (await client.check(env.leaf.certificate, env.sub2)).status is \
            OcspCertStatus.GOOD  # still the cached answer
        client.clear_cache()
        status = await client.check(env.leaf.certificate, env.sub2)
        assert status.status is OcspCertStatus.REVOKED
        assert status.revocation_reason == "keyCompromise" and status.revoked_at is not None


async def test_answers_for_every_ca_with_a_key(env: Env):
    async with env.client() as client:
        status = await client.check(env.sub2, env.pki[R.CPO_SUB_CA1])
        assert status.status is OcspCertStatus.GOOD


async def test_unknown_serial_is_unknown(env: Env):
    sub2_authority = await load_authority(env.pki.store, env.pki.keystore, R.CPO_SUB_CA2)
    now = dt.datetime.now(dt.UTC)
    stray = P.build_certificate(P.SECC_LEAF, env.leaf.certificate.subject,
                                env.leaf.certificate.public_key(),
                                issuer_certificate=sub2_authority.certificate,
                                issuer_key=sub2_authority.key, not_before=now,
                                not_after=now + dt.timedelta(days=1), ocsp_url=env.url)
    async with env.client() as client:
        assert (await client.check(stray, env.sub2)).status is OcspCertStatus.UNKNOWN
    validator = await ChainValidator.from_store(env.pki.store, ocsp=env.client())
    result = await validator.validate([stray, *env.leaf.chain[1:]], ValidationUse.SECC)
    assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "ocsp_unknown")
    await validator.ocsp.close()


async def test_cache_until_next_update(env: Env):
    now = [dt.datetime.now(dt.UTC)]
    async with env.client(clock=lambda: now[0]) as client:
        await client.check(env.leaf.certificate, env.sub2)
        await client.check(env.leaf.certificate, env.sub2)
        assert client.requests_sent == 1
        now[0] += dt.timedelta(minutes=61)
        await client.check(env.leaf.certificate, env.sub2)
        assert client.requests_sent == 2


async def test_concurrent_checks_share_one_request(env: Env):
    async with env.client() as client:
        results = await asyncio.gather(*(client.check(env.leaf.certificate, env.sub2)
                                         for _ in range(10)))
        assert {r.status for r in results} == {OcspCertStatus.GOOD}
        assert client.requests_sent == 1


def test_url_allow_list():
    allow = UrlAllowList(["http://127.0.0.1:8080/ocsp", "https://ocsp.example.com"])
    assert allow.allows("http://127.0.0.1:8080/ocsp")
    assert allow.allows("http://127.0.0.1:8080/ocsp/sub")
    assert allow.allows("https://OCSP.example.com/any/path")
    for bad in [
        "http://127.0.0.1:8081/ocsp", "https://127.0.0.1:8080/ocsp", "http://127.0.0.1:8080/ocspx",
        "http://127.0.0.1:8080/", "http://user:pw@127.0.0.1:8080/ocsp",
        "http://127.0.0.1:8080/ocsp/../admin", "http://127.0.0.1:8080/ocsp/%2e%2e/admin",
        "file:///etc/passwd", "http://169.254.169.254/latest/meta-data", "not a url",
        "http://ocsp.example.com", "https://ocsp.example.com.evil.net/",
        "http://127.0.0.1:8080/ocsp#frag",
    ]:
        assert not allow.allows(bad), bad


async def test_disallowed_url_is_never_fetched(env: Env):
    async with env.client(allowed_urls=["https://ocsp.example.com"]) as client:
        with pytest.raises(OcspError) as caught:
            await client.check(env.leaf.certificate, env.sub2)
        assert caught.value.reason == "url_not_allowed"
        with pytest.raises(OcspError) as caught:
            await client.check_cert_id(compute_cert_id(env.leaf.certificate, env.sub2),
                                       "http://169.254.169.254/")
        assert caught.value.reason == "url_not_allowed"
        assert client.requests_sent == 0


async def _proxy(env: Env, port: int,
                 transform: Callable[[int, bytes], Awaitable[web.Response]]) -> web.AppRunner:
    calls = [0]

    async def handle(request: web.Request) -> web.Response:
        calls[0] += 1
        return await transform(calls[0], await request.read())

    app = web.Application()
    app.router.add_post("/ocsp", handle)
    return await _serve(app, port)


async def _with_proxy(env: Env, transform, **client_kwargs) -> tuple[object, OcspClient]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/ocsp"
    runner = await _proxy(env, port, transform)
    client = OcspClient(allowed_urls=[url], **client_kwargs)
    try:
        outcome: object = await client.check(env.leaf.certificate, env.sub2, url=url)
    except OcspError as exc:
        outcome = exc
    finally:
        await client.close()
        await runner.cleanup()
    return outcome, client


def _ocsp(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/ocsp-response")


async def test_tampered_response_is_rejected(env: Env):
    async def tamper(_n: int, body: bytes) -> web.Response:
        der = bytearray(await env.responder.respond(body))
        at = der.index(b"\x18\x0f") + 2 + 13  # producedAt, units digit of the seconds
        der[at] = ord("1") if der[at] != ord("1") else ord("2")
        return _ocsp(bytes(der))

    outcome, _ = await _with_proxy(env, tamper)
    assert isinstance(outcome, OcspError) and outcome.reason == "response_signature_invalid"


async def _signed_by(env: Env, signer: x509.Certificate, key: object) -> OcspError:
    rogue = OcspResponder(env.pki.store, [ResponderIdentity.create(env.sub2, signer, key)])

    async def answer(_n: int, body: bytes) -> web.Response:
        return _ocsp(await rogue.respond(body))

    outcome, _ = await _with_proxy(env, answer)
    assert isinstance(outcome, OcspError)
    return outcome


async def test_response_signed_by_a_stranger_is_rejected(env: Env):
    mo = await load_authority(env.pki.store, env.pki.keystore, R.MO_SUB_CA2)
    outcome = await _signed_by(env, mo.certificate, mo.key)
    assert outcome.reason == "responder_not_authorized"


async def test_delegate_without_ocsp_signing_eku_is_rejected(env: Env):
    # The SECC leaf is issued by Sub-CA 2 but is no OCSP responder.
    outcome = await _signed_by(env, env.leaf.certificate, env.leaf_key)
    assert outcome.reason == "responder_not_authorized"
    assert "OCSPSigning" in outcome.message


async def test_delegated_signer_is_accepted(env: Env):
    sub2 = await load_authority(env.pki.store, env.pki.keystore, R.CPO_SUB_CA2)
    signer = await create_ocsp_signer(env.pki.store, env.pki.keystore, sub2)
    responder = await OcspResponder.from_store(env.pki.store, env.pki.keystore, env.pki.settings)
    identity = next(i for i in responder.identities if i.ca == env.sub2)
    assert identity.signer == signer

    async def answer(_n: int, body: bytes) -> web.Response:
        return _ocsp(await responder.respond(body))

    outcome, _ = await _with_proxy(env, answer)
    assert outcome.status is OcspCertStatus.GOOD
    assert "OCSP Responder" in outcome.responder


async def test_transient_errors_are_retried(env: Env):
    async def flaky(n: int, body: bytes) -> web.Response:
        if n < 3:
            return web.Response(status=503)
        return _ocsp(await env.responder.respond(body))

    outcome, client = await _with_proxy(env, flaky, attempts=3)
    assert outcome.status is OcspCertStatus.GOOD and client.requests_sent == 3

    outcome, client = await _with_proxy(env, flaky, attempts=2)
    assert isinstance(outcome, OcspError) and outcome.reason == "responder_unreachable"
    assert client.requests_sent == 2


async def test_client_errors_and_redirects_are_not_followed(env: Env):
    async def redirect(_n: int, _body: bytes) -> web.Response:
        return web.Response(status=302, headers={"Location": "http://169.254.169.254/"})

    outcome, client = await _with_proxy(env, redirect, attempts=3)
    assert isinstance(outcome, OcspError) and outcome.reason == "responder_http_302"
    assert client.requests_sent == 1


async def test_timeout(env: Env):
    async def slow(_n: int, body: bytes) -> web.Response:
        await asyncio.sleep(0.6)
        return _ocsp(await env.responder.respond(body))

    outcome, client = await _with_proxy(env, slow, attempts=2, timeout_seconds=0.2)
    assert isinstance(outcome, OcspError) and outcome.reason == "responder_unreachable"
    assert client.requests_sent == 2


async def test_responder_refusals(env: Env):
    async with aiohttp.ClientSession() as session:
        async with session.post(env.url, data=b"not ocsp") as resp:
            body = await resp.read()
    from cryptography.x509 import ocsp

    assert ocsp.load_der_ocsp_response(body).response_status is \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    async with env.client() as client:
        foreign = CertId("sha256", b"\x01" * 32, b"\x02" * 32, 12345)
        with pytest.raises(OcspError) as caught:
            await client.check_cert_id(foreign, env.url)
        assert caught.value.reason == "responder_unauthorized"


async def test_get_requests(env: Env):
    cert_id = compute_cert_id(env.leaf.certificate, env.sub2)
    encoded = urllib.parse.quote(base64.b64encode(build_request(cert_id)).decode(), safe="")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{env.url}/{encoded}") as resp:
            assert resp.headers["Cache-Control"] == "max-age=3600"
            body = await resp.read()
    from certs.ocsp_client import verify_response

    status = verify_response(body, cert_id, env.sub2, dt.datetime.now(dt.UTC))
    assert status.status is OcspCertStatus.GOOD


# -- validation with OCSP -----------------------------------------------------------------------


async def test_validation_checks_every_certificate_below_the_anchor(env: Env):
    async with env.client() as client:
        validator = await ChainValidator.from_store(env.pki.store, ocsp=client)
        result = await validator.validate(env.leaf.chain, ValidationUse.SECC)
        assert result.status is S.ACCEPTED
        assert [c.state for c in result.revocation] == [RevocationState.GOOD] * 3
        sent = client.requests_sent
        assert (await validator.validate(env.leaf.chain, ValidationUse.SECC)).accepted
        assert client.requests_sent == sent  # all answers cached
        await revoke(env.pki.store, env.leaf.certificate.serial_number.__format__("x"))
        client.clear_cache()
        result = await validator.validate(env.leaf.chain, ValidationUse.SECC)
        assert (result.status, result.reason) == (S.CERTIFICATE_REVOKED, "revoked")


async def test_unreachable_responder_soft_and_hard(env: Env):
    await env.runner.cleanup()
    async with env.client(attempts=1, timeout_seconds=1) as client:
        soft = await ChainValidator.from_store(env.pki.store, ocsp=client)
        result = await soft.validate(env.leaf.chain, ValidationUse.SECC)
        assert result.status is S.ACCEPTED
        assert {c.state for c in result.revocation} == {RevocationState.UNAVAILABLE}
        hard = await ChainValidator.from_store(env.pki.store, ocsp=client,
                                               ocsp_failure_policy="hard")
        result = await hard.validate(env.leaf.chain, ValidationUse.SECC)
        assert (result.status, result.reason) == (S.CERT_CHAIN_ERROR, "ocsp_unavailable")


# -- openssl as the referee ----------------------------------------------------------------------


async def _run_openssl(*args: str, cwd: Path) -> tuple[int, str]:
    assert OPENSSL is not None
    proc = await asyncio.create_subprocess_exec(
        OPENSSL, *args, cwd=cwd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode or 0, out.decode()


@needs_openssl
@pytest.mark.parametrize("delegated", [False, True], ids=["ca-signed", "delegated"])
async def test_openssl_accepts_our_responses(env: Env, tmp_path: Path, delegated: bool):
    if delegated:
        sub2 = await load_authority(env.pki.store, env.pki.keystore, R.CPO_SUB_CA2)
        await create_ocsp_signer(env.pki.store, env.pki.keystore, sub2)
        env.responder.identities[:] = (await OcspResponder.from_store(
            env.pki.store, env.pki.keystore, env.pki.settings)).identities
    write_pem(tmp_path / "leaf.pem", env.leaf.certificate)
    write_pem(tmp_path / "issuer.pem", env.sub2)
    write_pem(tmp_path / "root.pem", env.pki[R.V2G_ROOT])
    write_pem(tmp_path / "subs.pem", env.sub2, env.pki[R.CPO_SUB_CA1])
    args = ["ocsp", "-issuer", "issuer.pem", "-sha256", "-cert", "leaf.pem", "-url", env.url,
            "-CAfile", "root.pem", "-verify_other", "subs.pem", "-resp_text"]
    code, out = await _run_openssl(*args, cwd=tmp_path)
    assert code == 0 and "Response verify OK" in out and "leaf.pem: good" in out, out
    assert "WARNING: no nonce" not in out  # the nonce openssl sends is echoed

    await revoke(env.pki.store, f"{env.leaf.certificate.serial_number:x}",
                 reason="keyCompromise")
    code, out = await _run_openssl(*args, cwd=tmp_path)
    assert code == 0 and "Response verify OK" in out and "leaf.pem: revoked" in out, out
    assert "Reason: keyCompromise" in out
    # SHA-1 CertIDs (openssl's default) are answered too.
    code, out = await _run_openssl(*[a for a in args if a != "-sha256"], cwd=tmp_path)
    assert code == 0 and "leaf.pem: revoked" in out, out


@contextlib.asynccontextmanager
async def _openssl_responder(p: OpensslPki) -> AsyncIterator[str]:
    """Run ``openssl ocsp`` as a responder over the test PKI's index.txt, on a free port."""
    assert OPENSSL is not None
    log: list[bytes] = []
    for _attempt in range(5):  # another process may grab the free port first: try again
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            OPENSSL, "ocsp", "-index", "index.txt", "-port", str(port), "-rsigner",
            "cpo_sub2.pem", "-rkey", "cpo_sub2.key", "-CA", "cpo_sub2.pem", "-nmin", "10",
            cwd=p.dir, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert proc.stderr is not None
        ready = False
        # Wait for its "waiting for OCSP client connections" line: probing the port instead
        # would wedge this single-threaded server on the probe's empty connection.
        while True:
            line = await asyncio.wait_for(proc.stderr.readline(), timeout=10)
            log.append(line)
            if not line:
                break
            if b"waiting for OCSP client connections" in line:
                ready = True
                break
        if ready:
            try:
                yield f"http://127.0.0.1:{port}/"
            finally:
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
            return
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    raise AssertionError(b"openssl ocsp did not start: " + b"".join(log))


@needs_openssl
async def test_our_client_against_openssl_responder(openssl_pki: OpensslPki):
    async with _openssl_responder(openssl_pki) as url:
        async with OcspClient(allowed_urls=[url]) as client:
            sub2 = openssl_pki.cert("cpo_sub2")
            good = await client.check(openssl_pki.cert("secc"), sub2, url=url)
            assert good.status is OcspCertStatus.GOOD
            assert good.next_update is not None
            revoked = await client.check(openssl_pki.cert("secc_revoked"), sub2, url=url)
            assert revoked.status is OcspCertStatus.REVOKED
            assert revoked.revocation_reason == "keyCompromise"
            # A certificate of another issuer: openssl answers "unknown", signed with the CPO
            # Sub-CA 2 key, which has no authority over MO certificates; we must not trust it.
            with pytest.raises(OcspError) as caught:
                await client.check(openssl_pki.cert("contract"), openssl_pki.cert("mo_sub2"),
                                   url=url)
            assert caught.value.reason == "responder_not_authorized"


async def test_charger_ocsp_request_data(env: Env):
    """OCPP OCSPRequestData, as a charger sends it in GetCertificateStatus / Authorize."""
    from cryptography.x509 import ocsp

    from certs.hashdata import compute_hash_data

    data = compute_hash_data(env.leaf.certificate, env.sub2).to_ocpp()
    data["issuerNameHash"] = data["issuerNameHash"].upper()
    async with env.client() as client:
        status = await client.check_request_data({**data, "responderURL": env.url},
                                                 issuer=env.sub2)
        assert status.status is OcspCertStatus.GOOD
        assert ocsp.load_der_ocsp_response(status.der).certificate_status is \
            ocsp.OCSPCertStatus.GOOD
        for bad, reason in [({**data, "responderURL": "http://10.0.0.1/ocsp"}, "url_not_allowed"),
                            (data, "no_ocsp_url"),
                            ({**data, "responderURL": env.url, "serialNumber": "%"},
                             "serial_malformed")]:
            with pytest.raises(OcspError) as caught:
                await client.check_request_data(bad)
            assert caught.value.reason == reason
        assert client.requests_sent == 1
