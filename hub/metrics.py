"""In-process counters and latency samples for the monitoring API and /metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class ActionStats:
    success: int = 0
    errors: int = 0
    # Recent latencies in seconds; bounded so a busy hub does not grow without limit.
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=2048))
    last_error: str | None = None

    def snapshot(self) -> dict[str, Any]:
        values = sorted(self.latencies)
        as_ms = [v * 1000 for v in values]
        return {
            "count": self.success + self.errors,
            "success": self.success,
            "errors": self.errors,
            "last_error": self.last_error,
            "latency_ms": {
                "p50": _round(percentile(as_ms, 0.5)),
                "p90": _round(percentile(as_ms, 0.9)),
                "p99": _round(percentile(as_ms, 0.99)),
                "max": _round(as_ms[-1] if as_ms else None),
                "samples": len(as_ms),
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class ActionMetrics:
    """Per (direction, action) outcome counts and latencies."""

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], ActionStats] = {}
        self.started = time.time()

    def record(self, direction: str, action: str, seconds: float, error: str | None = None) -> None:
        stats = self._stats.get((direction, action))
        if stats is None:
            stats = self._stats[(direction, action)] = ActionStats()
        stats.latencies.append(seconds)
        if error is None:
            stats.success += 1
        else:
            stats.errors += 1
            stats.last_error = error

    def snapshot(self, direction: str | None = None) -> dict[str, dict[str, Any]]:
        return {
            action if direction else f"{d}:{action}": stats.snapshot()
            for (d, action), stats in sorted(self._stats.items())
            if direction is None or d == direction
        }

    def items(self) -> list[tuple[str, str, ActionStats]]:
        return [(d, a, s) for (d, a), s in sorted(self._stats.items())]


@dataclass(frozen=True)
class MetricFamily:
    """A metric family a feature contributes to /metrics through ``Hub.metric_providers``
    (Prometheus naming: a counter's name ends in ``_total``)."""

    name: str
    kind: str  # "gauge" or "counter"
    help: str
    samples: Sequence[tuple[dict[str, str], float | int | None]]


# Async because a feature's figures may live in the database (e.g. the OICP outbox depth).
MetricProvider = Callable[[], Awaitable[Iterable[MetricFamily]]]


async def collect(providers: Sequence[MetricProvider],
                  timeout: float) -> tuple[list[MetricFamily], int]:
    """Ask every provider at once; one that fails or does not answer within ``timeout`` is
    left out (and counted), so that a scrape never waits on, or breaks with, a feature."""

    async def ask(provider: MetricProvider) -> list[MetricFamily]:
        return list(await asyncio.wait_for(provider(), timeout))

    answers = await asyncio.gather(*(ask(p) for p in providers), return_exceptions=True)
    families: list[MetricFamily] = []
    failed = 0
    for provider, answer in zip(providers, answers, strict=True):
        if isinstance(answer, BaseException):
            failed += 1
            log.warning("metric provider %r failed: %r", provider, answer)
        else:
            families.extend(answer)
    return families, failed


class SecurityEventCounts:
    """Security events the hub detected (e.g. a refused CSR), by event and reason, for
    /metrics. Reasons are the code's own reason codes, so the label set stays small; past
    ``MAX_KEYS`` distinct pairs new ones are counted as reason ``other``."""

    MAX_KEYS = 256

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def count(self, event: str, reason: str) -> None:
        key = (event, reason)
        if key not in self._counts and len(self._counts) >= self.MAX_KEYS:
            key = (event, "other")
        self._counts[key] = self._counts.get(key, 0) + 1

    def items(self) -> list[tuple[str, str, int]]:
        return [(e, r, n) for (e, r), n in sorted(self._counts.items())]
