"""PKI settings: the subset of the hub's configuration that ``certs`` needs.

The hub builds this from its TOML/env config (``PkiSettings.from_mapping(config["pki"])``); the
standalone CLI reads the same ``[pki]`` table. Secrets (the key passphrase) never appear in
``repr`` so that a logged settings object cannot leak them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PkiSettings:
    #: O of the SECC leaves and the CPO CAs; CSRs must carry exactly this organisation.
    cpo_name: str = "pnc-hub Dev CPO"
    #: C of the certificates the dev hierarchy creates.
    country: str = "DE"
    #: Organisation required in charging-station (TLS client) CSRs; defaults to ``cpo_name``.
    station_organization: str | None = None
    #: The hub's own OCSP responder: written into the AIA of every certificate the hub issues.
    ocsp_url: str | None = "http://localhost:9751/ocsp"
    #: Directory of the CA private keys (files 0600, directory 0700).
    key_dir: Path = Path("pki-keys")
    #: Encrypts keys at rest and decrypts imported PKCS#8 keys. Never logged.
    key_passphrase: str | None = field(default=None, repr=False)
    #: Validity of SECC leaves; also the cap (ISO 15118 wants short-lived SECC certificates).
    secc_validity_days: int = 60
    #: Validity of charging-station TLS client certificates; also the cap.
    station_validity_days: int = 365
    #: V2G CSRs must name an EVSE/SECC ID the hub knows for the requesting station.
    require_station_binding: bool = True
    #: OCSP responder URL prefixes the hub may contact (``ocsp_url`` is always allowed).
    ocsp_allowed_urls: tuple[str, ...] = ()
    #: Also allow the OCSP URLs in the AIA of the roots and sub-CAs the hub trusts (those that
    #: chain to a trust anchor in the store): Hubject's responders work out of the box, and a
    #: URL only a charger or an untrusted certificate names is still refused.
    ocsp_allow_trusted_aia: bool = True
    ocsp_timeout_seconds: float = 5.0
    ocsp_attempts: int = 3
    #: nextUpdate the responder puts into its answers, i.e. how long clients may cache them.
    ocsp_response_validity_seconds: int = 3600
    #: Upper bound for caching an OCSP answer, whatever its nextUpdate says.
    ocsp_cache_max_seconds: int = 86400
    #: "soft": an unreachable OCSP responder does not block an otherwise valid certificate (the
    #: result says the check was skipped); "hard": it fails validation with CertChainError.
    ocsp_failure_policy: str = "soft"

    @property
    def organization_for_stations(self) -> str:
        return self.station_organization or self.cpo_name

    def allowed_ocsp_urls(self) -> tuple[str, ...]:
        own = (self.ocsp_url,) if self.ocsp_url else ()
        return own + tuple(self.ocsp_allowed_urls)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> PkiSettings:
        """Build from a config table; unknown keys are an error so typos do not pass silently."""
        data = dict(data or {})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown [pki] setting(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key == "key_dir":
                values[key] = Path(raw)
            elif key == "ocsp_allowed_urls":
                values[key] = (raw,) if isinstance(raw, str) else tuple(raw)
            elif key in {"secc_validity_days", "station_validity_days", "ocsp_attempts",
                         "ocsp_response_validity_seconds", "ocsp_cache_max_seconds"}:
                values[key] = int(raw)
            elif key == "ocsp_timeout_seconds":
                values[key] = float(raw)
            elif key in {"require_station_binding", "ocsp_allow_trusted_aia"}:
                values[key] = raw if isinstance(raw, bool) else str(raw).lower() in {"1", "true",
                                                                                      "yes"}
            else:
                values[key] = raw
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.secc_validity_days < 1 or self.station_validity_days < 1:
            raise ValueError("certificate validity must be at least one day")
        if self.ocsp_failure_policy not in {"soft", "hard"}:
            raise ValueError("ocsp_failure_policy must be 'soft' or 'hard'")
        if self.ocsp_attempts < 1:
            raise ValueError("ocsp_attempts must be at least 1")

    def replace(self, **changes: Any) -> PkiSettings:
        return dataclasses.replace(self, **changes)
