"""Hub configuration: a TOML file plus ``PNC_HUB_*`` environment variables (env wins).

The core reads the sections it owns (``server``, ``database``, ``ocpp``, ``message_log``) into
typed dataclasses. Every other section (``oicp``, ``pki``, ...) is kept as a plain dict in
``Config.sections`` for the feature that owns it, so the core never needs to know about them.

Environment variables: ``PNC_HUB_<SECTION>__<KEY>`` sets ``[section] key`` (double underscore
between section and key), e.g. ``PNC_HUB_SERVER__PORT=9000``. Two short forms are accepted for the
settings people set most: ``PNC_HUB_DATABASE_URL`` and ``PNC_HUB_PORT``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

ENV_PREFIX = "PNC_HUB_"
UnknownStationPolicy = Literal["reject", "pending", "accept"]


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the key."""


@dataclass
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 9751
    # Some chargers cannot be configured with a path prefix and connect to ws://host/{id}.
    bare_station_path: bool = False
    # TLS termination by the hub itself (security profiles 2 and 3).
    tls_cert: str = ""
    tls_key: str = ""
    # CA bundle for client certificates (security profile 3). Empty = no client certificates.
    tls_client_ca: str = ""
    # True: a client certificate is mandatory on the TLS listener (pure profile 3 deployment).
    tls_require_client_cert: bool = False
    # Printed in logs and used to build URLs the hub hands out (e.g. OCSP, uploads).
    public_url: str = ""
    # Listen backlog: connections the kernel queues before the hub accepts them (reconnect
    # storms arrive all at once; the kernel caps it at net.core.somaxconn).
    backlog: int = 4096
    # Young-generation threshold of Python's cyclic GC for the serving process (0 = Python's
    # default of 700); see hub/gc_tuning.py for why and what it measured.
    gc_young_threshold: int = 20_000
    # True: the anonymous health check (/, /healthCheck-01) also says how many stations are
    # connected. Default: only callers with a bearer token see the count.
    health_details: bool = False
    # Log format of `pnc-hub serve`: "text" (one line per record) or "json" (one object a line).
    log_format: Literal["text", "json"] = "text"


@dataclass
class DatabaseConfig:
    url: str = "sqlite+aiosqlite:///./pnc-hub.db"
    echo: bool = False
    pool_size: int = 10
    # SQLite durability: FULL fsyncs the WAL on every commit (survives power loss);
    # NORMAL survives a crash of the process. Group commit keeps either fast.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # Group commit: how many unit-of-work operations share one transaction at most.
    group_commit_max_batch: int = 500


