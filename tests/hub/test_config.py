"""Configuration: defaults < TOML < environment < command line, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, load_config


def test_layers_and_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "hub.toml"
    toml.write_text("""
dev = false
[server]
port = 9000
host = "127.0.0.1"
[ocpp]
unknown_stations = "pending"
heartbeat_interval = 120
[message_log]
skip_actions = ["Heartbeat", "MeterValues"]
[oicp]
operator_id = "DE*ABC"
""")
    config = load_config(toml, env={})
    assert (config.server.port, config.server.host) == (9000, "127.0.0.1")
    assert config.ocpp.unknown_stations == "pending"
    assert config.message_log.skip_actions == ["Heartbeat", "MeterValues"]
    assert config.section("oicp") == {"operator_id": "DE*ABC"}
    assert config.database.url.startswith("sqlite+aiosqlite:///")

    env = {"PNC_HUB_SERVER__PORT": "9100", "PNC_HUB_DATABASE_URL": "sqlite+aiosqlite:///x.db",
           "PNC_HUB_OCPP__HEARTBEAT_INTERVAL": "60", "PNC_HUB_OICP__BASE_URL": "https://qa",
           "PNC_HUB_DEV": "true", "PNC_HUB_MESSAGE_LOG__SKIP_ACTIONS": "Heartbeat",
           "UNRELATED": "1"}
    config = load_config(toml, env=env)
    assert config.server.port == 9100
    assert config.database.url == "sqlite+aiosqlite:///x.db"
    assert config.ocpp.heartbeat_interval == 60
    assert config.section("oicp") == {"operator_id": "DE*ABC", "base_url": "https://qa"}
    assert config.dev is True
    assert config.message_log.skip_actions == ["Heartbeat"]

    config = load_config(toml, env=env, overrides={"server": {"port": 9200, "host": None}})
    assert (config.server.port, config.server.host) == (9200, "127.0.0.1")

    config = load_config(env={"PNC_HUB_CONFIG": str(toml)})
    assert config.server.port == 9000


@pytest.mark.parametrize("env, names", [
    ({"PNC_HUB_SERVER__PORT": "abc"}, "server.port"),
    ({"PNC_HUB_SERVER__PORT": "70000"}, "server.port"),
    ({"PNC_HUB_OCPP__UNKNOWN_STATIONS": "maybe"}, "ocpp.unknown_stations"),
    ({"PNC_HUB_SERVER__NO_SUCH": "1"}, "[server] no_such"),
    ({"PNC_HUB_SERVER__TLS_CERT": "cert.pem"}, "tls_key"),
    ({"PNC_HUB_DATABASE__ECHO": "sometimes"}, "database.echo"),
])
def test_errors_name_the_key(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(env=env)
    assert names in str(error.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, env={})
