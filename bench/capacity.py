#!/usr/bin/env python3
"""Capacity bench: boot storm and idle capacity, the hub against the ``ocpp`` package baseline.

For each server (started as its own child process, one after the other):

  storm  STORM stations (default 5,000) open their WebSocket and send BootNotification at once.
         Reported: seconds from "go" until the last station's BootNotification was answered
         Accepted, stations never accepted (within the deadline), and refused attempts
         (HTTP 503 + Retry-After from admission control, connection errors) that were retried.
  idle   a freshly started server; IDLE stations (default 10,000) connect and boot (paced, not a
         storm), then every station sends a Heartbeat every INTERVAL seconds. Reported: the
         server's resident memory (psutil, on the server process) before the first connection
         and with all stations held, and the difference per held station.

Servers:

  hub       ``python3 -m hub serve --dev`` on a fresh SQLite database in a temporary directory
  baseline  bench/baseline_ocpp_server.py when present (issue 2's), else the same minimal server
            built in here (``--serve-baseline``): websockets.serve + ocpp.v16.ChargePoint with
            @on handlers, package defaults, no tuning.

The clients are hand-built OCPP-J frames on raw aiohttp client WebSockets, spread over worker
processes, each worker on its own loopback source address (127.0.0.2, 127.0.0.3, ...) so that
ephemeral ports never run short. By default the server is pinned to CPU 0 and the workers to the
other CPUs. A station refused with 503 waits for Retry-After (capped) and tries again, as a charger
would after its own back-off.

    python3 bench/capacity.py                 # both servers, 5,000 storm, 10,000 idle
    python3 bench/capacity.py --storm 500 --idle 1000 --only hub
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
BASELINE_SCRIPT = BENCH_DIR / "baseline_ocpp_server.py"
BOOT = ('{"chargePointVendor":"BENCH","chargePointModel":"Capacity",'
        '"chargePointSerialNumber":"SN-%s","firmwareVersion":"1.0"}')
MAX_RETRY_WAIT = 5.0


# --------------------------------------------------------------------------------------------
# The stations (worker processes)
# --------------------------------------------------------------------------------------------


class Counts:
    __slots__ = ("accepted", "failed", "refused_503", "connect_errors", "boot_errors",
                 "heartbeats", "heartbeat_errors", "lost", "last_accept", "errors")

    def __init__(self) -> None:
        self.accepted = 0
        self.failed = 0
        self.refused_503 = 0
        self.connect_errors = 0
        self.boot_errors = 0
        self.heartbeats = 0
        self.heartbeat_errors = 0
        self.lost = 0
        self.last_accept = 0.0
        self.errors: dict[str, int] = {}

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


async def _call(ws: aiohttp.ClientWebSocketResponse, uid: str, action: str,
                payload: str, counts: Counts) -> dict[str, Any] | None:
    """One CALL; the CALLRESULT payload, or None (CALLERROR, closed socket)."""
    await ws.send_str(f'[2,"{uid}","{action}",{payload}]')
    while True:
        msg = await ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            counts.error(f"{action}: {msg.type.name}")
            return None
        frame = json.loads(msg.data)
        if frame[0] == 2:  # a server-initiated CALL: this bench station does not do any
            await ws.send_str(json.dumps([4, frame[1], "NotImplemented", "bench station", {}]))
            continue
        if frame[1] != uid:
            continue
        if frame[0] == 3:
            return frame[2]
        counts.error(f"{action}: CALLERROR {frame[2]}")
        return None


async def _connect_and_boot(http: aiohttp.ClientSession, url: str, sid: str, deadline: float,
                            counts: Counts) -> aiohttp.ClientWebSocketResponse | None:
    """Connect and boot until Accepted or the deadline; retried like a charger would."""
    while time.time() < deadline:
        ws = None
        try:
            ws = await http.ws_connect(f"{url}/{sid}", protocols=("ocpp1.6",), autoping=True,
                                       heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_close=5),
                                       max_msg_size=1 << 20)
            answer = await _call(ws, "b1", "BootNotification", BOOT % sid, counts)
            if answer is not None and answer.get("status") == "Accepted":
                counts.accepted += 1
                counts.last_accept = time.time()
                return ws
            counts.boot_errors += 1
            await ws.close()
            await asyncio.sleep(1.0)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 503:
                counts.refused_503 += 1
                wait = float((exc.headers or {}).get("Retry-After", 1))
                await asyncio.sleep(min(wait, MAX_RETRY_WAIT) * random.uniform(0.5, 1.0))
            else:
                counts.connect_errors += 1
                counts.error(f"handshake {exc.status}")
                await asyncio.sleep(1.0)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            counts.connect_errors += 1
            counts.error(type(exc).__name__)
            if ws is not None:
                await ws.close()
            await asyncio.sleep(random.uniform(0.5, 1.5))
    counts.failed += 1
    return None


async def _heartbeats(ws: aiohttp.ClientWebSocketResponse, interval: float,
                      stop: asyncio.Event, counts: Counts) -> None:
    seq = 0
    await asyncio.sleep(random.uniform(0, interval))
    while not stop.is_set():
        seq += 1
        try:
            answer = await _call(ws, f"h{seq}", "Heartbeat", "{}", counts)
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            answer = None
        if answer is None:
            counts.heartbeat_errors += 1
            if ws.closed:
                counts.lost += 1
                return
        else:
            counts.heartbeats += 1
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass


async def _worker(cmd: Any, url: str, source_ip: str, ids: list[str], mode: str,
                  interval: float, deadline_s: float, pace: int) -> None:
    connector = aiohttp.TCPConnector(limit=0, local_addr=(source_ip, 0), force_close=True)
    counts = Counts()
    async with aiohttp.ClientSession(connector=connector) as http:
        cmd.send(("ready", None))
        go = cmd.recv()  # the start time, shared by every worker
        await asyncio.sleep(max(0.0, go - time.time()))
        deadline = time.time() + deadline_s
        if mode == "storm":
            sockets = await asyncio.gather(
                *(_connect_and_boot(http, url, sid, deadline, counts) for sid in ids))
        else:
            gate = asyncio.Semaphore(pace)

            async def paced(sid: str) -> aiohttp.ClientWebSocketResponse | None:
                async with gate:
                    return await _connect_and_boot(http, url, sid, deadline, counts)

            sockets = await asyncio.gather(*(paced(sid) for sid in ids))
        held = [ws for ws in sockets if ws is not None]
        cmd.send(("connected", counts.as_dict()))
        stop = asyncio.Event()
        beats = [asyncio.create_task(_heartbeats(ws, interval, stop, counts)) for ws in held]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, cmd.recv)  # "stop"
        stop.set()
        await asyncio.gather(*beats, return_exceptions=True)
        cmd.send(("done", counts.as_dict()))
        await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)


def _worker_entry(cmd: Any, url: str, source_ip: str, ids: list[str], mode: str,
                  interval: float, deadline_s: float, pace: int, cpus: list[int]) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)
    asyncio.run(_worker(cmd, url, source_ip, ids, mode, interval, deadline_s, pace))


# --------------------------------------------------------------------------------------------
# The servers
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, cpus: list[int]) -> None:
        self.name = name
        self.cpus = cpus
        self.port = _free_port()
        self.tmp = tempfile.mkdtemp(prefix=f"capacity-{name}-")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(self.tmp) / "server.log"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def start(self) -> None:
        if self.name == "hub":
            cmd = [sys.executable, "-m", "hub", "serve", "--dev", "--host", "127.0.0.1",
                   "--port", str(self.port), "--database-url",
                   f"sqlite+aiosqlite:///{self.tmp}/hub.db"]
        elif BASELINE_SCRIPT.exists():
            cmd = [sys.executable, str(BASELINE_SCRIPT), "--host", "127.0.0.1",
                   "--port", str(self.port)]
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-baseline",
                   "--port", str(self.port)]
        cpus = self.cpus

        def pin() -> None:  # in the child before exec, so that every thread inherits it
            if cpus and hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(0, cpus)

        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=pin)
        if os.environ.get("CAPACITY_PROFILE") and self.name == "hub":
            # py-spy on the hub for the whole phase (a profiling aid, not part of the figures).
            self.profiler = subprocess.Popen(
                ["py-spy", "record", "-o", os.environ["CAPACITY_PROFILE"], "-f", "raw",
                 "--pid", str(self.proc.pid), "-r", "200"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()}")
            if self._ready():
                time.sleep(0.5)  # let start-up allocations settle before the first RSS reading
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not start")

    def _ready(self) -> bool:
        if self.name == "hub":
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.port}/healthCheck-01", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def rss(self) -> int:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss

    def stop(self) -> None:
        profiler = getattr(self, "profiler", None)
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(30)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The phases
# --------------------------------------------------------------------------------------------


def _run_clients(server: Server, mode: str, count: int, args: argparse.Namespace,
                 client_cpus: list[int], on_connected: Any = None) -> dict[str, Any]:
    workers = args.workers
    ctx = multiprocessing.get_context("spawn")
    prefix = f"{server.name[:3].upper()}{mode[:1].upper()}"
    ids = [f"{prefix}-{i:05d}" for i in range(count)]
    pipes, procs = [], []
    for w in range(workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_entry, args=(
            child, server.url, f"127.0.0.{2 + w}", ids[w::workers], mode, args.interval,
            args.deadline, max(1, args.pace // workers), client_cpus), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    for p in pipes:
        assert p.recv()[0] == "ready"
    go = time.time() + 0.5
    for p in pipes:
        p.send(go)
    connected = [p.recv()[1] for p in pipes]
    connected_at = time.time()
    extra = on_connected() if on_connected is not None else {}
    for p in pipes:
        p.send("stop")
    done = [p.recv()[1] for p in pipes]
    for proc in procs:
        proc.join(30)
    total: dict[str, Any] = {"go": go, "connected_at": connected_at, **extra}
    for key in ("accepted", "failed", "refused_503", "connect_errors", "boot_errors",
                "heartbeats", "heartbeat_errors", "lost"):
        total[key] = sum(d[key] for d in done)
    total["last_accept"] = max(c["last_accept"] for c in connected)
    errors: dict[str, int] = {}
    for d in done:
        for kind, n in d["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
    total["errors"] = errors
    return total


def storm(name: str, args: argparse.Namespace, server_cpus: list[int],
          client_cpus: list[int]) -> dict[str, Any]:
    server = Server(name, server_cpus)
    server.start()
    try:
        result = _run_clients(server, "storm", args.storm, args, client_cpus)
    finally:
        server.stop()
    result["seconds"] = result["last_accept"] - result["go"] if result["accepted"] else None
    return result


def idle(name: str, args: argparse.Namespace, server_cpus: list[int],
         client_cpus: list[int]) -> dict[str, Any]:
    server = Server(name, server_cpus)
    server.start()
    try:
        before = server.rss()

        def measure() -> dict[str, Any]:
            # Let every station send a few heartbeats before reading the memory.
            samples = []
            for _ in range(args.samples):
                time.sleep(args.interval)
                samples.append(server.rss())
            return {"rss_samples": samples}

        result = _run_clients(server, "idle", args.idle, args, client_cpus, measure)
    finally:
        server.stop()
    after = max(result["rss_samples"])
    result.update(rss_before=before, rss_after=after,
                  per_station=(after - before) / max(1, result["accepted"]))
    return result


# --------------------------------------------------------------------------------------------
# The baseline server, built in (used when bench/baseline_ocpp_server.py is absent)
# --------------------------------------------------------------------------------------------


def serve_baseline(port: int) -> None:
    """websockets.serve + ocpp.v16.ChargePoint with @on handlers; the package's defaults."""
    from datetime import UTC, datetime

    import websockets
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint as BaseChargePoint
    from ocpp.v16 import call_result
    from ocpp.v16.enums import Action, RegistrationStatus

    class ChargePoint(BaseChargePoint):
        @on(Action.boot_notification)
        def on_boot_notification(self, charge_point_vendor, charge_point_model, **kwargs):
            return call_result.BootNotification(current_time=datetime.now(UTC).isoformat(),
                                                interval=300, status=RegistrationStatus.accepted)

        @on(Action.heartbeat)
        def on_heartbeat(self, **kwargs):
            return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    async def on_connect(websocket):
        cp = ChargePoint(websocket.request.path.rstrip("/").rsplit("/", 1)[-1], websocket)
        try:
            await cp.start()
        except websockets.exceptions.ConnectionClosed:
            pass

    async def main() -> None:
        async with websockets.serve(on_connect, "127.0.0.1", port,
                                    subprotocols=["ocpp1.6"]) as server:
            await server.serve_forever()

    asyncio.run(main())


