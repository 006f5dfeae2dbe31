"""Open Plug&Charge (Hubject OPCP 1.0) clients: the OAuth2 client-credentials token, the
contract certificate pool (CCP) and the EST enrollment of SECC certificates.

- Token: ``POST {opcp_token_url}`` with client_id / client_secret / audience /
  grant_type=client_credentials; cached until shortly before ``expires_in`` runs out, one fetch
  at a time, dropped on a 401 so the next call fetches a new one.
- CCP: ``POST {ccp_url}/v1/ccp/signedContractData`` with ``certificateInstallationReq`` (the EV's
  base64 EXI, forwarded untouched) and ``xsdMsgDefNamespace``; the answer's
  ``CCPResponse.emaidContent[0].messageDef.certificateInstallationRes`` is the EXI for the EV.
  ``alwaysReturnEXI: true`` asks for an ISO 15118 answer even when there is no contract (404).
- EST (RFC 7030 as OPCP profiles it): ``POST {est_url}/.well-known/est/{ca}/simpleenroll/{iso}``
  with the base64 DER CSR (application/pkcs10), answered with a base64 PKCS#7 certs-only;
  ``GET {est_url}/{ca}/cacerts/{iso}/{algorithm}/`` gives the CA chain.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)

ISO2_NAMESPACE = "urn:iso:15118:2:2013:MsgDef"
ISO20_NAMESPACE = "urn:iso:15118:20:2020:MsgDef"
#: What OPCP's EST reference (est.v1) names the -20 namespace.
EST_ISO20_NAMESPACE = "urn:iso:15118:20:2020:MsgDef"
#: iso15118SchemaVersion as chargers send it -> the CCP's xsdMsgDefNamespace.
NAMESPACES = {
    "urn:iso:15118:2:2013:msgdef": ISO2_NAMESPACE,
    "urn:iso:15118:2:2010:msgdef": ISO2_NAMESPACE,
    "iso15118-2": ISO2_NAMESPACE,
    "15118-2": ISO2_NAMESPACE,
    "urn:iso:15118:20:2020:msgdef": ISO20_NAMESPACE,
    "urn:iso:std:iso:15118:-20:commonmessages": ISO20_NAMESPACE,
    "iso15118-20": ISO20_NAMESPACE,
    "15118-20": ISO20_NAMESPACE,
}


def namespace_for(schema_version: str) -> str | None:
    """The CCP namespace for an OCPP ``iso15118SchemaVersion``, None if unsupported."""
    return NAMESPACES.get(schema_version.strip().lower())


class OpcpError(Exception):
    """An OPCP exchange failed. ``reason`` is a short code, ``transient`` says a retry may help."""

    def __init__(self, reason: str, message: str, *, transient: bool = False,
                 status: int | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.transient = transient
        self.status = status


class _Transient(Exception):
    pass


SessionGetter = Callable[[], aiohttp.ClientSession]


class TokenProvider:
    def __init__(self, session: SessionGetter, url: str, client_id: str, client_secret: str,
                 audience: str, *, timeout: float = 10.0) -> None:
        self._session = session
        self.url = url
        self._client_id = client_id
        self._client_secret = client_secret
        self._audience = audience
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:  # never the secret
        return f"TokenProvider({self.url!r}, client_id={self._client_id!r})"

    def invalidate(self) -> None:
        self._token = None

    async def token(self) -> str:
        if self._token is not None and time.monotonic() < self._expires:
            return self._token
        async with self._lock:
            if self._token is not None and time.monotonic() < self._expires:
                return self._token
            body = {"client_id": self._client_id, "client_secret": self._client_secret,
                    "audience": self._audience, "grant_type": "client_credentials"}
            self.fetches += 1
            try:
                async with self._session().post(self.url, json=body,
                                                timeout=self._timeout) as resp:
                    data = await resp.json(content_type=None)
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise OpcpError("token_unreachable", f"token endpoint failed: {exc!r}",
                                transient=True) from exc
            if status != 200 or not isinstance(data, dict) or not data.get("access_token"):
                detail = data.get("error_description") if isinstance(data, dict) else None
                raise OpcpError("token_refused", f"token endpoint answered {status}"
                                f"{': ' + str(detail) if detail else ''}",
                                transient=status >= 500, status=status)
            lifetime = float(data.get("expires_in") or 300)
            # Renew a little early: a token that expires in flight earns a 401.
            self._expires = time.monotonic() + max(lifetime - min(60.0, lifetime / 10), 1.0)
            self._token = str(data["access_token"])
            return self._token


async def authorised_headers(tokens: TokenProvider | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {await tokens.token()}"} if tokens else {}


@dataclass(frozen=True)
class CcpAnswer:
    #: The CCP found a contract (200) or answered an ISO negative response (404).
    found: bool
    exi_response: str
    emaid: str | None = None


class ContractCertificatePool:
    def __init__(self, session: SessionGetter, base_url: str,
                 tokens: TokenProvider | None) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.requests = 0

    async def signed_contract_data(self, exi_request: str, namespace: str, *,
                                   timeout: float) -> CcpAnswer:
        """Forward the EV's CertificateInstallationReq; retried while the budget lasts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout(timeout):
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(_Transient), stop=stop_after_attempt(3),
                    wait=wait_exponential(multiplier=0.1, max=1.0), reraise=True,
                ):
                    with attempt:
                        return await self._post(exi_request, namespace,
                                                max(deadline - loop.time(), 0.1))
        except _Transient as exc:
            raise OpcpError("ccp_unavailable", str(exc), transient=True) from None
        except TimeoutError:
            raise OpcpError("ccp_timeout", f"no answer within the EV's {timeout:g}s budget",
                            transient=True) from None
        raise AssertionError("unreachable")

    async def _post(self, exi_request: str, namespace: str, remaining: float) -> CcpAnswer:
        body = {"certificateInstallationReq": exi_request, "xsdMsgDefNamespace": namespace}
        for retry_auth in (True, False):
            headers = {**await authorised_headers(self.tokens), "alwaysReturnEXI": "true"}
            self.requests += 1
            try:
                async with self._session().post(
                    f"{self.base_url}/v1/ccp/signedContractData", json=body, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=remaining),
                ) as resp:
                    status = resp.status
                    data = await resp.json(content_type=None) if status in (200, 400, 404) \
                        else None
            except (aiohttp.ClientError, ValueError) as exc:
                raise _Transient(f"CCP request failed: {exc!r}") from exc
            if status == 401 and retry_auth and self.tokens is not None:
                self.tokens.invalidate()
                continue
            break
        if status >= 500:
            raise _Transient(f"CCP answered {status}")
        exi, emaid = _exi_of(data)
        if status == 200 and exi:
            return CcpAnswer(True, exi, emaid)
        if status == 404 and exi:
            return CcpAnswer(False, exi, emaid)
        messages = data.get("errorMessages") if isinstance(data, dict) else None
        raise OpcpError("ccp_refused", f"CCP answered {status}"
                        f"{': ' + '; '.join(map(str, messages)) if messages else ''}",
                        status=status)


