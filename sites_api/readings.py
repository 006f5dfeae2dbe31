"""From a port's latest OCPP sampled values to the session's live readings.

A charger may report a measurand per phase, per location, or both; we choose one value per
reading the way a person reading the charger's display would: the outlet side (or no location)
before the grid inlet, the unphased total before per-phase values. Power sums over phases
(L1+L2+L3 is the total); current and voltage take the highest phase.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

POWER = "Power.Active.Import"
CURRENT = "Current.Import"
SOC = "SoC"
VOLTAGE = "Voltage"
ENERGY = "Energy.Active.Import.Register"
MEASURANDS = (POWER, CURRENT, SOC, VOLTAGE, ENERGY)

# Lower is preferred.
_LOCATION_RANK = {"": 0, "Outlet": 1, "EV": 2, "Cable": 3, "Body": 4, "Inlet": 5}
_PHASES = ("L1", "L2", "L3")
_LINE_NEUTRAL = ("L1-N", "L2-N", "L3-N")

_SCALE = {
    POWER: {"W": 0.001, "kW": 1.0, None: 0.001},
    ENERGY: {"Wh": 1.0, "kWh": 1000.0, None: 1.0},
}


class Sample(NamedTuple):  # a tuple: pages build hundreds of these
    measurand: str
    phase: str
    location: str
    value: float
    unit: str | None
    timestamp: datetime | str  # a raw stored time on SQLite (see ``columns.ts``)


def _scaled(sample: Sample) -> float:
    table = _SCALE.get(sample.measurand)
    if table is None:
        return sample.value
    return sample.value * table.get(sample.unit, 1.0)


def pick(samples: Iterable[Sample], measurand: str) -> tuple[float, datetime | str] | None:
    """One value and its timestamp for ``measurand`` (kW for power, Wh for energy)."""
    candidates = [s for s in samples if s.measurand == measurand]
    if not candidates:
        return None
    best_location = min(_LOCATION_RANK.get(s.location, 9) for s in candidates)
    candidates = [s for s in candidates if _LOCATION_RANK.get(s.location, 9) == best_location]
    total = [s for s in candidates if s.phase in ("", "N")]
    if total:
        newest = max(total, key=lambda s: s.timestamp)
        return _scaled(newest), newest.timestamp
    phases = [s for s in candidates if s.phase in _PHASES] or [
        s for s in candidates if s.phase in _LINE_NEUTRAL] or candidates
    newest = max(s.timestamp for s in phases)
    values = [_scaled(s) for s in phases]
    if measurand in (POWER, ENERGY):
        return sum(values), newest
    return max(values), newest


def latest_readings(samples: list[Sample]) -> dict[str, Any]:
    """The session's ``latest_readings`` object (snake_case keys; None where not reported)."""
    out: dict[str, Any] = {}
    for key, measurand in (("power_kw", POWER), ("current_a", CURRENT), ("soc_percent", SOC),
                           ("voltage", VOLTAGE)):
        chosen = pick(samples, measurand)
        out[key] = None if chosen is None else {"value": chosen[0], "timestamp": chosen[1]}
    return out


def energy_delivered_kwh(samples: list[Sample], meter_start_wh: int | None) -> float:
    """Energy since the transaction started, from the newest register reading."""
    chosen = pick(samples, ENERGY)
    if chosen is None or meter_start_wh is None:
        return 0.0
    return max(0.0, round((chosen[0] - meter_start_wh) / 1000.0, 3))
