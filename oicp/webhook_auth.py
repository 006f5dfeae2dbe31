"""Who may call the webhooks: Hubject, and nobody else.

Three checks, each used when configured, all of which must pass:

- **mutual TLS** (the hub terminates TLS, ``[server] tls_client_ca`` verifies the chain): the
  request must carry a verified client certificate whose CN or DNS name matches one of
  ``webhook_client_cert_names`` (glob patterns, e.g. ``*.hubject.com``). Names are mandatory
  because the same CA bundle may also admit chargers (security profile 3);
- **IP allow-list** (``webhook_allowed_ips``, CIDRs); behind a proxy listed in
  ``webhook_trusted_proxies`` the client address is taken from ``X-Forwarded-For``;
- **shared secret** in ``webhook_secret_header`` (a TLS-terminating proxy adds it).

Fail closed: outside ``--dev`` the webhooks answer 403 until at least one check is configured;
in dev mode, with none configured, plain HTTP is accepted.
"""

from __future__ import annotations

import fnmatch
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from oicp.config import OicpConfig


@dataclass(frozen=True)
class Denied:
    status: int  # 401 credentials missing, 403 credentials wrong / not configured
    reason: str


def client_address(request: web.Request, trusted_proxies: list[str]) -> str | None:
    peer = request.remote
    if not trusted_proxies or peer is None or not _in(peer, trusted_proxies):
        return peer
    forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",")
                 if p.strip()]
    # The right-most address not added by one of our own proxies is the real client.
    for address in reversed(forwarded):
        if not _in(address, trusted_proxies):
            return address
    return peer


def _in(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def certificate_names(cert: dict[str, Any]) -> list[str]:
    names = [value for rdn in cert.get("subject", ()) for key, value in rdn
             if key == "commonName"]
    names += [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    return names


def check(request: web.Request, config: OicpConfig) -> Denied | None:
    """None when the caller may use the webhooks."""
    if not config.webhook_auth_configured:
        if config.dev:
            return None
        return Denied(403, "webhook authentication is not configured ([oicp] "
                           "webhook_require_client_cert, webhook_allowed_ips or "
                           "webhook_shared_secret)")
    if config.webhook_require_client_cert:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport \
            else None
        cert = ssl_object.getpeercert() if ssl_object is not None else None
        if not cert:
            return Denied(401, "a verified TLS client certificate is required")
        names = certificate_names(cert)
        if not any(fnmatch.fnmatch(name.lower(), pattern.lower()) for name in names
                   for pattern in config.webhook_client_cert_names):
            return Denied(403, "the client certificate is not one of Hubject's")
    if config.webhook_allowed_ips:
        address = client_address(request, config.webhook_trusted_proxies)
        if address is None or not _in(address, config.webhook_allowed_ips):
            return Denied(403, f"address {address} is not allowed to call the webhooks")
    if config.webhook_shared_secret:
        given = request.headers.get(config.webhook_secret_header)
        if given is None:
            return Denied(401, f"header {config.webhook_secret_header} is required")
        if not hmac.compare_digest(given.encode(), config.webhook_shared_secret.encode()):
            return Denied(403, f"wrong {config.webhook_secret_header}")
    return None
