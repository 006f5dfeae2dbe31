"""Open Plug&Charge test doubles as small aiohttp apps on real ports: the OAuth2 token
endpoint, the contract certificate pool, the EST enrollment and the root certificate pool, on
a test PKI made by ``certs`` (standing for Hubject's). Requests are checked against the OPCP
reference JSON when present."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from certs.hierarchy import DevPki, create_dev_pki
from certs.issuing import CertificateIssuer, CertificateKind
from certs.keys import KeyStore
from certs.roles import CertificateRole as R
from certs.settings import PkiSettings
from certs.store import MemoryStore

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs" / "opcp-1.0" / "reference"
if not SPECS.is_dir():
    SPECS = Path("/work/shared/specs/opcp-1.0/reference")
#: An ISO 15118-2 "no contract" CertificateInstallationRes, as the CCP reference shows it.
NO_CONTRACT_EXI = "gJgCCo9xtdUEfZHBAMIagnkDGyuToktzm6MLY2EDm6MLo6uYhhggEAJAIAQDMACAADMACAADMAGYAA=="


def _schema(file: str, name: str) -> dict[str, Any] | None:
    path = SPECS / file
    if not path.is_file():
        return None
    document = json.loads(path.read_text())
    schema = document["components"]["schemas"][name]
    return {**schema, "components": document["components"]}


@dataclass
class Opcp:
    """Token endpoint + CCP + EST in one app (Hubject serves them under one audience)."""

    client_id: str = "pnc-hub-test"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    token_lifetime: int = 3600
    contracts: dict[str, str] = field(default_factory=dict)
    ccp_delay: float = 0.0
    ccp_failures: int = 0
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    ccp_requests: list[dict[str, Any]] = field(default_factory=list)
    est_requests: int = 0
    est_paths: list[str] = field(default_factory=list)
    #: EST enrolments wait for this to be set (a CA that hangs); set by default.
    est_answer: asyncio.Event = field(default_factory=asyncio.Event)
    #: The root certificate pool: RootCertV2 entries, as the RCP lists them.
    pool: list[dict[str, Any]] = field(default_factory=list)
    rcp_requests: list[dict[str, Any]] = field(default_factory=list)
    rcp_failures: int = 0
    store: MemoryStore | None = None
    keystore: KeyStore | None = None
    pki: DevPki | None = None
    issuer: CertificateIssuer | None = None
    runner: web.AppRunner | None = None
    url: str = ""

    def __post_init__(self) -> None:
        self.est_answer.set()

    async def start(self, tmp: Path) -> Opcp:
        settings = PkiSettings(cpo_name="pnc-hub Test CPO", key_dir=tmp / "hubject-keys",
                               ocsp_url=None, require_station_binding=False)
        store = self.store = MemoryStore()
        keystore = self.keystore = KeyStore(settings.key_dir)
        self.pki = await create_dev_pki(store, keystore, settings)
        self.issuer = await CertificateIssuer.load(store, keystore, settings)
        app = web.Application()
        app.router.add_post("/oauth/token", self.token)
        app.router.add_post("/v1/ccp/signedContractData", self.signed_contract_data)
        app.router.add_post("/.well-known/est/{ca}/simpleenroll/{iso}", self.simple_enroll)
        app.router.add_get("/{ca}/cacerts/{iso}/{algorithm}/", self.ca_certs)
        app.router.add_get("/v1/root/rootCerts", self.root_certs)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore
        return self

    async def stop(self) -> None:
        self.est_answer.set()  # a held enrolment would hold the shutdown
        if self.runner is not None:
            await self.runner.cleanup()

    def hub_settings(self) -> dict[str, Any]:
        return {"opcp_token_url": f"{self.url}/oauth/token", "opcp_client_id": self.client_id,
                "opcp_client_secret": self.client_secret, "opcp_audience": self.url,
                "ccp_url": self.url, "est_url": self.url}

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and token in self.tokens

    async def token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.token_requests += 1
        if body.get("grant_type") != "client_credentials" or not body.get("audience"):
            return web.json_response({"error": "invalid_request",
                                      "error_description": "grant_type/audience"}, status=400)
        if (body.get("client_id"), body.get("client_secret")) != (self.client_id,
                                                                  self.client_secret):
            return web.json_response({"error": "access_denied",
                                      "error_description": "Unauthorized"}, status=401)
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return web.json_response({"access_token": token, "scope": "ccpservice pkigateway",
                                  "expires_in": self.token_lifetime, "token_type": "Bearer"})

    async def signed_contract_data(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        body = await request.json()
        schema = _schema("ccp.v1.json", "GetSignedContractDataRequest")
        if schema is not None:
            try:
                jsonschema.validate(body, schema)
            except jsonschema.ValidationError as exc:
                return web.json_response({"errorMessages": [exc.message]}, status=400)
        self.ccp_requests.append({"body": body, "headers": dict(request.headers)})
        if self.ccp_failures > 0:
            self.ccp_failures -= 1
            return web.Response(status=503)
        if self.ccp_delay:
            await asyncio.sleep(self.ccp_delay)
        exi = self.contracts.get(body["certificateInstallationReq"])
        if exi is None:
            return web.json_response({"CCPResponse": {"emaidContent": [
                {"messageDef": {"certificateInstallationRes": NO_CONTRACT_EXI}}]}}, status=404)
        return web.json_response({"CCPResponse": {"emaidContent": [{"messageDef": {
            "certificateInstallationRes": exi, "emaid": "DEPNCC00000001", "metaData": ""}}]}})

    async def simple_enroll(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        if request.match_info["ca"] != "cpo" or \
                request.headers.get("Content-Type") != "application/pkcs10":
            return web.Response(status=400, text="cpo CA and application/pkcs10 expected")
        self.est_requests += 1
        self.est_paths.append(request.path_qs)
        document = _document("est.v1.json")
        if document is not None:  # iso-version and xsdMsgDefNamespace as the reference has them
            params = {p["name"]: p["schema"] for p in document["paths"][
                "/.well-known/est/{ca}/simpleenroll/{iso-version}"]["parameters"]}
            namespace = request.query.get("xsdMsgDefNamespace",
                                          params["xsdMsgDefNamespace"]["default"])
            if request.match_info["iso"] not in params["iso-version"]["enum"] or \
                    namespace not in params["xsdMsgDefNamespace"]["enum"]:
                return web.Response(status=400, text="iso-version / xsdMsgDefNamespace")
        body = await request.read()
        await self.est_answer.wait()
        try:
            csr = x509.load_der_x509_csr(base64.b64decode(body))
        except ValueError:
            return web.Response(status=400, text="not a base64 DER PKCS#10")
        assert self.issuer is not None
        issued = await self.issuer.issue_from_csr(csr, kind=CertificateKind.V2G)
        # The leaf only: the client must fetch the CA chain from cacerts, as with Hubject.
        body = base64.b64encode(pkcs7.serialize_certificates([issued.certificate], Encoding.DER))
        return web.Response(body=body, headers={
            "Content-Type": "application/pkcs7-mime; smime-type=certs-only",
            "Content-Transfer-Encoding": "base64"})

    async def ca_certs(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        assert self.pki is not None
        certs = [self.pki[R.CPO_SUB_CA2], self.pki[R.CPO_SUB_CA1], self.pki[R.V2G_ROOT]]
        body = base64.b64encode(pkcs7.serialize_certificates(certs, Encoding.DER))
        return web.Response(body=body, headers={
            "Content-Type": "application/pkcs7-mime; smime-type=certs-only",
            "Content-Transfer-Encoding": "base64"})

    def publish_root(self, certificate: x509.Certificate, root_type: str) -> dict[str, Any]:
        """List a root in the pool (as the RCP operator does); its RootCertV2 entry."""
        der = certificate.public_bytes(Encoding.DER)
        entry = {"rootCertificateId": str(uuid.uuid4()), "rootType": root_type,
                 "caCertificate": base64.b64encode(der).decode(),
                 "distinguishedName": certificate.subject.rfc4514_string(),
                 "commonName": certificate.subject.get_attributes_for_oid(
                     x509.NameOID.COMMON_NAME)[0].value,
                 "rootIssuerSerialNumber": format(certificate.serial_number, "x"),
                 "validFrom": certificate.not_valid_before_utc.isoformat(),
                 "validTo": certificate.not_valid_after_utc.isoformat(),
                 "fingerprint": hashlib.sha256(der).hexdigest()}
        self.pool.append(entry)
        return entry

    async def root_certs(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        root_type = request.query.get("rootType")
        document = _document("rcp.v1.json")
        if document is not None:  # the query parameter as the reference declares it
            (param,) = [p for p in document["paths"]["/v1/root/rootCerts"]["get"]["parameters"]
                        if p["name"] == "rootType"]
            if root_type is not None and root_type not in param["schema"]["enum"]:
                return web.json_response({"errorMessages": ["rootType"]}, status=400)
        self.rcp_requests.append(dict(request.query))
        if self.rcp_failures > 0:
            self.rcp_failures -= 1
            return web.Response(status=503)
        roots = [e for e in self.pool
                 if root_type is None or e["rootType"].lower() == root_type]
        return web.json_response({"RootCertificateCollection": {"rootCertificates": roots}})


def _document(file: str) -> dict[str, Any] | None:
    path = SPECS / file
    return json.loads(path.read_text()) if path.is_file() else None