@dataclass
class OcppConfig:
    unknown_stations: UnknownStationPolicy = "reject"
    heartbeat_interval: int = 300
    # Interval a Pending station is told to retry BootNotification after.
    pending_retry_interval: int = 60
    # WebSocket ping interval (seconds); a peer that misses a pong is disconnected.
    websocket_ping_interval: float = 60.0
    max_frame_bytes: int = 65536
    # Default timeout of commands sent to stations.
    call_timeout: float = 30.0
    # Validate our own responses against the OCPP schemas too (costs CPU; on in tests).
    validate_responses: bool = False
    # How often the stations' last-seen times are written (heartbeats cost no write each).
    last_seen_flush_seconds: float = 30.0
    # How long a local id tag lookup is reused (0 = always read the database).
    id_tag_cache_seconds: float = 5.0

    # -- protections (hub/ocpp_server/admission.py, flow_control.py) --
    # Most WebSocket connections held at once; beyond, handshakes get HTTP 503 + Retry-After.
    # 0 = the process's file descriptor limit (ulimit -n) minus 1024 kept for everything else.
    max_connections: int = 0
    # Seconds from TCP connect until the HTTP request (the WebSocket upgrade) must be in; a
    # connection that has not sent it by then is answered 408 and closed (hub/late_handshake.py).
    upgrade_timeout: float = 30.0
    # Seconds an idle HTTP keep-alive connection is kept, and that a handshake's admission may
    # take to be read from the database (else 503 + Retry-After).
    handshake_timeout: float = 10.0
    # Handshakes waiting for their admission read at once; beyond, 503 + Retry-After at once.
    max_pending_handshakes: int = 5000
    # Stations whose admission is read with one query (all handshakes waiting share queries).
    admission_batch: int = 500
    # Group-commit units queued (the database is behind) above which handshakes get 503 and
    # the busiest stations' sockets are not read until it drains (flow_control.BackPressure).
    db_queue_limit: int = 1000
    # A station that sent more frames than this in the last second counts as busy then.
    busy_messages_per_second: float = 2.0
    # Retry-After of a 503 handshake, in seconds; each answer adds a random 0..retry_after
    # so that refused chargers do not come back as one wave.
    retry_after: int = 5
    # Per-station message rate: sustained CALLs per second and burst; a CALL over the limit is
    # answered with CALLERROR GenericError (details.retryAfter) unprocessed. 0 = no limit.
    # The burst is large on purpose: a charger back online flushes its queued transaction
    # messages back to back, and some give a message up after a few CALLERRORs.
    rate_limit: float = 20.0
    rate_burst: int = 1000
    # Seconds one send to a station may wait for its socket to drain (a charger that stopped
    # reading); then the socket is aborted. aiohttp bounds what is buffered meanwhile.
    send_timeout: float = 30.0
    # Unsent bytes a station's socket may hold before the hub gives up on it (aborts).
    send_buffer_bytes: int = 256 * 1024


@dataclass
class MessageLogConfig:
    enabled: bool = True
    max_queue: int = 5000
    batch_size: int = 500
    flush_interval: float = 0.5
    # Actions that are not logged (heartbeats are the bulk of traffic and carry no facts).
    skip_actions: list[str] = field(default_factory=lambda: ["Heartbeat"])
    # From this fraction of max_queue on, routine frames are sampled (hub/ocpp_server/
    # message_log.py): one exchange in sample_every is kept; 1 = never sample.
    shed_at: float = 0.5
    sample_every: int = 10


@dataclass
class FilesConfig:
    """Diagnostics uploads and firmware images (hub.files)."""

    data_dir: str = "./pnc-hub-files"
    # One diagnostics/log upload; one firmware image; everything stored together.
    max_upload_bytes: int = 100 * 1024 * 1024
    max_firmware_bytes: int = 1024 * 1024 * 1024
    quota_bytes: int = 10 * 1024 * 1024 * 1024
    # Base URL chargers reach the hub's HTTP routes at (upload and firmware locations).
    # Empty: server.public_url, else the scheme and host the API request came in on.
    public_url: str = ""
    # Where the hub asks for diagnostics when the caller names no location: http or ftp.
    default_transport: Literal["http", "ftp"] = "http"
    # A request not finished by then is timed_out (its upload/download token expires with it).
    diagnostics_timeout: float = 3600.0
    firmware_timeout: float = 86400.0
    sweep_interval: float = 15.0
    # True: GET /firmware/{name} without a token (the seed Broker's behaviour). Default: only
    # with the per-request token the hub puts in the location, or an admin bearer token.
    firmware_public: bool = False
    # The FTP server for chargers that only upload over FTP (off by default).
    ftp_enabled: bool = False
    ftp_host: str = "0.0.0.0"
    ftp_port: int = 2121
    # Passive data ports, e.g. "30000-30009" or "30000,30002"; empty = any free port.
    ftp_passive_ports: str = ""
    # Host announced in ftp:// locations and PASV answers (NAT); empty = the public URL's host.
    ftp_public_host: str = ""


