"""The ``[oicp]`` configuration section: who we are at Hubject, how to reach it, and how the
webhooks Hubject calls are authenticated.

Example (TOML)::

    [oicp]
    operator_id = "DE*ABC"
    operator_name = "ACME Charging"
    environment = "qa"                      # qa | prod (or set base_url)
    client_cert = "/etc/pnc-hub/hubject.crt"
    client_key = "/etc/pnc-hub/hubject.key"
    ca_bundle = "/etc/pnc-hub/hubject-ca.pem"
    providers = ["DE*8EO", "DE*ICE"]        # EMPs allowed to call the webhooks; empty = any
    webhook_allowed_ips = ["10.1.0.0/16"]   # behind a TLS-terminating proxy
    webhook_shared_secret = "..."           # sent by the proxy in webhook_secret_header
    hotline_phone_number = "+4930123456"

Environment: ``PNC_HUB_OICP__OPERATOR_ID=DE*ABC`` and so on (lists comma-separated).
Without ``operator_id`` the feature is inactive: nothing is queued or pushed and the webhooks
answer "Service not available".
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.config import ConfigError, coerce_setting

BASE_URLS = {
    "qa": "https://service-qa.hubject.com/api/oicp",
    "prod": "https://service.hubject.com/api/oicp",
}

# Per-minute limits Hubject enforces (DESIGN.md); a 429 still backs off on top of these.
DEFAULT_RATE_LIMITS = {
    "PushEvseStatus": 2000,
    "PushEvseData": 375,
    "ChargeDetailRecord": 350,
    "AuthorizeStart": 200,
    "AuthorizeStop": 200,
    "AuthorizeRemoteStart": 100,
    "ChargingNotifications": 100,
    "PushPricingProductData": 375,
    "PushEVSEPricing": 375,
}

# Patterns from the OICP 2.3 data types (cpo-openapi.yaml).
OPERATOR_ID = re.compile(r"^(([A-Za-z]{2}\*?[A-Za-z0-9]{3})|(\+?[0-9]{1,3}\*[0-9]{3}))$")
PROVIDER_ID = re.compile(r"^([A-Za-z]{2}\-?[A-Za-z0-9]{3}|[A-Za-z]{2}[\*|-]?[A-Za-z0-9]{3})$")
PHONE = re.compile(r"^\+[0-9]{5,15}$")


@dataclass
class OicpConfig:
    operator_id: str = ""
    operator_name: str = ""
    environment: str = "qa"
    base_url: str = ""
    client_cert: str = ""
    client_key: str = ""
    ca_bundle: str = ""
    request_timeout: float = 20.0
    # Hubject wants date/times with the charge point's offset; used where a site has none.
    timezone: str = "UTC"

    # Webhooks (Hubject -> hub). All configured checks must pass.
    providers: list[str] = field(default_factory=list)
    webhook_require_client_cert: bool = False
    webhook_client_cert_names: list[str] = field(default_factory=list)
    webhook_allowed_ips: list[str] = field(default_factory=list)
    webhook_trusted_proxies: list[str] = field(default_factory=list)
    webhook_shared_secret: str = ""
    webhook_secret_header: str = "X-Hubject-Webhook-Secret"
    # The whole webhook must be answered within 10 s (Hubject); the charger gets less.
    webhook_command_timeout: float = 8.0
    webhook_deadline: float = 9.5
    reservation_default_minutes: int = 15
    # A remote start the charger did not turn into a transaction within this is dropped.
    remote_start_expiry: float = 180.0

    # Authorisation of RFID cards unknown locally through AuthorizeStart/Stop.
    authorize_remote: bool = True
    authorize_timeout: float = 5.0
    authorization_cache_seconds: float = 600.0

    # Charging notifications (Start, Progress, End, Error).
    notifications: bool = True
    progress_interval: float = 300.0

    # Outbox worker.
    poll_interval: float = 1.0
    retry_initial: float = 1.0
    retry_max: float = 300.0
    retry_attempts: int = 5
    # A lane that keeps failing (Hubject unreachable) logs one warning per this many seconds;
    # the attempts in between are logged at DEBUG and counted in the next warning.
    retry_warning_interval: float = 600.0
    status_batch_size: int = 500
    rate_limits: dict[str, int] = field(default_factory=dict)
    # Finished outbox rows are kept this long (for inspection), then deleted.
    outbox_retention_days: float = 7.0
    # After a restart, EVSEs whose station has not reconnected within this are pushed Unknown.
    offline_grace_seconds: float = 120.0

    # EVSE data defaults for what the sites model does not say (operator-wide).
    hotline_phone_number: str = ""
    accessibility: str = "Free publicly accessible"
    authentication_modes: list[str] = field(default_factory=lambda: ["NFC RFID Classic",
                                                                     "REMOTE"])
    payment_options: list[str] = field(default_factory=lambda: ["Contract"])
    value_added_services: list[str] = field(default_factory=lambda: ["Reservation"])
    renewable_energy: bool = False
    calibration_law_data_availability: str = "Not Available"
    # Per EVSE or station (key: EvseID or station id; the EvseID wins): Local, External or
    # Not Available, where it differs from the default above (Eichrecht: what the meter shows).
    calibration_law_data: dict[str, str] = field(default_factory=dict)
    # CDR CalibrationLawVerificationInfo per EvseID or station id (OICP field names:
    # CalibrationLawCertificateID, PublicKey, MeteringSignatureUrl,
    # MeteringSignatureEncodingFormat, SignedMeteringValuesVerificationInstruction).
    calibration_law_verification: dict[str, dict[str, str]] = field(default_factory=dict)
    # "PnC" is advertised for an EVSE whose station holds a valid SECC certificate; this map
    # (key: EvseID or station id) forces it on (true) or off (false).
    plug_and_charge: dict[str, bool] = field(default_factory=dict)
    is_open_24_hours: bool = True
    dynamic_info_available: str = "true"
    is_hubject_compatible: bool = True
    push_evse_data_on_start: bool = False
    # After a Sites API write that changes EVSE master data (sites, chargers, ports), push a
    # fullLoad built when it is sent; edits within the delay share one push.
    push_evse_data_on_change: bool = True
    evse_data_change_delay: float = 10.0
    # Reconcile Hubject with the Sites model: a fullLoad when none was sent for this long
    # (hours; 0 = never). Counted from start-up, then from the last one delivered.
    evse_data_full_load_hours: float = 24.0

    # EvseID -> station/connector for deployments without the Sites API:
    # [[oicp.evses]] evse_id = "DE*ABC*E1*1", station_id = "CP-1", connector_id = 1
    evses: list[dict[str, Any]] = field(default_factory=list)

    # Dynamic pricing (PushPricingProductData / PushEVSEPricing), pushed at start when set:
    # [oicp.pricing] with "products" (PricingProductData bodies) and "evse_pricing".
    pricing: dict[str, Any] = field(default_factory=dict)

    dev: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.operator_id)

    @property
    def url(self) -> str:
        return (self.base_url or BASE_URLS[self.environment]).rstrip("/")

    def calibration_law_for(self, evse_id: str, station_id: str) -> str:
        return self.calibration_law_data.get(evse_id, self.calibration_law_data.get(
            station_id, self.calibration_law_data_availability))

    def plug_and_charge_for(self, evse_id: str, station_id: str, holds_secc: bool) -> bool:
        forced = self.plug_and_charge.get(evse_id, self.plug_and_charge.get(station_id))
        return holds_secc if forced is None else bool(forced)

    def rate_limit(self, operation: str) -> int:
        return int(self.rate_limits.get(operation, DEFAULT_RATE_LIMITS.get(operation, 100)))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def needs_client_certificate(self) -> bool:
        """Hubject (any https URL) requires mutual TLS; a local double over http does not."""
        return not self.client_cert and not self.url.startswith("http://")

    @property
    def webhook_auth_configured(self) -> bool:
        return bool(self.webhook_require_client_cert or self.webhook_allowed_ips
                    or self.webhook_shared_secret)


_DICTS = {"rate_limits", "pricing", "calibration_law_data", "plug_and_charge",
          "calibration_law_verification"}
#: CalibrationLawVerificationType fields and their OICP 2.3 lengths.
VERIFICATION_FIELDS = {"CalibrationLawCertificateID": 100, "PublicKey": 1000,
                       "MeteringSignatureUrl": 200, "MeteringSignatureEncodingFormat": 50,
                       "SignedMeteringValuesVerificationInstruction": 400}
CALIBRATION_LAW = ("Local", "External", "Not Available")


def load_oicp_config(section: dict[str, Any], dev: bool = False) -> OicpConfig:
    """Build and check the section; a bad value raises ConfigError naming the key."""
    known = get_type_hints(OicpConfig)
    kwargs: dict[str, Any] = {}
    for key, value in section.items():
        if key not in known or key == "dev":
            raise ConfigError(f"unknown setting [oicp] {key}")
        kwargs[key] = _coerce(key, value, known[key])
    config = OicpConfig(**kwargs, dev=dev)
    _validate(config)
    return config


def _coerce(key: str, value: Any, hint: Any) -> Any:
    try:
        if key == "evses":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ValueError("must be a list of tables")
            return value
        if key in _DICTS:
            if not isinstance(value, dict):
                raise ValueError("must be a table")
            return value
    except ValueError as exc:
        raise ConfigError(f"invalid value for oicp.{key}: {value!r} ({exc})") from exc
    return coerce_setting(f"oicp.{key}", value, hint)


def _validate(config: OicpConfig) -> None:
    if config.operator_id and not OPERATOR_ID.match(config.operator_id):
        raise ConfigError(f"oicp.operator_id {config.operator_id!r} is not an OICP OperatorID")
    if config.environment not in BASE_URLS:
        raise ConfigError("oicp.environment must be qa or prod (or set oicp.base_url)")
    if bool(config.client_cert) != bool(config.client_key):
        raise ConfigError("oicp.client_cert and oicp.client_key must be set together")
    for provider in config.providers:
        if not PROVIDER_ID.match(provider):
            raise ConfigError(f"oicp.providers: {provider!r} is not an OICP ProviderID")
    for network in [*config.webhook_allowed_ips, *config.webhook_trusted_proxies]:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ConfigError(f"oicp webhook address {network!r}: {exc}") from None
    if config.hotline_phone_number and not PHONE.match(config.hotline_phone_number):
        raise ConfigError("oicp.hotline_phone_number must look like +4930123456")
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"oicp.timezone {config.timezone!r} is not a known time zone") from None
    if config.webhook_require_client_cert and not config.webhook_client_cert_names:
        raise ConfigError("oicp.webhook_require_client_cert needs webhook_client_cert_names "
                          "(the server's client CA may also admit chargers)")
    if not 0 < config.webhook_command_timeout < config.webhook_deadline <= 10:
        raise ConfigError("oicp: need 0 < webhook_command_timeout < webhook_deadline <= 10")
    for key, value in {"": config.calibration_law_data_availability,
                       **config.calibration_law_data}.items():
        if value not in CALIBRATION_LAW:
            raise ConfigError(f"oicp.calibration_law_data{'.' + key if key else ''}: "
                              f"{value!r} is not one of {', '.join(CALIBRATION_LAW)}")
    for key, info in config.calibration_law_verification.items():
        if not isinstance(info, dict):
            raise ConfigError(f"oicp.calibration_law_verification.{key} must be a table")
        for name, value in info.items():
            if name not in VERIFICATION_FIELDS:
                raise ConfigError(f"oicp.calibration_law_verification.{key}.{name} is not "
                                  f"one of {', '.join(VERIFICATION_FIELDS)}")
            if not isinstance(value, str) or len(value) > VERIFICATION_FIELDS[name]:
                raise ConfigError(f"oicp.calibration_law_verification.{key}.{name} must be "
                                  f"a string of at most {VERIFICATION_FIELDS[name]} characters")
    for key, value in config.plug_and_charge.items():
        if not isinstance(value, bool):
            raise ConfigError(f"oicp.plug_and_charge.{key} must be true or false")
    for entry in config.evses:
        if not {"evse_id", "station_id", "connector_id"} <= entry.keys():
            raise ConfigError("oicp.evses entries need evse_id, station_id and connector_id")
    if config.retry_attempts < 1 or config.retry_initial <= 0:
        raise ConfigError("oicp.retry_attempts >= 1 and oicp.retry_initial > 0 are required")
