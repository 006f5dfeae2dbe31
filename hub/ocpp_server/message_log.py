"""The OCPP message log: a bounded queue drained in batches, so logging never slows a station.

When the queue is full the newest message is dropped and counted: losing a log line is better
than blocking a charger or growing memory without bound. Facts (transactions, meter values)
never depend on this log; they are written by the services.

Before it is full, a filling queue sheds load where it costs least: from ``shed_at`` (a
fraction of the queue) on, routine frames (see ``is_routine``: a charger's Heartbeat,
MeterValues, StatusNotification, TransactionEvent Updated, and the hub's answers to them) are
sampled, one exchange in ``sample_every`` kept, chosen by message id so that a CALL and its
answer are kept or shed together. CALLERRORs, security events, the hub's commands and their
answers, transaction starts and stops are always logged while there is room.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import deque
from datetime import datetime
from typing import Any

from hub.db.base import utcnow
from hub.db.group_commit import GroupCommitter, Write
from hub.db.models import OcppMessage
from hub.files.tokens import redact

log = logging.getLogger(__name__)

# Charger-initiated actions that repeat all day and carry no event of their own.
ROUTINE_ACTIONS = frozenset({"Heartbeat", "MeterValues", "StatusNotification",
                             "TransactionEvent"})
_CALL, _RESULT = 2, 3


def is_routine(direction: str, message_type: int, action: str | None, frame: str) -> bool:
    """A frame the log may sample under load: a charger's routine CALL, or the hub's answer
    to one. A TransactionEvent is routine only as an Updated event (its answer: see
    MessageLog.record)."""
    if action not in ROUTINE_ACTIONS:
        return False
    if direction == "in" and message_type == _CALL:
        return action != "TransactionEvent" or '"eventType":"Updated"' in frame.replace(" ", "")
    # The hub's answers; never a CALLERROR, a command (out CALL) or a station's answer (in).
    return direction == "out" and message_type == _RESULT and action != "TransactionEvent"


def kept_in_sample(station_id: str, unique_id: str | None, every: int) -> bool:
    """One exchange in ``every``, the same verdict for a CALL and its answer."""
    return zlib.crc32(f"{station_id}/{unique_id}".encode()) % every == 0


# Commands whose location carries an upload token, a download token or an FTP password: their
# frames are logged with those redacted, as the diagnostics and firmware requests store them.
LOCATION_ACTIONS = frozenset({"GetDiagnostics", "GetLog", "UpdateFirmware",
                              "SignedUpdateFirmware", "PublishFirmware"})
_TABLE = OcppMessage.__table__
_ID_LENGTH = _TABLE.c.unique_id.type.length or 64


def _loggable(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")[:_ID_LENGTH]


class MessageLog:
    def __init__(
        self,
        committer: GroupCommitter,
        *,
        max_queue: int = 5000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        skip_actions: list[str] | None = None,
        enabled: bool = True,
        shed_at: float = 0.5,
        sample_every: int = 10,
    ) -> None:
        self._committer = committer
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=max_queue)
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self.skip_actions = frozenset(skip_actions or ())
        self.enabled = enabled
        self._shed_from = max(1, int(max_queue * shed_at)) if shed_at < 1 else max_queue + 1
        self._sample_every = max(1, sample_every)
        # TransactionEvent Updated calls shed, so that their answers are shed too (an answer
        # does not say which event it answers).
        self._shed_events: set[tuple[str, str | None]] = set()
        self.sampled_out = 0
        self._task: asyncio.Task[None] | None = None
        # The drain task waits for this many queued rows (or flush_interval): a batch, but
        # never so many that waiting rows alone would start the shedding.
        self._wake_at = max(1, min(batch_size - 1, self._shed_from // 2))
        self._batch_ready = asyncio.Event()
        self._collecting: list[dict[str, Any]] = []
        self.enqueued = 0
        self.dropped = 0
        self.written = 0
        self.failed_batches = 0
        # (wall time, rows, seconds) of recent flushes, for windowed metrics.
        self.flushes: deque[tuple[float, int, float]] = deque(maxlen=10_000)

    @property
    def maxsize(self) -> int:
        return self._queue.maxsize

    @property
    def size(self) -> int:
        return self._queue.qsize()

    def record(
        self,
        station_id: str,
        direction: str,
        message_type: int,
        unique_id: str | None,
        action: str | None,
        frame: str,
        at: datetime | None = None,
        via: str | None = None,
    ) -> None:
        if not self.enabled or (action is not None and action in self.skip_actions):
            return
        if self._queue.qsize() >= self._shed_from and self._shed(
            station_id, direction, message_type, unique_id, action, frame
        ):
            self.sampled_out += 1
            return
        # A hostile frame's id or action may be long or hold lone surrogates ("\\ud800"): the
        # log keeps what fits its columns and can be encoded, not the batch failing on it.
        if unique_id is not None and (len(unique_id) > _ID_LENGTH or not unique_id.isascii()):
            unique_id = _loggable(unique_id)
        if action is not None and (len(action) > _ID_LENGTH or not action.isascii()):
            action = _loggable(action)
        if action in LOCATION_ACTIONS:
            frame = redact(frame)
        row = {
            "station_id": station_id,
            "direction": direction,
            "message_type": message_type,
            "unique_id": unique_id,
            "action": action,
            "payload": frame,
            "timestamp": at or utcnow(),
            "via": via,
        }
        try:
            self._queue.put_nowait(row)
            self.enqueued += 1
        except asyncio.QueueFull:
            self.dropped += 1
            return
        if self._queue.qsize() >= self._wake_at:
            self._batch_ready.set()

    def _shed(self, station_id: str, direction: str, message_type: int,
              unique_id: str | None, action: str | None, frame: str) -> bool:
        if action == "TransactionEvent" and direction == "out" and message_type == _RESULT:
            key = (station_id, unique_id)
            if key in self._shed_events:
                self._shed_events.discard(key)
                return True
            return False
        if not is_routine(direction, message_type, action, frame) or kept_in_sample(
            station_id, unique_id, self._sample_every
        ):
            return False
        if action == "TransactionEvent":
            if len(self._shed_events) > 10_000:
                self._shed_events.clear()  # answers lost with their sockets: bound the set
            self._shed_events.add((station_id, unique_id))
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._flush_remaining()

    async def _drain(self) -> None:
        while True:
            # Rows taken off the queue live in self._collecting until written, so that stop()
            # can still write them when it cancels this task mid-collection.
            rows = self._collecting = [await self._queue.get()]
            if self._queue.qsize() < self._wake_at:
                # One timer per batch, not one per row (a wait per row was a tenth of the
                # hub's CPU under load): record() wakes us when a batch is queued.
                self._batch_ready.clear()
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can turn a cancel
                # that meets its timeout into TimeoutError, and stop() then waits forever.
                try:
                    async with asyncio.timeout(self._flush_interval):
                        await self._batch_ready.wait()
                except TimeoutError:
                    pass
            while len(rows) < self._batch_size and not self._queue.empty():
                rows.append(self._queue.get_nowait())
            self._collecting = []
            await self._write(rows)

    async def _flush_remaining(self) -> None:
        rows, self._collecting = self._collecting, []
        while not self._queue.empty():
            rows.append(self._queue.get_nowait())
        if rows:
            await self._write(rows)

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        started = time.perf_counter()

        try:
            # Rows, not a unit of work: the batch writes them with everyone's, one statement.
            await self._committer.run(writes=[Write(_TABLE, rows)])
        except Exception:
            self.failed_batches += 1
            self.dropped += len(rows)
            log.exception("could not write %d OCPP log rows", len(rows))
            return
        self.written += len(rows)
        self.flushes.append((time.time(), len(rows), time.perf_counter() - started))

    def metrics(self, window_minutes: float | None = None) -> dict[str, Any]:
        since = time.time() - window_minutes * 60 if window_minutes else 0
        recent = [f for f in self.flushes if f[0] >= since]
        latencies = sorted(f[2] * 1000 for f in recent)
        from hub.metrics import percentile

        return {
            "size": self.size,
            "maxsize": self.maxsize,
            "enqueued": self.enqueued,
            "written": self.written,
            "dropped": self.dropped,
            "sampled_out": self.sampled_out,
            "failed_batches": self.failed_batches,
            "window_minutes": window_minutes,
            "flushes": len(recent),
            "rows_flushed": sum(f[1] for f in recent),
            "flush_latency_ms": {
                "p50": percentile(latencies, 0.5),
                "p99": percentile(latencies, 0.99),
                "max": latencies[-1] if latencies else None,
            },
        }
