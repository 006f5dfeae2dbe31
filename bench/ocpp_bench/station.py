"""One simulated charge point on a raw aiohttp client WebSocket, and what a worker records.

The frames are hand-built JSON strings: the generator must cost far less per message than the
servers it measures.
"""

from __future__ import annotations

import json
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .common import MAX_ERROR_EXAMPLES


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Errors:
    """Error counts by kind, plus a few raw examples for the report."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []

    def add(self, kind: str, example: str = "") -> None:
        self.counts[kind] += 1
        if example and len(self.examples) < MAX_ERROR_EXAMPLES:
            self.examples.append(f"{kind}: {example[:300]}")

    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "examples": list(self.examples)}


@dataclass
class Recorder:
    """What one worker measured in one phase."""

    t_start: float
    t_end: float
    count: int = 0
    latencies: array = field(default_factory=lambda: array("d"))
    by_action: Counter = field(default_factory=Counter)
    errors: Errors = field(default_factory=Errors)
    id_tag_status: Counter = field(default_factory=Counter)
    server_calls: Counter = field(default_factory=Counter)
    # Every CALLRESULT received, by action (or label), in or out of the measured window.
    answered: Counter = field(default_factory=Counter)
    transactions: int = 0


class StationLost(Exception):
    pass


_TEXT = aiohttp.WSMsgType.TEXT
_loads = json.loads


class Station:
    """One simulated charge point on one aiohttp client WebSocket, one call in flight."""

    __slots__ = ("sid", "ws", "seq", "alive", "meter")

    def __init__(self, sid: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.sid = sid
        self.ws = ws
        self.seq = 0
        self.alive = True
        self.meter = 0

    async def call(
        self, action: str, payload: str, rec: Recorder, label: str | None = None
    ) -> tuple[Any, float, float]:
        """Send one CALL and wait for its answer.

        Returns (payload or None on a CALLERROR/mismatch, send time, receive time).
        Raises StationLost when the socket is gone (the station is then dead). The answer and
        any error are counted under ``label`` (default: the action), e.g. "TransactionEvent
        Started".
        """
        label = label or action
        self.seq += 1
        uid = str(self.seq)
        ws = self.ws
        t0 = time.perf_counter()
        try:
            await ws.send_str(f'[2,"{uid}","{action}",{payload}]')
        except (ConnectionError, RuntimeError) as exc:
            raise StationLost(f"send failed: {exc!r}") from exc
        while True:
            msg = await ws.receive()
            t1 = time.perf_counter()
            if msg.type is not _TEXT:
                raise StationLost(f"{msg.type.name} {msg.data!r} {msg.extra!r}")
            try:
                frame = _loads(msg.data)
                mtype = frame[0]
                if mtype == 2:
                    # A server-initiated CALL: a station that does not support it says so.
                    rec.server_calls[str(frame[2])] += 1
                    await ws.send_str(
                        f'[4,{json.dumps(frame[1])},"NotImplemented","bench station",{{}}]'
                    )
                    continue
                if frame[1] != uid:
                    rec.errors.add(f"{label}: mismatched unique id", msg.data)
                    continue
                if mtype == 3 and isinstance(frame[2], dict):
                    rec.answered[label] += 1
                    return frame[2], t0, t1
                if mtype == 4:
                    rec.errors.add(f"{label}: CALLERROR {frame[2]}", msg.data)
                    return None, t0, t1
            except (ValueError, LookupError, TypeError):
                pass
            rec.errors.add(f"{label}: malformed answer", msg.data)
            return None, t0, t1