@dataclass
class ClusterConfig:
    """Several hub nodes on one PostgreSQL database, joined by NATS (hub/cluster/)."""

    # Empty: one node, no NATS (today's behaviour). E.g. "nats://127.0.0.1:4222"; several
    # servers of one NATS cluster separated by commas.
    nats_url: str = ""
    # This node's name in presence entries and logs; empty = host name and process id.
    node_id: str = ""
    # Prefix of every NATS subject and key-value bucket the hubs use: hubs with the same name
    # form one cluster (several estates, or tests, can share a NATS server).
    name: str = "pnc-hub"
    # Seconds a node may be silent on NATS before it counts as stopped: the node holding the
    # presence-sweep lease then deletes its stations' presence entries and records their
    # connections as ended (entries are written once per connect, never refreshed).
    presence_ttl: float = 60.0
    # Seconds a cross-node request may wait for NATS on top of the command's own timeout.
    request_margin: float = 2.0
    # Seconds between attempts to take over work that runs once per cluster (a lease held
    # by a node that died is free as soon as PostgreSQL sees its connection close).
    lease_check_seconds: float = 5.0


@dataclass
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    ocpp: OcppConfig = field(default_factory=OcppConfig)
    message_log: MessageLogConfig = field(default_factory=MessageLogConfig)
    files: FilesConfig = field(default_factory=FilesConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    dev: bool = False
    # Sections owned by feature packages, passed through untouched.
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """A feature's raw section (empty dict when absent)."""
        return self.sections.get(name, {})


_CORE_SECTIONS = {
    "server": ServerConfig,
    "database": DatabaseConfig,
    "ocpp": OcppConfig,
    "message_log": MessageLogConfig,
    "files": FilesConfig,
    "cluster": ClusterConfig,
}
_SHORT_ENV = {"DATABASE_URL": ("database", "url"), "PORT": ("server", "port")}


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Config:
    """Build the configuration: defaults < TOML file < environment < explicit overrides (CLI)."""
    env = dict(os.environ if env is None else env)
    raw: dict[str, Any] = {}
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = env[ENV_PREFIX + "CONFIG"]
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc

    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = name[len(ENV_PREFIX):]
        if key in _SHORT_ENV:
            section, option = _SHORT_ENV[key]
        elif key == "DEV":
            raw["dev"] = value
            continue
        elif "__" in key:
            section, option = key.split("__", 1)
            section, option = section.lower(), option.lower()
        else:
            continue
        raw.setdefault(section, {})[option] = value

    for section, values in (overrides or {}).items():
        if section == "dev":
            raw["dev"] = values
            continue
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})

    config = Config(dev=coerce_setting("dev", raw.pop("dev", False), bool))
    for section, cls in _CORE_SECTIONS.items():
        values = raw.pop(section, {})
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table")
        setattr(config, section, _build_section(section, cls, values))
    config.sections = {k: v for k, v in raw.items() if isinstance(v, dict)}
    _validate(config)
    return config


def _build_section(section: str, cls: type, values: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting [{section}] {key}")
        kwargs[key] = coerce_setting(f"{section}.{key}", value, hints[key])
    return cls(**kwargs)


def coerce_setting(name: str, value: Any, hint: Any) -> Any:
    """Turn TOML values and environment strings into the declared type, or fail naming the key.

    Features use it for their own sections, so every section reads values the same way."""
    origin = getattr(hint, "__origin__", None)
    try:
        if origin is Literal:
            allowed = get_args(hint)
            if value not in allowed:
                raise ValueError(f"must be one of {', '.join(map(str, allowed))}")
            return value
        if hint is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError("must be true or false")
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError("must be an integer")
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value)
        if origin is list or origin is tuple:
            if isinstance(value, str):
                items = [item.strip() for item in value.split(",") if item.strip()]
            elif get_args(hint)[:1] == (str,):
                items = [str(item) for item in value]
            else:
                items = list(value)
            return items if origin is list else tuple(items)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value for {name}: {value!r} ({exc})") from exc
    return value


