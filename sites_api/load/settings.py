"""The load manager's settings: ``[load]`` in the config, read like every other section.

The settings (``PNC_HUB_LOAD__MIN_INTERVAL`` ...): ``enabled`` (true),
``hysteresis`` (A, 1), ``min_interval`` (s, 10), ``stack_level`` (1), ``call_timeout`` (s, 10),
``replan_interval`` (s, 5), ``settle`` (s, 60), ``demand_margin`` (A, 2), ``meter_max_age``
(s, 120), ``fallback_stack_level`` (0; the nodes' fallbacks: ``sites_api.load.fallbacks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.config import section_values


@dataclass(frozen=True)
class LoadSettings:
    enabled: bool = True
    hysteresis: float = 1.0
    min_interval: float = 10.0
    stack_level: int = 1
    call_timeout: float = 10.0
    replan_interval: float = 5.0
    settle: float = 60.0
    demand_margin: float = 2.0
    meter_max_age: float = 120.0
    fallback_stack_level: int = 0


#: The numeric settings' bounds (inclusive).
_BOUNDS = {"hysteresis": (0, 100), "min_interval": (0, 3600), "stack_level": (0, 100),
           "call_timeout": (0.1, 300), "replan_interval": (0, 3600), "settle": (0, 3600),
           "demand_margin": (0, 100), "meter_max_age": (1, 86400),
           "fallback_stack_level": (0, 100)}


def load_settings(raw: dict[str, Any]) -> LoadSettings:
    """``[load]`` read like every other section (hub.config.coerce_setting), then bounded."""
    values = section_values("load", LoadSettings, raw, _BOUNDS)
    return LoadSettings(**values)
