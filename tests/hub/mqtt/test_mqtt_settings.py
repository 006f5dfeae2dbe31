"""``[mqtt]`` read with hub.config.coerce_setting: environment strings, refusals naming the key."""

from __future__ import annotations

import re

import pytest

from hub.config import ConfigError, load_config
from hub.mqtt.settings import mqtt_settings


def test_the_section_from_the_environment() -> None:
    config = load_config(env={"PNC_HUB_MQTT__URL": "mqtt://user:pw@broker:1884",
                              "PNC_HUB_MQTT__KEEPALIVE": "30",
                              "PNC_HUB_MQTT__IGNORED_TOPICS": "tele/+/LWT, stat/#"})
    settings = mqtt_settings(config.section("mqtt"))
    assert settings.enabled and settings.broker.host == "broker" and settings.broker.port == 1884
    assert settings.keepalive == 30 and settings.ignored_topics == ["tele/+/LWT", "stat/#"]
    assert not mqtt_settings({}).enabled  # no url: no broker


@pytest.mark.parametrize(("raw", "message"), [
    ({"urll": "mqtt://x"}, "unknown [mqtt] setting(s): urll"),
    ({"url": "http://broker"}, "[mqtt] url must be"),
    ({"url": "mqtt://"}, "[mqtt] url must be"),
    ({"keepalive": "1.5"}, "mqtt.keepalive"),
    ({"keepalive": 1}, "[mqtt] keepalive must be between"),
    ({"reconnect_min": 10, "reconnect_max": 1}, "reconnect_min must not exceed"),
    ({"watch_topics": "energy/#/x"}, "[mqtt] watch_topics: 'energy/#/x' '#' must be"),
    ({"ignored_topics": ["a+/b"]}, "[mqtt] ignored_topics: 'a+/b' '+' must be"),
])
def test_bad_settings_are_refused_naming_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        mqtt_settings(raw)