# --------------------------------------------------------------------------------------------


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _print_storm(name: str, r: dict[str, Any], count: int) -> None:
    secs = f"{r['seconds']:.2f} s" if r["seconds"] is not None else "n/a"
    print(f"  {name:9} storm: {r['accepted']}/{count} accepted in {secs}; failed "
          f"{r['failed']}; retried after 503: {r['refused_503']}, after connection errors: "
          f"{r['connect_errors']}, boot errors: {r['boot_errors']}", flush=True)
    if r["errors"]:
        print(f"  {'':9}        errors: {r['errors']}", flush=True)


def _print_idle(name: str, r: dict[str, Any], count: int) -> None:
    print(f"  {name:9} idle : {r['accepted']}/{count} held; RSS {_mib(r['rss_before'])} -> "
          f"{_mib(r['rss_after'])}; {r['per_station'] / 1024:.1f} KiB per station; "
          f"heartbeats {r['heartbeats']} ok, {r['heartbeat_errors']} failed, {r['lost']} lost",
          flush=True)
    if r["errors"]:
        print(f"  {'':9}        errors: {r['errors']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storm", type=int, default=5000, help="stations in the boot storm")
    parser.add_argument("--idle", type=int, default=10000, help="stations held open")
    parser.add_argument("--interval", type=float, default=5.0, help="heartbeat interval (s)")
    parser.add_argument("--samples", type=int, default=3,
                        help="RSS readings, one per heartbeat interval, with all stations held")
    parser.add_argument("--workers", type=int, default=4, help="client processes")
    parser.add_argument("--pace", type=int, default=400,
                        help="idle phase: connections being set up at once (all workers)")
    parser.add_argument("--deadline", type=float, default=120.0,
                        help="seconds a station keeps trying before it counts as failed")
    parser.add_argument("--only", choices=["hub", "baseline"], action="append")
    parser.add_argument("--phases", default="storm,idle")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=9001, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.port)
        return 0

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpus, client_cpus = ([cpus[0]], cpus[1:]) if len(cpus) > 1 and not args.no_pin \
        else ([], [])
    names = args.only or ["hub", "baseline"]
    phases = args.phases.split(",")
    load = os.getloadavg()
    print(f"capacity bench: storm {args.storm}, idle {args.idle} (heartbeat every "
          f"{args.interval:g} s), {args.workers} client processes; server CPUs "
          f"{server_cpus or 'any'}, client CPUs {client_cpus or 'any'}; load average before: "
          f"{load[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    if load[0] > 1.0:
        print("  note: the machine is busy with other work; figures are noisy", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        results[name] = {}
        if "storm" in phases:
            results[name]["storm"] = r = storm(name, args, server_cpus, client_cpus)
            _print_storm(name, r, args.storm)
        if "idle" in phases:
            results[name]["idle"] = r = idle(name, args, server_cpus, client_cpus)
            _print_idle(name, r, args.idle)

    if len(names) == 2:
        hub, base = results["hub"], results["baseline"]
        print("hub vs baseline:", flush=True)
        ok = True
        if "storm" in phases:
            hs, bs = hub["storm"], base["storm"]
            all_in = hs["failed"] == 0 and hs["accepted"] == args.storm
            ratio = (hs["seconds"] / bs["seconds"]) if hs["seconds"] and bs["seconds"] else None
            print(f"  storm time: hub {hs['seconds'] or 0:.2f} s, baseline "
                  f"{bs['seconds'] or 0:.2f} s, ratio {ratio or float('nan'):.2f} (target <= 1); "
                  f"hub accepted all: {all_in}", flush=True)
            ok = ok and all_in and ratio is not None and ratio <= 1.0
        if "idle" in phases:
            hi, bi = hub["idle"], base["idle"]
            ratio = hi["per_station"] / bi["per_station"] if bi["per_station"] > 0 else None
            total = hi["rss_after"]
            print(f"  memory per station: hub {hi['per_station'] / 1024:.1f} KiB, baseline "
                  f"{bi['per_station'] / 1024:.1f} KiB, ratio {ratio or float('nan'):.2f} "
                  f"(target <= 1.5); hub RSS with {hi['accepted']} stations {_mib(total)} "
                  f"(target < 1024 MiB)", flush=True)
            ok = ok and ratio is not None and ratio <= 1.5 and total < 2**30 \
                and hi["accepted"] == args.idle
        print(f"targets met: {ok}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
