"""The ``[pnc]`` configuration section (env: ``PNC_HUB_PNC__<KEY>``), and the ``[pki]`` one as
the hub's CAs need it (``pki_settings``: for the feature and for ``pnc-hub pki``).

Flat keys so that every one can be set from the environment. Secrets (the OAuth client secret)
never appear in ``repr``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from hub.config import Config, coerce_setting

SIGNERS = ("local", "est")
#: EST path segments (OPCP est.v1): ISO version, and the curves each allows.
EST_ALGORITHMS = {"ISO15118-2": ("secp256r1",), "ISO15118-20": ("secp521r1", "ed448")}
OCSP_UNREACHABLE = ("reject", "accept")


@dataclass(frozen=True)
class PncSettings:
    #: Who signs V2G (SECC) CSRs: the hub's own CPO Sub-CA ("local") or Hubject's EST ("est").
    #: Charging-station certificates are always signed by the hub's CSMS CA.
    v2g_signer: str = "local"
    #: OCSP responder unreachable while authorising a contract: "reject" the contract, or
    #: "accept" it and record a warning (a station notification PncOcspUnavailable).
    ocsp_unreachable: str = "reject"
    #: Renew SECC and charging-station certificates expiring within this many days.
    renew_within_days: int = 30
    #: How often the lifecycle sweep looks for renewals, roots to roll out and stale OCSP.
    lifecycle_interval_seconds: float = 300.0
    #: Lifecycle automation on/off (jobs created by the API still run).
    lifecycle_enabled: bool = True
    #: How often the job runner looks for due jobs (it is also woken by events).
    job_poll_seconds: float = 5.0
    #: After a trigger was accepted, how long to wait for the station's CSR before asking again.
    csr_wait_seconds: float = 600.0
    #: A job that failed this many times is given up (state "failed", reason kept).
    max_attempts: int = 20
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 3600.0
    #: Roll new trust anchors of these types out to every Plug&Charge station.
    auto_rollout: bool = True
    rollout_roots: tuple[str, ...] = ("V2GRootCertificate", "MORootCertificate")
    #: Refresh stored OCSP answers this long before their nextUpdate...
    ocsp_refresh_before_seconds: float = 900.0
    #: ...if a charger asked for them within this many days.
    ocsp_keep_days: int = 7
    #: Budget for Get15118EVCertificate: the EV waits a few seconds for the answer (ISO 15118-2
    #: gives the whole CertificateInstallation exchange 5 s), so the hub answers Failed in time.
    ev_certificate_timeout_seconds: float = 4.0
    #: Timeout of each command the hub sends to a station for Plug&Charge.
    command_timeout_seconds: float = 30.0
    http_timeout_seconds: float = 10.0
    #: Open Plug&Charge (Hubject) OAuth2 client credentials, for the CCP and EST.
    opcp_token_url: str = ""
    opcp_client_id: str = ""
    opcp_client_secret: str = field(default="", repr=False)
    opcp_audience: str = ""
    #: Contract certificate pool base URL (POST {ccp_url}/v1/ccp/signedContractData).
    ccp_url: str = ""
    #: EST base URL (POST {est_url}/.well-known/est/{est_ca}/simpleenroll/{est_iso_version}).
    est_url: str = ""
    est_ca: str = "cpo"
    est_iso_version: str = "ISO15118-2"
    est_algorithm: str = "secp256r1"
    #: Root certificate pool base URL (GET {rcp_url}/v1/root/rootCerts?rootType=v2g|mo), with
    #: the OAuth2 credentials above. Empty: no sync, roots arrive by ``pnc-hub pki import``.
    rcp_url: str = ""
    #: How often the RCP is read (webhooks trigger a sync at once in between).
    rcp_sync_interval_seconds: float = 3600.0
    #: Which root types the sync keeps: V2G and/or MO (OEM roots are of no use to a CPO).
    rcp_root_types: tuple[str, ...] = ("V2G", "MO")
    rcp_attempts: int = 3
    #: HMAC-SHA256 secret of the OPCP webhook endpoint (POST /api/pnc/opcp/webhook). Empty:
    #: the endpoint refuses every call.
    webhook_secret: str = field(default="", repr=False)
    #: Webhooks whose ``timestamp`` is further than this from now are refused (replays).
    webhook_tolerance_seconds: float = 300.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> PncSettings:
        data = dict(data or {})
        hints = get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown [pnc] setting(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, raw in data.items():
            values[key] = coerce_setting(f"pnc.{key}", raw, hints[key])
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.v2g_signer not in SIGNERS:
            raise ValueError(f"[pnc] v2g_signer must be one of {', '.join(SIGNERS)}")
        if self.ocsp_unreachable not in OCSP_UNREACHABLE:
            raise ValueError(f"[pnc] ocsp_unreachable must be one of "
                             f"{', '.join(OCSP_UNREACHABLE)}")
        if self.v2g_signer == "est" and not self.est_url:
            raise ValueError("[pnc] v2g_signer = 'est' needs est_url")
        if self.est_iso_version not in EST_ALGORITHMS:
            raise ValueError(f"[pnc] est_iso_version must be one of {', '.join(EST_ALGORITHMS)}")
        if self.est_algorithm not in EST_ALGORITHMS[self.est_iso_version]:
            raise ValueError(f"[pnc] est_algorithm for {self.est_iso_version} must be one of "
                             f"{', '.join(EST_ALGORITHMS[self.est_iso_version])}")
        if not set(self.rcp_root_types) <= {"V2G", "MO"}:
            raise ValueError("[pnc] rcp_root_types may only name V2G and MO")
        if self.rcp_attempts < 1 or self.webhook_tolerance_seconds <= 0:
            raise ValueError("[pnc] rcp_attempts and webhook_tolerance_seconds must be positive")
        if self.renew_within_days < 1 or self.max_attempts < 1:
            raise ValueError("[pnc] renew_within_days and max_attempts must be at least 1")


def pki_settings(config: Config) -> dict[str, Any]:
    """The ``[pki]`` section, with the OCSP URL derived from ``server.public_url`` when unset."""
    section = dict(config.section("pki"))
    if "ocsp_url" not in section and config.server.public_url:
        section["ocsp_url"] = config.server.public_url.rstrip("/") + "/ocsp"
    if "key_dir" not in section:
        # The CA keys belong with the database that holds their certificates: beside a SQLite
        # file (./pki-keys for the default ./pnc-hub.db), else in the working directory.
        from sqlalchemy import make_url

        url = make_url(config.database.url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            section["key_dir"] = str(Path(url.database).parent / "pki-keys")
    return section
