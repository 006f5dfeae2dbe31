"""The load generator: worker processes that connect and boot stations, then run timed phases.

``Workers`` is the parent's handle on them: one spawned process per ``--workers``, each with its
share of the station ids, driven over a pipe (``phase`` windows, ``close``); every worker answers
``ready`` once its stations booted and ``result`` after each phase.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from typing import Any

import aiohttp

from .common import GRACE_SECONDS, Dialect
from .station import Recorder, Station, StationLost
from .versions import DEFAULT_VERSION, DIALECTS

HEARTBEAT = "{}"


class GeneratorError(Exception):
    pass


async def heartbeat_loop(st: Station, rec: Recorder) -> None:
    t_start, t_end = rec.t_start, rec.t_end
    lat = rec.latencies
    perf = time.perf_counter
    while perf() < t_end:
        payload, t0, t1 = await st.call("Heartbeat", HEARTBEAT, rec)
        if payload is None:
            continue
        if not isinstance(payload.get("currentTime"), str):
            rec.errors.add("Heartbeat: no currentTime", json.dumps(payload))
            continue
        if t_start <= t1 <= t_end:
            rec.count += 1
            lat.append(t1 - t0)


async def connect_station(
    session: aiohttp.ClientSession,
    base_url: str,
    sid: str,
    rec: Recorder,
    dialect: Dialect = DIALECTS[DEFAULT_VERSION],
) -> Station | None:
    """Open the station's WebSocket, boot it and report its connector Available."""
    subprotocol = dialect.subprotocol
    try:
        ws = await session.ws_connect(
            f"{base_url}/{sid}",
            protocols=(subprotocol,),
            autoping=True,
            heartbeat=None,
            compress=0,
            timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
        )
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        rec.errors.add("connect: failed", f"{sid}: {exc!r}")
        return None
    if ws.protocol != subprotocol:
        rec.errors.add(
            f"connect: subprotocol {subprotocol} not negotiated", f"{sid}: {ws.protocol!r}"
        )
        await ws.close()
        return None
    st = Station(sid, ws)
    try:
        answer, _, _ = await asyncio.wait_for(
            st.call("BootNotification", dialect.boot_notification(sid), rec),
            timeout=GRACE_SECONDS,
        )
        if answer is None:
            raise StationLost("BootNotification not answered")
        if answer.get("status") != "Accepted":
            rec.errors.add("BootNotification: not Accepted", json.dumps(answer))
            raise StationLost("BootNotification not Accepted")
        answer, _, _ = await asyncio.wait_for(
            st.call("StatusNotification", dialect.status_notification(), rec),
            timeout=GRACE_SECONDS,
        )
        if answer is None:
            raise StationLost("StatusNotification not answered")
    except (TimeoutError, StationLost) as exc:
        rec.errors.add("boot: station dropped", f"{sid}: {exc!r}")
        await ws.close()
        return None
    return st


async def run_phase(stations: list[Station], phase: str, rec: Recorder, dialect: Dialect) -> None:
    loop_fn = heartbeat_loop if phase == "heartbeat" else dialect.txmix_loop

    async def guarded(st: Station) -> None:
        try:
            await loop_fn(st, rec)
        except StationLost as exc:
            st.alive = False
            rec.errors.add(f"{phase}: connection lost", f"{st.sid}: {exc}")

    live = [st for st in stations if st.alive]
    tasks = [asyncio.ensure_future(guarded(st)) for st in live]
    if not tasks:
        return
    budget = rec.t_end - time.perf_counter() + GRACE_SECONDS
    done, pending = await asyncio.wait(tasks, timeout=max(budget, 0.1))
    for task in pending:
        task.cancel()
    for st, task in zip(live, tasks, strict=True):
        if task in pending:
            st.alive = False
            rec.errors.add(f"{phase}: no answer {GRACE_SECONDS:.0f} s after phase end", st.sid)
            await st.ws.close()
    for task in done:
        if task.exception() is not None:  # a bug in the generator: make it loud
            raise task.exception()


async def _worker_main(conn, base_url: str, station_ids: list[str], version: str) -> None:
    dialect = DIALECTS[version]
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        boot_rec = Recorder(0.0, 0.0)
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(100)

        async def connect(sid: str) -> Station | None:
            async with sem:
                return await connect_station(session, base_url, sid, boot_rec, dialect)

        results = await asyncio.gather(*(connect(sid) for sid in station_ids))
        stations = [st for st in results if st is not None]
        conn.send(
            (
                "ready",
                {
                    "connected": len(stations),
                    "seconds": time.perf_counter() - t0,
                    "errors": boot_rec.errors.as_dict(),
                    "server_calls": dict(boot_rec.server_calls),
                    "answered": dict(boot_rec.answered),
                },
            )
        )
        loop = asyncio.get_running_loop()
        while True:
            cmd = await loop.run_in_executor(None, conn.recv)
            if cmd[0] == "close":
                break
            _, phase, t_begin, t_start, t_end = cmd
            rec = Recorder(t_start, t_end)
            await asyncio.sleep(max(0.0, t_begin - time.perf_counter()))
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await run_phase(stations, phase, rec, dialect)
            cpu = time.process_time() - cpu0
            wall = time.perf_counter() - wall0
            conn.send(
                (
                    "result",
                    {
                        "count": rec.count,
                        "latencies": rec.latencies.tobytes(),
                        "by_action": dict(rec.by_action),
                        "errors": rec.errors.as_dict(),
                        "id_tag_status": dict(rec.id_tag_status),
                        "server_calls": dict(rec.server_calls),
                        "transactions": rec.transactions,
                        "answered": dict(rec.answered),
                        "cpu_seconds": cpu,
                        "wall_seconds": wall,
                        "alive": sum(st.alive for st in stations),
                    },
                )
            )
        await asyncio.gather(*(st.ws.close() for st in stations), return_exceptions=True)


def worker_entry(
    conn, base_url: str, station_ids: list[str], cpus: list[int] | None, version: str
) -> None:
    if cpus:
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            pass
    try:
        asyncio.run(_worker_main(conn, base_url, station_ids, version))
    except Exception as exc:  # report, do not hang the parent
        try:
            conn.send(("crash", repr(exc)))
        except OSError:
            pass
        raise
    finally:
        conn.close()


class Workers:
    """The generator processes of one server under test (pinned to ``cpus`` when given)."""

    def __init__(
        self,
        n: int,
        base_url: str,
        station_ids: list[str],
        cpus: list[int] | None,
        version: str = DEFAULT_VERSION,
    ):
        ctx = multiprocessing.get_context("spawn")
        self.conns = []
        self.procs = []
        for i in range(n):
            parent, child = ctx.Pipe()
            share = station_ids[i::n]
            proc = ctx.Process(
                target=worker_entry, args=(child, base_url, share, cpus, version), daemon=True
            )
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def recv_all(self, expect: str, timeout: float) -> list[dict[str, Any]]:
        out = []
        deadline = time.monotonic() + timeout
        for conn in self.conns:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise GeneratorError(f"generator worker did not report {expect!r} in time")
            msg = conn.recv()
            if msg[0] != expect:
                raise GeneratorError(f"generator worker: {msg!r}")
            out.append(msg[1])
        return out

    def send_all(self, msg: tuple) -> None:
        for conn in self.conns:
            conn.send(msg)

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("close",))
            except OSError:
                pass
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
