"""Trust anchors from the OPCP root certificate pool: a new MO root announced by webhook is
fetched from the pool (a real aiohttp double standing for Hubject), trusted, and installed on a
real `ocpp` 2.0.1 station, so a contract of that mobility operator is authorised; when it is
revoked, the hub stops trusting it and deletes it from the station. Forged, unsigned and stale
webhooks are refused; the scheduled sync retries a failing pool."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import jsonschema
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.v201 import call as call201

from certs import profiles as P
from certs.roles import CertificateRole as R
from certs.store import fingerprint_of
from pnc import trust_sync
from pnc.models import PncRcpRoot
from tests.harness import RunningHub, wait_for
from tests.pnc.chargers import Wallet, connect
from tests.pnc.doubles import Opcp, _document
from tests.pnc.harness import add_id_tag, add_station, pem, pnc_of

SECRET = "whsec-test-" + uuid.uuid4().hex
SECC = "DE*PNC*E0420*1"
EMAID = "DEHUBC00000420"
WEBHOOK = "/api/pnc/opcp/webhook"


def _settings(opcp: Opcp, **extra: Any) -> dict[str, Any]:
    return {**opcp.hub_settings(), "rcp_url": opcp.url, "webhook_secret": SECRET,
            "rcp_attempts": 3, **extra}


@dataclass
class MoPki:
    """A mobility operator's own PKI, unknown to the hub: root, Sub-CA 1, Sub-CA 2."""

    root: x509.Certificate
    sub1: x509.Certificate
    sub2: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey
    sub1_key: ec.EllipticCurvePrivateKey
    sub2_key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str = "Test eMSP", ocsp_url: str | None = None) -> MoPki:
        now = dt.datetime.now(dt.UTC) - P.BACKDATE
        made: list[tuple[x509.Certificate, ec.EllipticCurvePrivateKey]] = []
        for profile, cn in ((P.MO_ROOT, "Root CA"), (P.MO_SUB_CA1, "Sub-CA 1"),
                            (P.MO_SUB_CA2, "Sub-CA 2")):
            key = ec.generate_private_key(ec.SECP256R1())
            issuer = made[-1] if made else None
            made.append((P.build_certificate(
                profile, P.build_name(f"{name} MO {cn}", name, "DE", "MO"), key.public_key(),
                issuer_certificate=issuer[0] if issuer else None,
                issuer_key=issuer[1] if issuer else key, not_before=now,
                not_after=now + profile.validity, ocsp_url=ocsp_url if issuer else None), key))
        return cls(made[0][0], made[1][0], made[2][0], made[0][1], made[1][1], made[2][1])

    def contract(self, emaid: str, ocsp_url: str | None = None) -> list[x509.Certificate]:
        """[leaf, Sub-CA 2, Sub-CA 1], as an EV presents it."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC) - P.BACKDATE
        leaf = P.build_certificate(P.CONTRACT, P.build_name(emaid, "Test eMSP", "DE", "MO"),
                                   key.public_key(), issuer_certificate=self.sub2,
                                   issuer_key=self.sub2_key, not_before=now,
                                   not_after=now + dt.timedelta(days=30), ocsp_url=ocsp_url)
        return [leaf, self.sub2, self.sub1]


def event(event_type: str, entry: dict[str, Any], *,
          timestamp: dt.datetime | None = None) -> bytes:
    """An OPCP root event (payload 1.0.1), checked against the reference when present."""
    cert = x509.load_der_x509_certificate(base64.b64decode(entry["caCertificate"]))
    names = [(oid, cert.subject.get_attributes_for_oid(oid)) for oid in (
        x509.NameOID.COMMON_NAME, x509.NameOID.DOMAIN_COMPONENT,
        x509.NameOID.ORGANIZATION_NAME, x509.NameOID.COUNTRY_NAME)]
    short = {x509.NameOID.COMMON_NAME: "CN", x509.NameOID.DOMAIN_COMPONENT: "DC",
             x509.NameOID.ORGANIZATION_NAME: "O", x509.NameOID.COUNTRY_NAME: "C"}
    dn = ", ".join(f"{short[oid]}={attrs[0].value}" for oid, attrs in names if attrs)
    body = {"timestamp": (timestamp or dt.datetime.now(dt.UTC)).isoformat().replace(
                "+00:00", "Z"),
            "eventId": str(uuid.uuid4()), "eventType": event_type,
            "xsdMsgDefNamespace": "urn:iso:15118:2:2013:MsgDef",
            "payload": {"rootCertificateId": entry["rootCertificateId"],
                        "distinguishedName": dn, "rootType": entry["rootType"],
                        "commonName": entry["commonName"],
                        "rootSerialNumber": entry["rootIssuerSerialNumber"],
                        "signatureAlgorithm": "secp256r1",
                        "fingerprintSHA256": entry["fingerprint"]}}
    document = _document("webhook.payload.v1.json")
    if document is not None:
        operation = document["paths"]["/customer.defined.root.event.webhook.path"]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        jsonschema.validate(body, schema, format_checker=jsonschema.FormatChecker())
    return json.dumps(body).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_webhook(running: RunningHub, body: bytes, signature: str | None
                       ) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hubject-Signature"] = signature
    async with aiohttp.ClientSession() as http, http.post(
            running.http_url + WEBHOOK, data=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def _authorize(cp: Any, chain: list[x509.Certificate]) -> tuple[str, str]:
    answer = await cp.call(call201.Authorize(id_token={"id_token": EMAID, "type": "eMAID"},
                                             certificate=pem(*chain)))
    return answer.certificate_status, answer.id_token_info["status"]


async def _states(running: RunningHub) -> dict[str, str]:
    async with running.hub.engine.connect() as conn:
        rows = (await conn.execute(sa.select(PncRcpRoot.fingerprint, PncRcpRoot.state))).all()
    return {r.fingerprint: r.state for r in rows}


async def test_a_new_mo_root_by_webhook_then_its_revocation(pnc_hub_factory: Any,
                                                            opcp: Opcp) -> None:
    running = await pnc_hub_factory(pnc=_settings(opcp, auto_rollout=True))
    pnc = pnc_of(running)
    await add_station(running, "CP-RCP1", [SECC])
    await add_id_tag(running, EMAID)
    emsp = MoPki.create()
    mo_root = emsp.root
    contract = emsp.contract(EMAID)
    wallet = Wallet("CP-RCP1", SECC)
    async with connect(running, "CP-RCP1", wallet, version="2.0.1") as cp:
        await cp.boot()
        assert await _authorize(cp, contract) == ("CertChainError", "Invalid")

        entry = opcp.publish_root(mo_root, "MO")
        status, answer = await post_webhook(running, body := event("root.cert.added", entry),
                                            sign(body))
        assert (status, answer["status"]) == (200, "accepted")
        await wait_for(lambda: mo_root in wallet.roots.get("MORootCertificate", []))
        assert await _authorize(cp, contract) == ("Accepted", "Accepted")
        assert (await _states(running))[fingerprint_of(mo_root)] == "trusted"
        assert {r.get("rootType") for r in opcp.rcp_requests} == {"v2g", "mo"}
        # The same event again (a webhook retry) is acknowledged, not acted on twice.
        assert (await post_webhook(running, body, sign(body)))[1]["status"] == "duplicate"

        opcp.pool.remove(entry)
        status, answer = await post_webhook(running, body := event("root.cert.revoked", entry),
                                            sign(body))
        assert (status, answer["withdrawn"]) == (200, [fingerprint_of(mo_root)])
        await wait_for(lambda: mo_root not in wallet.roots.get("MORootCertificate", []))
        assert await _authorize(cp, contract) == ("CertChainError", "Invalid")
        record = await pnc.store.get_certificate(fingerprint_of(mo_root))
        assert record is not None and record.revoked_at is not None
        assert (await _states(running))[fingerprint_of(mo_root)] == "revoked"
        # A later sync that still saw the root listed would not bring it back.
        opcp.publish_root(mo_root, "MO")
        assert (await pnc.trust.sync()).added == []
        assert await _authorize(cp, contract) == ("CertChainError", "Invalid")


async def test_forged_unsigned_and_stale_webhooks_are_refused(pnc_hub_factory: Any,
                                                              opcp: Opcp) -> None:
    running = await pnc_hub_factory(pnc=_settings(opcp))
    assert opcp.pki is not None
    entry = opcp.publish_root(opcp.pki[R.MO_ROOT], "MO")
    body = event("root.cert.added", entry)
    await wait_for(lambda: pnc_of(running).trust.last)  # the start-up sync is over
    requests_before = len(opcp.rcp_requests)

    status, answer = await post_webhook(running, body, None)
    assert (status, answer["error"]) == (401, "signature_missing")
    status, answer = await post_webhook(running, body, sign(body, "not-the-secret"))
    assert (status, answer["error"]) == (401, "signature_invalid")
    tampered = body.replace(b"root.cert.added", b"root.cert.revoked")
    status, answer = await post_webhook(running, tampered, sign(body))
    assert (status, answer["error"]) == (401, "signature_invalid")
    old = event("root.cert.added", entry,
                timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    status, answer = await post_webhook(running, old, sign(old))
    assert (status, answer["error"], answer["field"]) == (401, "timestamp_outside_window",
                                                          "timestamp")
    bad = json.dumps({**json.loads(body), "eventType": "root.cert.stolen"}).encode()
    status, answer = await post_webhook(running, bad, sign(bad))
    assert (status, answer["field"]) == (400, "eventType")
    garbage = b"{not json"
    status, answer = await post_webhook(running, garbage, sign(garbage))
    assert (status, answer["field"]) == (400, "body")
    # None of them made the hub read the pool again.
    assert len(opcp.rcp_requests) == requests_before


async def test_no_secret_no_webhooks(pnc_hub_factory: Any, opcp: Opcp) -> None:
    running = await pnc_hub_factory(pnc={**_settings(opcp), "webhook_secret": ""})
    assert opcp.pki is not None
    body = event("root.cert.added", opcp.publish_root(opcp.pki[R.V2G_ROOT], "V2G"))
    status, answer = await post_webhook(running, body, sign(body, ""))
    assert (status, answer["error"]) == (403, "webhook_not_configured")


async def test_the_scheduled_sync_retries_and_takes_v2g_roots(pnc_hub_factory: Any,
                                                              opcp: Opcp) -> None:
    assert opcp.pki is not None
    v2g_root = opcp.pki[R.V2G_ROOT]
    opcp.publish_root(v2g_root, "V2G")
    opcp.rcp_failures = 1  # the first read answers 503: tenacity tries again
    running = await pnc_hub_factory(pnc=_settings(opcp, rcp_sync_interval_seconds=3600))
    pnc = pnc_of(running)
    await wait_for(lambda: pnc.trust.last.get("added"))
    assert pnc.trust.last["added"] == [fingerprint_of(v2g_root)]
    assert v2g_root in pnc.anchors[str(R.V2G_ROOT)]
    assert opcp.rcp_failures == 0 and len(opcp.rcp_requests) >= 3
    # Gone from the pool: withdrawn at the next sync (here asked for through the API).
    opcp.pool.clear()
    async with aiohttp.ClientSession() as http, http.post(
            running.http_url + "/api/pnc/rcp/sync", headers=running.auth) as resp:
        assert resp.status == 200
        assert (await resp.json())["withdrawn"] == {fingerprint_of(v2g_root): "removed"}
    assert v2g_root not in pnc.anchors[str(R.V2G_ROOT)]


async def test_an_expiring_pool_root_is_withdrawn_from_the_stations(
        pnc_hub_factory: Any, opcp: Opcp, monkeypatch: pytest.MonkeyPatch) -> None:
    running = await pnc_hub_factory(pnc=_settings(opcp, auto_rollout=True))
    pnc = pnc_of(running)
    await add_station(running, "CP-RCP2", ["DE*PNC*E0421*1"])
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    short_lived = P.build_certificate(
        P.MO_ROOT, P.build_name("Short MO Root CA", "Short eMSP", "DE", "MO"), key.public_key(),
        issuer_certificate=None, issuer_key=key, not_before=now - dt.timedelta(minutes=5),
        not_after=now + dt.timedelta(hours=1))
    fingerprint = fingerprint_of(short_lived)
    opcp.publish_root(short_lived, "MO")
    wallet = Wallet("CP-RCP2", "DE*PNC*E0421*1")

    async def state_after_a_sync() -> str | None:  # each look is a sync, as scheduled ones
        await pnc.trust.sync()
        return (await _states(running)).get(fingerprint)

    async with connect(running, "CP-RCP2", wallet, version="2.0.1") as cp:
        await cp.boot()
        await wait_for(lambda: state_after_a_sync(), interval=0.5)
        await wait_for(lambda: short_lived in wallet.roots.get("MORootCertificate", []))
        # The trust sync's clock moves two hours on (the hub runs in this process), past the
        # root's notAfter: no test waits for a real certificate to expire.
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
        monkeypatch.setattr(trust_sync, "utcnow", lambda: later)
        assert await state_after_a_sync() == "expired"
        await wait_for(lambda: short_lived not in wallet.roots.get("MORootCertificate", []))
        assert short_lived not in pnc.anchors[str(R.MO_ROOT)]
