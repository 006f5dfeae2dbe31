"""The Plug&Charge runtime: one per hub process, built after the hub's runtime exists."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509

from certs.hierarchy import ensure_dev_pki
from certs.issuing import CertificateIssuer
from certs.keys import KeyStore
from certs.ocsp_client import OcspClient
from certs.ocsp_responder import CA_ROLES, OcspResponder
from certs.roles import CertificateRole
from certs.settings import PkiSettings
from certs.validation import ChainValidator
from hub.certificate_store import DatabaseCertificateStore
from hub.feature_api import Hub
from pnc import ocsp_allow
from pnc.charger import PncCommands
from pnc.jobs import Jobs
from pnc.lifecycle import Lifecycle
from pnc.opcp import ContractCertificatePool, EstClient, TokenProvider
from pnc.rcp import RootCertificatePool
from pnc.settings import PncSettings
from pnc.signers import EstSigner
from pnc.signing import Signing
from pnc.trust_sync import TrustSync

log = logging.getLogger(__name__)

#: Roles whose certificates decide what the issuer, validator and responder look like.
PKI_ROLES = tuple(dict.fromkeys([*CA_ROLES, CertificateRole.OCSP_SIGNER]))
CONTRACT_ANCHOR_ROLES = (str(CertificateRole.MO_ROOT), str(CertificateRole.V2G_ROOT))


class Pnc:
    def __init__(self, hub: Hub, settings: PncSettings, pki: PkiSettings) -> None:
        self.hub = hub
        self.settings = settings
        self.pki = pki
        self.store = DatabaseCertificateStore(hub.sessions)
        self.keystore = KeyStore(pki.key_dir, pki.key_passphrase)
        self.http: aiohttp.ClientSession | None = None
        # Validation (Authorize) caches OCSP answers in memory; GetCertificateStatus and the
        # refresh keep theirs in the database and always ask the responder afresh.
        self.ocsp = OcspClient.from_settings(pki)
        self.ocsp_fetch = OcspClient(
            allowed_urls=pki.allowed_ocsp_urls(), timeout_seconds=pki.ocsp_timeout_seconds,
            attempts=pki.ocsp_attempts, cache_max_seconds=0)
        self.issuer = CertificateIssuer(self.store, pki, {})
        self.validator = ChainValidator({}, ocsp=self.ocsp, ocsp_failure_policy="soft")
        self.contract_anchors: set[x509.Certificate] = set()
        #: The trust anchors in force, by role (revoked ones left out).
        self.anchors: dict[str, list[x509.Certificate]] = {}
        self.responder: OcspResponder | None = None
        self.tokens: TokenProvider | None = None
        self.ccp: ContractCertificatePool | None = None
        self.est_signer: EstSigner | None = None
        self.signing = Signing(self)
        self.commands = PncCommands(self)
        self.jobs = Jobs(self)
        self.lifecycle = Lifecycle(self)
        self._pki_signature: Any = None
        #: OCSP URLs of trusted CAs that are not allowed (warned about at start-up).
        self.ocsp_refused: dict[str, list[str]] = {}
        self.trust = TrustSync(self, None)

    def session(self) -> aiohttp.ClientSession:
        if self.http is None or self.http.closed:
            self.http = aiohttp.ClientSession()
        return self.http

    async def start(self) -> None:
        if self.hub.config.dev:
            created = await ensure_dev_pki(self.store, self.keystore, self.pki)
            if created is not None:
                log.info("dev PKI created (V2G, MO, OEM and CSMS roots) in %s",
                         self.keystore.directory)
        await self.reload_pki()
        s = self.settings
        if s.opcp_token_url:
            self.tokens = TokenProvider(self.session, s.opcp_token_url, s.opcp_client_id,
                                        s.opcp_client_secret, s.opcp_audience,
                                        timeout=s.http_timeout_seconds)
        if s.ccp_url:
            self.ccp = ContractCertificatePool(self.session, s.ccp_url, self.tokens)
        if s.v2g_signer == "est":
            self.est_signer = EstSigner(EstClient(
                self.session, s.est_url, self.tokens, ca=s.est_ca,
                iso_version=s.est_iso_version, algorithm=s.est_algorithm,
                timeout=s.http_timeout_seconds), self.store)
        if s.rcp_url:
            self.trust = TrustSync(self, RootCertificatePool(
                self.session, s.rcp_url, self.tokens, timeout=s.http_timeout_seconds,
                attempts=s.rcp_attempts))
        self.jobs.start()
        self.trust.start()
        if s.lifecycle_enabled:
            self.lifecycle.start()

    async def stop(self) -> None:
        await self.trust.stop()
        await self.lifecycle.stop()
        await self.jobs.stop()
        await self.ocsp.close()
        await self.ocsp_fetch.close()
        if self.http is not None:
            await self.http.close()

    async def reload_pki(self, *, force: bool = False) -> bool:
        """Rebuild the issuer, the validator's anchors and the OCSP responder when the CAs or
        anchors in the store changed (e.g. ``pnc-hub pki import`` by another process)."""
        records = []
        for role in PKI_ROLES:
            records.extend(await self.store.find_certificates(role=str(role)))
        signature = sorted((r.fingerprint, r.revoked_at is not None) for r in records)
        if not force and signature == self._pki_signature:
            return False
        self._pki_signature = signature
        self.issuer = await CertificateIssuer.load(self.store, self.keystore, self.pki)
        anchors = await ChainValidator.load_anchors(self.store)
        self.anchors = anchors
        self.validator = ChainValidator(anchors, ocsp=self.ocsp, ocsp_failure_policy="soft")
        self.contract_anchors = {c for role in CONTRACT_ANCHOR_ROLES
                                 for c in anchors.get(role, ())}
        allow = await ocsp_allow.build(self, [c for certs in anchors.values() for c in certs])
        self.ocsp.allow(allow.urls)
        self.ocsp_fetch.allow(allow.urls)
        self.ocsp_refused = allow.refused
        ocsp_allow.warn(allow)
        self.responder = await OcspResponder.from_store(self.store, self.keystore, self.pki)
        log.info("Plug&Charge PKI loaded: issuers %s, OCSP for %d CA(s)",
                 ", ".join(k.value for k in self.issuer.authorities) or "none",
                 len(self.responder.identities))
        return True


@dataclass
class PncHolder:
    """Set at setup, filled once the hub runtime exists (routes are added before that)."""

    pnc: Pnc | None = None

    def get(self) -> Pnc:
        if self.pnc is None:
            raise web.HTTPServiceUnavailable(text="Plug&Charge is starting")
        return self.pnc


PNC = web.AppKey("pnc", PncHolder)
