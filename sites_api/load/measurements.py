"""What the load manager measures: a connector's current per phase, a site meter's reading, and
the demand of a car that settled below its limit. Pure functions over plain values (no I/O).

A connector's current comes from its MeterValues: ``Current.Import`` per phase (an unphased
value counts on each of the connector's phases), else ``Power.Active.Import`` divided over the
connector's phases at the sampled ``Voltage`` (230 V line to neutral when none is sampled).
Outlet-side samples are preferred to inlet-side ones, as for the session's live readings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CURRENT, POWER, VOLTAGE = "Current.Import", "Power.Active.Import", "Voltage"
NOMINAL_VOLTAGE = 230.0
_PHASE_INDEX = {"L1": 0, "L2": 1, "L3": 2}
_POWER_SCALE = {"W": 1.0, "kW": 1000.0}


@dataclass(frozen=True)
class Measured:
    """Current per phase L1..L3 (A; None where not measured) and when it was received."""

    amps: tuple[float | None, float | None, float | None]
    at: float  # monotonic
    received: datetime

    def on(self, phases: Sequence[int]) -> float | None:
        """The highest current on the given site phases (1..3), if any was measured."""
        values = [v for p in phases if (v := self.amps[p - 1]) is not None]
        return max(values) if values else None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _outlet_side(samples: Iterable[Mapping[str, Any]], measurand: str) -> list[Mapping[str, Any]]:
    chosen = [s for s in samples if s.get("measurand") == measurand]
    outlet = [s for s in chosen if (s.get("location") or "Outlet") in ("Outlet", "EV", "Cable")]
    return outlet or chosen


def connector_current(samples: Iterable[Mapping[str, Any]], phases: Sequence[int]
                      ) -> tuple[float | None, float | None, float | None] | None:
    """Per-phase current of one MeterValues (None when it carries neither current nor power)."""
    samples = list(samples)
    amps: list[float | None] = [None, None, None]
    for sample in _outlet_side(samples, CURRENT):
        value = _number(sample.get("value"))
        if value is None:
            continue
        index = _PHASE_INDEX.get(str(sample.get("phase") or "")[:2])
        for i in [index] if index is not None else [p - 1 for p in phases]:
            amps[i] = max(value, 0.0)
    if any(v is not None for v in amps):
        return amps[0], amps[1], amps[2]
    watts = 0.0
    seen = False
    for sample in _outlet_side(samples, POWER):
        value = _number(sample.get("value"))
        if value is None:
            continue
        phase = str(sample.get("phase") or "")
        total = [s for s in _outlet_side(samples, POWER) if not s.get("phase")]
        if phase and total:
            continue  # the unphased total is there: per-phase values would count twice
        watts += value * _POWER_SCALE.get(sample.get("unit") or "W", 1.0)
        seen = True
    if not seen:
        return None
    volts = [v for s in _outlet_side(samples, VOLTAGE) if (v := _number(s.get("value")))]
    voltage = max(volts) if volts else NOMINAL_VOLTAGE
    if voltage > 300:  # a line-to-line voltage (400 V): per phase it is / sqrt(3)
        voltage /= math.sqrt(3)
    per_phase = max(watts, 0.0) / (voltage * len(phases))
    return tuple(per_phase if p in phases else None for p in (1, 2, 3))  # type: ignore[return-value]


def meter_value(payload: Any) -> float | tuple[float, float, float] | None:
    """A site meter's reading: a number (every phase), or three numbers L1..L3."""
    if isinstance(payload, bool):
        return None
    if isinstance(payload, int | float):
        return _number(payload)
    if isinstance(payload, list | tuple) and len(payload) == 3:
        values = [_number(v) if not isinstance(v, bool) else None for v in payload]
        if all(v is not None for v in values):
            return values[0], values[1], values[2]  # type: ignore[return-value]
    return None


def next_demand(previous: float | None, measured: Measured | None, limit: float | None,
                limit_sent_at: float | None, phases: Sequence[int], *, settle: float,
                margin: float) -> float | None:
    """What a car wants (A per phase), once it has settled; None: as much as it may get.

    Judged only on a measurement taken ``settle`` seconds or more after its limit went out (a
    car needs time to follow a new limit): one that draws less than its limit (by more than
    half the ``margin``) wants what it draws plus ``margin``, and the rest goes to the others;
    one that draws up to its limit wants more again. Until then the previous judgement holds.
    """
    if measured is None or limit is None or limit_sent_at is None:
        return previous
    if measured.at < limit_sent_at + settle:
        return previous
    drawn = measured.on(phases)
    if drawn is None:
        return previous
    if drawn >= limit - margin / 2:
        return None
    return drawn + margin


def level_at_least(levels: Sequence[float], amps: float) -> float:
    """The lowest charging level not below ``amps`` (the highest when none is)."""
    for level in levels:
        if level >= amps - 1e-9:
            return level
    return levels[-1]