def _validate(config: Config) -> None:
    if not 0 < config.server.port < 65536:
        raise ConfigError(f"invalid value for server.port: {config.server.port}")
    if bool(config.server.tls_cert) != bool(config.server.tls_key):
        raise ConfigError("server.tls_cert and server.tls_key must be set together")
    if config.server.tls_client_ca and not config.server.tls_cert:
        raise ConfigError("server.tls_client_ca needs server.tls_cert and server.tls_key")
    if config.ocpp.heartbeat_interval <= 0:
        raise ConfigError("ocpp.heartbeat_interval must be positive")
    if config.message_log.max_queue <= 0:
        raise ConfigError("message_log.max_queue must be positive")
    ocpp = config.ocpp
    if ocpp.max_connections < 0 or ocpp.max_pending_handshakes <= 0 \
            or ocpp.admission_batch <= 0 or ocpp.db_queue_limit <= 0:
        raise ConfigError("ocpp.max_connections must be >= 0; ocpp.max_pending_handshakes, "
                          "ocpp.admission_batch and ocpp.db_queue_limit must be positive")
    if ocpp.upgrade_timeout <= 0:
        raise ConfigError("ocpp.upgrade_timeout must be positive")
    if ocpp.handshake_timeout <= 0 or ocpp.send_timeout < 0 or ocpp.retry_after < 0 \
            or ocpp.send_buffer_bytes <= 0:
        raise ConfigError("ocpp.handshake_timeout and ocpp.send_buffer_bytes must be "
                          "positive; ocpp.send_timeout and ocpp.retry_after must be >= 0")
    if ocpp.rate_limit < 0 or (ocpp.rate_limit > 0 and ocpp.rate_burst < 1):
        raise ConfigError("ocpp.rate_limit must be >= 0 and ocpp.rate_burst >= 1")
    if config.server.backlog <= 0:
        raise ConfigError("server.backlog must be positive")
    files = config.files
    for name in ("max_upload_bytes", "max_firmware_bytes", "quota_bytes"):
        if getattr(files, name) <= 0:
            raise ConfigError(f"files.{name} must be positive")
    for name in ("diagnostics_timeout", "firmware_timeout", "sweep_interval"):
        if getattr(files, name) <= 0:
            raise ConfigError(f"files.{name} must be positive")
    if not 0 <= files.ftp_port < 65536:
        raise ConfigError(f"invalid value for files.ftp_port: {files.ftp_port}")
    parse_port_list(files.ftp_passive_ports, "files.ftp_passive_ports")
    cluster = config.cluster
    if cluster.presence_ttl < 3 or cluster.request_margin <= 0 or cluster.lease_check_seconds <= 0:
        raise ConfigError("cluster.presence_ttl must be >= 3; cluster.request_margin and "
                          "cluster.lease_check_seconds must be positive")
    if not cluster.name or not all(c.isalnum() or c in "-_" for c in cluster.name):
        raise ConfigError(f"invalid value for cluster.name: {cluster.name!r} (letters, digits, "
                          "'-' and '_')")


def parse_port_list(text: str, name: str) -> list[int]:
    """"30000-30009,30020" -> the ports; empty -> []."""
    ports: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        low, _, high = item.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ConfigError(f"invalid value for {name}: {text!r}") from None
        if not 0 < first <= last < 65536 or last - first > 10000:
            raise ConfigError(f"invalid value for {name}: {text!r}")
        ports.extend(range(first, last + 1))
    return ports


def section_values(section: str, fields_of: type, raw: dict[str, Any],
                   bounds: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """A feature's ``[section]`` as keyword arguments of its settings dataclass ``fields_of``:
    unknown keys refused, every value read as every section reads it (``coerce_setting``),
    numbers within ``bounds`` (inclusive); each error names the key."""
    hints = get_type_hints(fields_of)
    unknown = sorted(set(raw) - set(hints))
    if unknown:
        raise ConfigError(f"unknown [{section}] setting(s): {', '.join(unknown)}")
    values = {name: coerce_setting(f"{section}.{name}", value, hints[name])
              for name, value in raw.items()}
    for name, (low, high) in bounds.items():
        if name in values and not low <= values[name] <= high:
            raise ConfigError(f"[{section}] {name} must be between {low} and {high}")
    return values