def _exi_of(data: Any) -> tuple[str | None, str | None]:
    try:
        content = data["CCPResponse"]["emaidContent"][0]["messageDef"]
    except (KeyError, IndexError, TypeError):
        return None, None
    exi = content.get("certificateInstallationRes")
    return (exi if isinstance(exi, str) and exi else None), content.get("emaid")


class EstClient:
    def __init__(self, session: SessionGetter, base_url: str, tokens: TokenProvider | None, *,
                 ca: str = "cpo", iso_version: str = "ISO15118-2", algorithm: str = "secp256r1",
                 timeout: float = 10.0) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.ca = ca
        self.iso_version = iso_version
        self.algorithm = algorithm
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ca_certs: list[x509.Certificate] | None = None

    async def simple_enroll(self, csr_der: bytes) -> list[x509.Certificate]:
        url = f"{self.base_url}/.well-known/est/{self.ca}/simpleenroll/{self.iso_version}"
        if self.iso_version == "ISO15118-20":  # the ISO version's message namespace, too
            url += "?" + urlencode({"xsdMsgDefNamespace": EST_ISO20_NAMESPACE})
        body = base64.b64encode(csr_der)
        return await self._request("POST", url, body, {
            "Content-Type": "application/pkcs10", "Content-Transfer-Encoding": "base64"})

    async def ca_certs(self) -> list[x509.Certificate]:
        if self._ca_certs is None:
            url = f"{self.base_url}/{self.ca}/cacerts/{self.iso_version}/{self.algorithm}/"
            self._ca_certs = await self._request("GET", url, None,
                                                 {"Content-Transfer-Encoding": "base64"})
        return self._ca_certs

    async def _request(self, method: str, url: str, body: bytes | None,
                       headers: dict[str, str]) -> list[x509.Certificate]:
        for retry_auth in (True, False):
            try:
                async with self._session().request(
                    method, url, data=body, timeout=self._timeout,
                    headers={**headers, **await authorised_headers(self.tokens)},
                ) as resp:
                    status = resp.status
                    raw = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise OpcpError("est_unreachable", f"EST {method} failed: {exc!r}",
                                transient=True) from exc
            if status == 401 and retry_auth and self.tokens is not None:
                self.tokens.invalidate()
                continue
            break
        if status != 200:
            text = raw[:200].decode("utf-8", "replace")
            raise OpcpError("est_refused", f"EST answered {status}: {text}",
                            transient=status >= 500 or status == 429, status=status)
        return parse_pkcs7(raw)


def parse_pkcs7(raw: bytes) -> list[x509.Certificate]:
    """Certificates of a base64 (or raw DER, or PEM) PKCS#7 certs-only message."""
    data = raw.strip()
    try:
        if data.startswith(b"-----BEGIN"):
            return pkcs7.load_pem_pkcs7_certificates(data)
        try:
            der = base64.b64decode(b"".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            der = data
        return pkcs7.load_der_pkcs7_certificates(der)
    except ValueError as exc:
        raise OpcpError("est_malformed", "the EST answer is not a PKCS#7 certs-only message"
                        ) from exc
