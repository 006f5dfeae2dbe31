"""The [oicp] section: validation, and an inactive feature without an OperatorID."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from ocpp.v16 import call

from hub.config import ConfigError
from hub.db.models import OutboxMessage
from oicp.config import load_oicp_config
from tests.harness import connect_station
from tests.oicp.conftest import remote_start_body, session_id, webhook


@pytest.mark.parametrize(("section", "message"), [
    ({"operator_idd": "DE*ABC"}, "unknown setting"),
    ({"operator_id": "Germany"}, "not an OICP OperatorID"),
    ({"operator_id": "DE*ABC", "environment": "staging"}, "qa or prod"),
    ({"operator_id": "DE*ABC", "client_cert": "a.pem"}, "set together"),
    ({"operator_id": "DE*ABC", "providers": ["nope!"]}, "ProviderID"),
    ({"operator_id": "DE*ABC", "webhook_allowed_ips": ["10.0.0.300/8"]}, "webhook address"),
    ({"operator_id": "DE*ABC", "webhook_require_client_cert": True}, "cert_names"),
    ({"operator_id": "DE*ABC", "timezone": "Mars/Olympus"}, "time zone"),
    ({"operator_id": "DE*ABC", "retry_attempts": "many"}, "retry_attempts"),
    ({"operator_id": "DE*ABC", "evses": [{"evse_id": "x"}]}, "evses"),
])
def test_invalid_settings_are_named(section, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_oicp_config(section)


def test_environment_strings_are_coerced() -> None:
    config = load_oicp_config({"operator_id": "DE*ABC", "providers": "DE*8EO, DE-ICE",
                               "webhook_shared_secret": "x", "notifications": "false",
                               "request_timeout": "3.5", "environment": "prod"})
    assert config.providers == ["DE*8EO", "DE-ICE"] and config.notifications is False
    assert config.request_timeout == 3.5
    assert config.url == "https://service.hubject.com/api/oicp"
    assert config.rate_limit("PushEvseStatus") == 2000


async def test_inactive_without_operator_id(hub_factory) -> None:
    running = await hub_factory(dev=True)
    _, ack = await webhook(running, "start", remote_start_body(session_id()))
    assert ack["Result"] is False and ack["StatusCode"]["Code"] == "320"
    async with connect_station(running, "CP-1") as station:
        await station.boot()
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError",
                                                   status="Available"))
    async with running.hub.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(
            OutboxMessage))).scalar_one() == 0
