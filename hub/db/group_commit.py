"""Group commit: many stations' writes share one database transaction.

A charger considers a message delivered once it has the CALLRESULT, so facts are committed
before the answer leaves. Committing each message alone would cap throughput at the disk's fsync
rate; instead every unit of work is queued, a writer takes everything queued so far, runs it in
one transaction, commits once, and then releases all the waiting callers.

If one unit of work fails, the batch is rolled back and each unit re-run in its own transaction,
so a bad message only fails itself. Units must therefore be plain database work without side
effects outside the transaction (events are published by the caller after the commit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)
T = TypeVar("T")
UnitOfWork = Callable[[AsyncConnection], Awaitable[T]]


class GroupCommitter:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = 500, writers: int = 1) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._writers = writers
        self._queue: asyncio.Queue[tuple[UnitOfWork[Any], asyncio.Future[Any]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # Counters for the monitoring API.
        self.batches = 0
        self.units = 0
        self.failures = 0
        self.last_batch_size = 0
        self.max_batch_seen = 0
        self.commit_seconds_total = 0.0

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._writer()) for _ in range(self._writers)]

    async def stop(self) -> None:
        # Finish what was accepted before stopping: callers are waiting for their commits.
        while not self._queue.empty():  # noqa: ASYNC110 (shutdown only, bounded by the queue)
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def run(self, work: UnitOfWork[T]) -> T:
        """Run ``work`` inside a shared transaction; return its result once committed."""
        if not self._tasks:
            raise RuntimeError("GroupCommitter is not started")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, future))
        return await future

    async def _writer(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            # A caller that gave up (cancelled) no longer needs its write.
            batch = [(work, fut) for work, fut in batch if not fut.cancelled()]
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[UnitOfWork[Any], asyncio.Future[Any]]]) -> None:
        started = time.perf_counter()
        try:
            results = await self._run_batch([work for work, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                self._fail(batch[0][1], exc)
            else:
                log.warning("group commit of %d units failed; retrying one by one", len(batch))
                for work, future in batch:
                    try:
                        (result,) = await self._run_batch([work])
                    except Exception as exc:
                        self._fail(future, exc)
                    else:
                        self._resolve(future, result)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                self._resolve(future, result)
        self.batches += 1
        self.units += len(batch)
        self.last_batch_size = len(batch)
        self.max_batch_seen = max(self.max_batch_seen, len(batch))
        self.commit_seconds_total += time.perf_counter() - started

    async def _run_batch(self, works: list[UnitOfWork[Any]]) -> list[Any]:
        async with self._engine.begin() as conn:
            return [await work(conn) for work in works]

    def _fail(self, future: asyncio.Future[Any], exc: Exception) -> None:
        self.failures += 1
        log.error("unit of work failed: %r", exc, exc_info=exc)
        if not future.done():
            future.set_exception(exc)

    @staticmethod
    def _resolve(future: asyncio.Future[Any], result: Any) -> None:
        if not future.done():
            future.set_result(result)

    def stats(self) -> dict[str, Any]:
        return {
            "queue_depth": self.queue_depth,
            "batches": self.batches,
            "units": self.units,
            "failures": self.failures,
            "last_batch_size": self.last_batch_size,
            "max_batch_size": self.max_batch_seen,
            "mean_batch_size": round(self.units / self.batches, 2) if self.batches else 0,
            "mean_commit_ms": round(1000 * self.commit_seconds_total / self.batches, 3)
            if self.batches
            else 0,
        }

