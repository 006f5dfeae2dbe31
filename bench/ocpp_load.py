#!/usr/bin/env python3
"""OCPP 1.6J load benchmark: the hub against two baselines, with one generator, in one run.

Servers (each its own subprocess):

  hub   ``python3 -m hub serve --dev`` on a fresh SQLite database (or ``--hub-url``: a running hub)
  ocpp  bench/baseline_ocpp_server.py: the ``ocpp`` package's canonical central system, defaults
  raw   bench/baseline_raw_server.py: aiohttp WebSocket answering canned JSON, no validation

The generator opens N real OCPP 1.6 WebSocket stations (subprotocol ``ocpp1.6``, ids
``BENCH-00001``...), boots them, then runs two timed phases:

  heartbeat  every station loops Heartbeat -> response as fast as it can
  tx-mix     every station loops Authorize, StartTransaction, 5 x MeterValues, StopTransaction

and reports round trips (messages) per second across all stations with p50/p99 latency. All
servers are started first and the measured windows are interleaved across them, phase by phase
(``--rounds N`` repeats that and reports each server's best window). Every response is checked:
a CALLERROR, a mismatched unique id, a malformed or missing answer counts as an error.

The generator is hand-built JSON frames on raw aiohttp client WebSockets, in its own process(es);
by default every server is pinned to CPU 0 and the generator to the other CPUs so that neither
steals the other's core. CPU use of both sides, and of anything else on the machine, is reported
so that a generator-bound or disturbed figure is visible as such.

    python3 bench/ocpp_load.py                       # all three, 50 stations, 10 s per phase
    python3 bench/ocpp_load.py --only hub --hub-url ws://127.0.0.1:9751/ocpp
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the test extra
    psutil = None

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SERVERS = ("hub", "ocpp", "raw")
SERVER_TITLES = {
    "hub": "hub (pnc-hub)",
    "ocpp": "baseline A (ocpp pkg)",
    "raw": "baseline B (raw aiohttp)",
}
PHASES = ("heartbeat", "txmix")
METER_VALUES_PER_TX = 5
ID_TAG = "BENCH-TAG"
# How long after the end of a phase a station may take to finish its last call (a tx-mix station
# also finishes its transaction) before it is counted as "no response" and dropped.
GRACE_SECONDS = 10.0
MAX_ERROR_EXAMPLES = 5


# --------------------------------------------------------------------------------------------
# The generator (runs in worker processes)
# --------------------------------------------------------------------------------------------


def _utc_now() -> str:
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
    # Every CALLRESULT received, by action, in or out of the measured window.
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

    async def call(self, action: str, payload: str, rec: Recorder) -> tuple[Any, float, float]:
        """Send one CALL and wait for its answer.

        Returns (payload or None on a CALLERROR/mismatch, send time, receive time).
        Raises StationLost when the socket is gone (the station is then dead).
        """
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
                    rec.errors.add(f"{action}: mismatched unique id", msg.data)
                    continue
                if mtype == 3 and isinstance(frame[2], dict):
                    rec.answered[action] += 1
                    return frame[2], t0, t1
                if mtype == 4:
                    rec.errors.add(f"{action}: CALLERROR {frame[2]}", msg.data)
                    return None, t0, t1
            except (ValueError, LookupError, TypeError):
                pass
            rec.errors.add(f"{action}: malformed answer", msg.data)
            return None, t0, t1


HEARTBEAT = "{}"


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


def _sampled_values(meter_wh: int, power_w: int, soc: int) -> str:
    return json.dumps(
        [
            {
                "value": str(meter_wh),
                "context": "Sample.Periodic",
                "measurand": "Energy.Active.Import.Register",
                "location": "Outlet",
                "unit": "Wh",
            },
            {
                "value": str(power_w),
                "context": "Sample.Periodic",
                "measurand": "Power.Active.Import",
                "location": "Outlet",
                "unit": "W",
            },
            {
                "value": f"{power_w / 230:.1f}",
                "context": "Sample.Periodic",
                "measurand": "Current.Import",
                "location": "Outlet",
                "unit": "A",
            },
            {
                "value": str(soc),
                "context": "Sample.Periodic",
                "measurand": "SoC",
                "location": "EV",
                "unit": "Percent",
            },
        ],
        separators=(",", ":"),
    )


async def txmix_loop(st: Station, rec: Recorder) -> None:
    t_start, t_end = rec.t_start, rec.t_end
    lat = rec.latencies
    perf = time.perf_counter
    by_action = rec.by_action

    async def one(action: str, payload: str) -> dict | None:
        answer, t0, t1 = await st.call(action, payload, rec)
        if answer is not None and t_start <= t1 <= t_end:
            rec.count += 1
            by_action[action] += 1
            lat.append(t1 - t0)
        return answer

    while perf() < t_end:
        answer = await one("Authorize", f'{{"idTag":"{ID_TAG}"}}')
        if answer is None:
            continue
        status = (answer.get("idTagInfo") or {}).get("status")
        if not isinstance(status, str):
            rec.errors.add("Authorize: no idTagInfo.status", json.dumps(answer))
            continue
        rec.id_tag_status[status] += 1

        meter_start = st.meter
        answer = await one(
            "StartTransaction",
            f'{{"connectorId":1,"idTag":"{ID_TAG}","meterStart":{meter_start},'
            f'"timestamp":"{_utc_now()}"}}',
        )
        if answer is None:
            continue
        tx_id = answer.get("transactionId")
        if not isinstance(tx_id, int) or isinstance(tx_id, bool):
            rec.errors.add("StartTransaction: no integer transactionId", json.dumps(answer))
            continue

        for i in range(METER_VALUES_PER_TX):
            st.meter += 250
            values = _sampled_values(st.meter, 11000 - 100 * i, 20 + i)
            await one(
                "MeterValues",
                f'{{"connectorId":1,"transactionId":{tx_id},"meterValue":'
                f'[{{"timestamp":"{_utc_now()}","sampledValue":{values}}}]}}',
            )
        answer = await one(
            "StopTransaction",
            f'{{"idTag":"{ID_TAG}","meterStop":{st.meter},"timestamp":"{_utc_now()}",'
            f'"transactionId":{tx_id},"reason":"Local"}}',
        )
        if answer is not None:
            rec.transactions += 1


LOOPS = {"heartbeat": heartbeat_loop, "txmix": txmix_loop}


async def _connect(
    session: aiohttp.ClientSession, base_url: str, sid: str, rec: Recorder
) -> Station | None:
    try:
        ws = await session.ws_connect(
            f"{base_url}/{sid}",
            protocols=("ocpp1.6",),
            autoping=True,
            heartbeat=None,
            compress=0,
            timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
        )
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        rec.errors.add("connect: failed", f"{sid}: {exc!r}")
        return None
    if ws.protocol != "ocpp1.6":
        rec.errors.add("connect: subprotocol ocpp1.6 not negotiated", f"{sid}: {ws.protocol!r}")
        await ws.close()
        return None
    st = Station(sid, ws)
    try:
        answer, _, _ = await asyncio.wait_for(
            st.call(
                "BootNotification",
                json.dumps(
                    {
                        "chargePointVendor": "pnc-hub-bench",
                        "chargePointModel": "ocpp_load",
                        "chargePointSerialNumber": sid,
                        "firmwareVersion": "1.0.0",
                    }
                ),
                rec,
            ),
            timeout=GRACE_SECONDS,
        )
        if answer is None:
            raise StationLost("BootNotification not answered")
        if answer.get("status") != "Accepted":
            rec.errors.add("BootNotification: not Accepted", json.dumps(answer))
            raise StationLost("BootNotification not Accepted")
        answer, _, _ = await asyncio.wait_for(
            st.call(
                "StatusNotification",
                f'{{"connectorId":1,"errorCode":"NoError","status":"Available",'
                f'"timestamp":"{_utc_now()}"}}',
                rec,
            ),
            timeout=GRACE_SECONDS,
        )
        if answer is None:
            raise StationLost("StatusNotification not answered")
    except (TimeoutError, StationLost) as exc:
        rec.errors.add("boot: station dropped", f"{sid}: {exc!r}")
        await ws.close()
        return None
    return st


async def _run_phase(stations: list[Station], phase: str, rec: Recorder) -> None:
    loop_fn = LOOPS[phase]

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


async def _worker_main(conn, base_url: str, station_ids: list[str]) -> None:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        boot_rec = Recorder(0.0, 0.0)
        t0 = time.perf_counter()
        sem = asyncio.Semaphore(100)

        async def connect(sid: str) -> Station | None:
            async with sem:
                return await _connect(session, base_url, sid, boot_rec)

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
            await _run_phase(stations, phase, rec)
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


def worker_entry(conn, base_url: str, station_ids: list[str], cpus: list[int] | None) -> None:
    if cpus:
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            pass
    try:
        asyncio.run(_worker_main(conn, base_url, station_ids))
    except Exception as exc:  # report, do not hang the parent
        try:
            conn.send(("crash", repr(exc)))
        except OSError:
            pass
        raise
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Servers under test (subprocesses)
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(Exception):
    pass


class Server:
    """A server under test: a subprocess we start, or a running hub given by URL."""

    def __init__(
        self,
        kind: str,
        workdir: Path,
        cpu: int | None,
        hub_url: str | None,
        token: str | None = None,
    ) -> None:
        self.token = token
        self.kind = kind
        self.workdir = workdir
        self.cpu = cpu
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"{kind}.log"
        self.external = kind == "hub" and hub_url is not None
        self.port = 0 if self.external else free_port()
        if self.external:
            self.ws_base = hub_url.rstrip("/")
        elif kind == "hub":
            self.ws_base = f"ws://127.0.0.1:{self.port}/ocpp"
        else:
            self.ws_base = f"ws://127.0.0.1:{self.port}/ocpp"

    def command(self) -> list[str]:
        if self.kind == "hub":
            return [
                sys.executable, "-m", "hub", "serve", "--dev",
                "--host", "127.0.0.1", "--port", str(self.port),
                "--database-url", self.database_url(),
            ]  # fmt: skip
        script = {"ocpp": "baseline_ocpp_server.py", "raw": "baseline_raw_server.py"}[self.kind]
        return [sys.executable, str(BENCH_DIR / script), "--port", str(self.port)]

    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.workdir / 'bench.db'}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        return env

    def prepare_hub(self) -> str | None:
        """Register the bench's id tag so that Authorize/StartTransaction take the Accepted path.

        Returns a note when that was not possible (the bench then runs with whatever the hub
        answers for an unknown tag, and reports the statuses it got).
        """
        cmd = [sys.executable, "-m", "hub", "idtag", "add", ID_TAG]
        cmd += ["--database-url", self.database_url()]
        try:
            done = subprocess.run(
                cmd,
                cwd=str(self.workdir),
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"could not register id tag {ID_TAG}: {exc!r}"
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            return f"could not register id tag {ID_TAG}: exit {done.returncode}: {tail}"
        return None

    def start(self, timeout: float = 60.0) -> None:
        if self.external:
            return
        if self.kind == "hub" and not (REPO_ROOT / "hub" / "cli.py").exists():
            raise ServerError("hub/cli.py not found: the hub has not landed in this tree")
        env = self._env()
        cpu = self.cpu

        def pin() -> None:  # in the child before exec, so that every thread inherits it
            if cpu is not None:
                try:
                    os.sched_setaffinity(0, {cpu})
                except OSError:
                    pass

        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=str(self.workdir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pin,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.1)
        raise ServerError(f"not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        if self.kind == "hub":
            try:
                url = f"http://127.0.0.1:{self.port}/healthCheck-01"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    return resp.status == 200
            except (urllib.error.URLError, OSError):
                return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def admin_token(self) -> str | None:
        if self.token is None and not self.external:
            try:
                for line in self.log_path.read_text(errors="replace").splitlines():
                    if line.startswith("Admin token (dev): "):
                        self.token = line.split(": ", 1)[1].strip()
            except OSError:
                pass
        return self.token

    def hub_metrics(self) -> dict[str, float] | None:
        """The hub's unlabelled Prometheus figures, or None (not the hub, no token, no route)."""
        token = self.admin_token() if self.kind == "hub" else None
        if not token:
            return None
        http = "http" + self.ws_base[2:] if self.ws_base.startswith("ws") else self.ws_base
        host = http.split("://", 1)[1].split("/", 1)[0]
        scheme = http.split("://", 1)[0]
        req = urllib.request.Request(
            f"{scheme}://{host}/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                text = resp.read().decode()
        except (urllib.error.URLError, OSError, ValueError):
            return None
        figures = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if line.startswith("pnc_hub_") and "{" not in name:
                try:
                    figures[name] = float(value)
                except ValueError:
                    pass
        return figures

    def cpu_seconds(self) -> float | None:
        if self.proc is None or psutil is None:
            return None
        try:
            t = psutil.Process(self.proc.pid).cpu_times()
            return t.user + t.system
        except psutil.Error:
            return None

    def rss_mib(self) -> float | None:
        if self.proc is None or psutil is None:
            return None
        try:
            return psutil.Process(self.proc.pid).memory_info().rss / 2**20
        except psutil.Error:
            return None

    def alive(self) -> bool:
        return self.external or (self.proc is not None and self.proc.poll() is None)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join("    | " + line for line in text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


def merge_errors(target: dict[str, Any], errors: dict[str, Any]) -> None:
    counts = target.setdefault("counts", {})
    for kind, n in errors["counts"].items():
        counts[kind] = counts.get(kind, 0) + n
    examples = target.setdefault("examples", [])
    examples.extend(errors["examples"][: max(0, MAX_ERROR_EXAMPLES - len(examples))])


def add_counts(target: dict[str, int], more: dict[str, int]) -> None:
    for k, n in more.items():
        target[k] = target.get(k, 0) + n


class Workers:
    def __init__(self, n: int, base_url: str, station_ids: list[str], cpus: list[int] | None):
        ctx = multiprocessing.get_context("spawn")
        self.conns = []
        self.procs = []
        for i in range(n):
            parent, child = ctx.Pipe()
            share = station_ids[i::n]
            proc = ctx.Process(
                target=worker_entry, args=(child, base_url, share, cpus), daemon=True
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
                raise ServerError(f"generator worker did not report {expect!r} in time")
            msg = conn.recv()
            if msg[0] != expect:
                raise ServerError(f"generator worker: {msg!r}")
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


def _proc_cpu(pid: int | None) -> float | None:
    if psutil is None or pid is None:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system


def cpu_snapshot(server: Server, workers: Workers) -> dict[str, float | None]:
    """CPU seconds used so far by the server, the generator, this process and the machine."""
    gen = [_proc_cpu(p.pid) for p in workers.procs]
    machine = None
    if psutil is not None:
        t = psutil.cpu_times()
        # Process time only: interrupt time (loopback traffic is softirq work) is left out, as
        # it is not in any process's times either.
        machine = t.user + t.nice + t.system
    return {
        "server": server.cpu_seconds(),
        "generator": None if None in gen else sum(gen),
        "parent": _proc_cpu(os.getpid()),
        "machine": machine,
    }


class Target:
    """One server under test with its generator workers and what was measured against it."""

    def __init__(self, kind: str, args: argparse.Namespace, workdir: Path) -> None:
        self.kind = kind
        self.args = args
        self.server = Server(kind, workdir, 0 if args.pin else None, args.hub_url, args.hub_token)
        self.workers: Workers | None = None
        self.errors: dict[str, Any] = {}
        self.answered: dict[str, int] = {}
        self.server_calls: dict[str, int] = {}
        self.result: dict[str, Any] = {
            "server": kind,
            "url": self.server.ws_base,
            "phases": {},
            "rounds": [],
            "errors": self.errors,
            "answered": self.answered,
            "server_calls": self.server_calls,
        }

    @property
    def usable(self) -> bool:
        return "failed" not in self.result

    def fail(self, why: str) -> None:
        self.result.setdefault("failed", why)

    def setup(self) -> None:
        """Start the server, then connect and boot the stations."""
        kind, args, server, result = self.kind, self.args, self.server, self.result
        print(f"[{kind}] starting {SERVER_TITLES[kind]} ...", file=sys.stderr, flush=True)
        try:
            if kind == "hub" and not server.external and (REPO_ROOT / "hub" / "cli.py").exists():
                note = server.prepare_hub()
                if note:
                    result["note"] = note
            t0 = time.monotonic()
            server.start()
            result["startup_seconds"] = round(time.monotonic() - t0, 2)
        except ServerError as exc:
            self.fail(f"did not start: {exc}")
            return
        station_ids = [f"BENCH-{i:05d}" for i in range(1, args.stations + 1)]
        gen_cpus = sorted(set(range(os.cpu_count() or 1)) - {0}) if args.pin else None
        self.workers = Workers(args.workers, server.ws_base, station_ids, gen_cpus)
        try:
            ready = self.workers.recv_all("ready", timeout=60 + args.stations * 0.1)
        except ServerError as exc:
            self.fail(str(exc))
            return
        for r in ready:
            merge_errors(self.errors, r["errors"])
            add_counts(self.server_calls, r["server_calls"])
            add_counts(self.answered, r["answered"])
        result["connected"] = sum(r["connected"] for r in ready)
        result["connect_seconds"] = round(max(r["seconds"] for r in ready), 2)
        print(
            f"[{kind}] {result['connected']}/{args.stations} stations booted in "
            f"{result['connect_seconds']} s",
            file=sys.stderr,
            flush=True,
        )
        if result["connected"] == 0:
            self.fail("no station could connect and boot")

    def measure(self, phase: str, round_no: int) -> None:
        """One measured window of one phase; the best round of each phase is the figure."""
        args, server, workers = self.args, self.server, self.workers
        assert workers is not None
        t_begin = time.perf_counter() + 0.3
        t_start = t_begin + args.warmup
        t_end = t_start + args.seconds
        try:
            workers.send_all(("phase", phase, t_begin, t_start, t_end))
            time.sleep(max(0.0, t_start - time.perf_counter()))
            metrics0 = server.hub_metrics()
            cpu0 = cpu_snapshot(server, workers)
            time.sleep(max(0.0, t_end - time.perf_counter()))
            cpu1 = cpu_snapshot(server, workers)
            metrics1 = server.hub_metrics()
            reports = workers.recv_all("result", timeout=GRACE_SECONDS + 30)
        except (ServerError, OSError) as exc:
            self.fail(f"generator failed during {phase}: {exc}")
            return
        lat: list[float] = []
        for r in reports:
            a = array("d")
            a.frombytes(r["latencies"])
            lat.extend(a)
        lat.sort()
        perr: dict[str, Any] = {}
        by_action: dict[str, int] = {}
        id_tags: dict[str, int] = {}
        for r in reports:
            merge_errors(perr, r["errors"])
            merge_errors(self.errors, r["errors"])
            add_counts(by_action, r["by_action"])
            add_counts(id_tags, r["id_tag_status"])
            add_counts(self.server_calls, r["server_calls"])
            add_counts(self.answered, r["answered"])
        count = sum(r["count"] for r in reports)
        cpu: dict[str, float | None] = {}
        for k in cpu0:
            a, b = cpu0[k], cpu1[k]
            cpu[k] = None if a is None or b is None else (b - a) / args.seconds
        if cpu["generator"] is None:  # no psutil: the workers' own count, whole phase
            cpu["generator"] = sum(r["cpu_seconds"] for r in reports) / max(
                1e-9, max(r["wall_seconds"] for r in reports)
            )
        if None not in (cpu["machine"], cpu["server"], cpu["generator"], cpu["parent"]):
            # CPU that neither this server, its generator nor this process used: other
            # programs on the machine, which disturb the figures.
            cpu["other"] = max(
                0.0, cpu["machine"] - cpu["server"] - cpu["generator"] - cpu["parent"]
            )
        else:
            cpu["other"] = None
        ph = {
            "phase": phase,
            "round": round_no,
            "messages": count,
            "per_second": count / args.seconds,
            "p50_ms": None if not lat else percentile(lat, 0.50) * 1000,
            "p99_ms": None if not lat else percentile(lat, 0.99) * 1000,
            "max_ms": None if not lat else lat[-1] * 1000,
            "by_action": by_action,
            "id_tag_status": id_tags,
            "transactions": sum(r["transactions"] for r in reports),
            "errors": perr,
            "stations_alive": sum(r["alive"] for r in reports),
            "server_cpu": cpu["server"],
            "generator_cpu": cpu["generator"],
            "other_cpu": cpu["other"],
            "hub_metrics": hub_window_metrics(metrics0, metrics1),
        }
        self.result["rounds"].append(ph)
        best = self.result["phases"].get(phase)
        if best is None or ph["per_second"] > best["per_second"]:
            self.result["phases"][phase] = ph
        print(
            f"[{self.kind}] {phase} round {round_no}: {ph['per_second']:,.0f}/s, "
            f"{sum(perr.get('counts', {}).values())} errors, other CPU {_pct(cpu['other'])}",
            file=sys.stderr,
            flush=True,
        )
        if not server.alive():
            self.fail(f"server died during {phase}:\n{server.log_tail()}")

    def teardown(self) -> None:
        server, result = self.server, self.result
        result["server_rss_mib"] = server.rss_mib()
        if self.workers is not None:
            self.workers.close()
        still_up = server.alive()
        rc = server.stop()
        if not server.external:
            result["exit_code"] = rc
            if not still_up and self.workers is not None:
                self.fail(f"server exited with {rc}:\n{server.log_tail()}")
        if self.kind == "hub" and not server.external:
            result["database"] = hub_database_facts(server.workdir / "bench.db")


def hub_window_metrics(
    before: dict[str, float] | None, after: dict[str, float] | None
) -> dict[str, float] | None:
    """What the hub's own counters say about one measured window (best effort)."""
    if not before or not after:
        return None

    def delta(name: str) -> float | None:
        if name in before and name in after:
            return after[name] - before[name]
        return None

    out: dict[str, float] = {}
    batches = delta("pnc_hub_group_commit_batches_total")
    units = delta("pnc_hub_group_commit_units_total")
    seconds = delta("pnc_hub_group_commit_seconds_total")
    if batches:
        out["group_commits"] = batches
        if units is not None:
            out["units_per_commit"] = units / batches
        if seconds is not None:
            out["commit_ms"] = 1000 * seconds / batches
    for key, name in (
        ("log_written", "pnc_hub_message_log_written_total"),
        ("log_dropped", "pnc_hub_message_log_dropped_total"),
        ("commit_failures", "pnc_hub_group_commit_failures_total"),
    ):
        value = delta(name)
        if value is not None:
            out[key] = value
    return out


def run_all(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Start every server, then interleave the measured windows across them.

    The windows run hub, ocpp, raw for one phase, then the next phase, for each round, so that a
    disturbance from elsewhere on the machine does not land on one server only; with several
    rounds the best window of each phase is reported.
    """
    targets = [Target(kind, args, workdir) for kind in args.only]
    try:
        for target in targets:
            target.setup()
        for round_no in range(1, args.rounds + 1):
            for phase in args.phases:
                for target in targets:
                    if target.usable:
                        target.measure(phase, round_no)
    finally:
        for target in targets:
            target.teardown()
    return [target.result for target in targets]


def hub_database_facts(path: Path) -> dict[str, int] | None:
    """Row counts in the hub's SQLite database after it stopped (a durability cross-check).

    Best effort: the table names are the hub's; a missing table is left out.
    """
    import sqlite3

    if not path.exists():
        return None
    facts = {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        for table in ("transactions", "meter_values", "ocpp_messages"):
            try:
                facts[table] = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            except sqlite3.Error:
                pass
    finally:
        db.close()
    return facts


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def print_report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    pin = "server pinned to CPU 0, generator to the others" if args.pin else "no CPU pinning"
    print()
    print(
        f"OCPP 1.6J load: {args.stations} stations, {args.seconds:g} s per phase "
        f"(+{args.warmup:g} s warm-up), "
        + (f"best of {args.rounds} interleaved rounds, " if args.rounds > 1 else "")
        + f"{args.workers} generator process(es) per server, {pin}, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'server':<26}{'heartbeat rt/s':>15}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'tx-mix msg/s':>14}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}"
        f"{'srv cpu hb/tx':>15}{'gen cpu hb/tx':>15}{'other cpu':>11}"
    )
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    for res in results:
        kind = res["server"]
        hb = res["phases"].get("heartbeat", {})
        tx = res["phases"].get("txmix", {})
        n_err = sum(res["errors"].get("counts", {}).values())
        print(
            f"{SERVER_TITLES[kind]:<26}"
            f"{_fmt(hb.get('per_second'), ',.0f'):>15}"
            f"{_fmt(hb.get('p50_ms'), '.2f'):>8}{_fmt(hb.get('p99_ms'), '.2f'):>8}"
            f"{_fmt(tx.get('per_second'), ',.0f'):>14}"
            f"{_fmt(tx.get('p50_ms'), '.2f'):>8}{_fmt(tx.get('p99_ms'), '.2f'):>8}"
            f"{n_err:>8}"
            f"{_pct(hb.get('server_cpu')) + '/' + _pct(tx.get('server_cpu')):>15}"
            f"{_pct(hb.get('generator_cpu')) + '/' + _pct(tx.get('generator_cpu')):>15}"
            f"{_pct(hb.get('other_cpu')) + '/' + _pct(tx.get('other_cpu')):>11}"
        )
        if res.get("failed"):
            notes.append(f"{kind}: FAILED: {res['failed']}")
        if res.get("note"):
            notes.append(f"{kind}: {res['note']}")
        if res.get("connected") is not None and res["connected"] < args.stations:
            notes.append(f"{kind}: only {res['connected']}/{args.stations} stations booted")
        for phase, ph in res["phases"].items():
            gen = ph.get("generator_cpu") or 0.0
            srv = ph.get("server_cpu") or 0.0
            cpus = os.cpu_count() or 1
            if args.pin:  # the generator has every CPU but the server's
                bound = gen >= 0.9 * min(args.workers, max(1, cpus - 1))
            else:  # the machine is saturated and the generator holds a big share of it
                bound = gen + srv >= 0.9 * cpus and gen >= 0.5 * cpus
            hm = ph.get("hub_metrics")
            if hm:
                per = hm.get("units_per_commit")
                ms = hm.get("commit_ms")
                notes.append(
                    f"{kind} {phase}: hub counters in the window: "
                    f"{hm.get('group_commits', 0) / args.seconds:,.0f} group commits/s"
                    + (f" of {per:.1f} units, {ms:.1f} ms each" if per and ms else "")
                    + f"; message log {hm.get('log_written', 0):,.0f} rows written, "
                    f"{hm.get('log_dropped', 0):,.0f} dropped"
                    + (
                        f"; {hm['commit_failures']:.0f} failed units"
                        if hm.get("commit_failures")
                        else ""
                    )
                )
            other = ph.get("other_cpu") or 0.0
            if other >= 0.1:
                notes.append(
                    f"{kind} {phase}: other programs used {other * 100:.0f}% of a CPU during "
                    f"the window: the figures are disturbed, run again on a quiet machine"
                )
            if bound:
                notes.append(
                    f"{kind} {phase}: generator CPU {gen * 100:.0f}%: figure may be "
                    f"generator-bound (a lower bound for the server)"
                )
            if ph["stations_alive"] < res.get("connected", 0):
                notes.append(
                    f"{kind} {phase}: {res['connected'] - ph['stations_alive']} station(s) lost"
                )
        if tx.get("id_tag_status") and set(tx["id_tag_status"]) != {"Accepted"}:
            notes.append(f"{kind}: Authorize answered {tx['id_tag_status']}")
        if res.get("server_calls"):
            notes.append(
                f"{kind}: server-initiated calls answered NotImplemented: {res['server_calls']}"
            )
        db, got = res.get("database"), res.get("answered", {})
        if db:
            frames = 2 * sum(n for action, n in got.items() if action != "Heartbeat")
            notes.append(
                f"{kind}: its database after the run holds {db.get('transactions', '?')} "
                f"transactions ({got.get('StartTransaction', 0)} StartTransaction answered), "
                f"{db.get('meter_values', '?')} meter value rows "
                f"({4 * got.get('MeterValues', 0)} sampled values answered), "
                f"{db.get('ocpp_messages', '?')} OCPP log rows ({frames} frames exchanged "
                f"outside Heartbeat)"
            )
            if db.get("transactions", 0) < got.get("StartTransaction", 0) or db.get(
                "meter_values", 0
            ) < 4 * got.get("MeterValues", 0):
                notes.append(f"{kind}: LOST DATA: fewer facts in the database than were answered")
        for kind_, n in sorted(res["errors"].get("counts", {}).items()):
            notes.append(f"{kind}: error {kind_} x {n}")
        for example in res["errors"].get("examples", []):
            notes.append(f"{kind}:   e.g. {example}")

    by_kind = {r["server"]: r for r in results}
    hub = by_kind.get("hub")
    for base in ("ocpp", "raw"):
        other = by_kind.get(base)
        if hub is None or other is None:
            continue
        parts = []
        for phase, label in (("heartbeat", "heartbeat rt/s"), ("txmix", "tx-mix msg/s")):
            a = hub["phases"].get(phase, {}).get("per_second")
            b = other["phases"].get(phase, {}).get("per_second")
            if a is not None and b:
                parts.append(f"{label} {a / b:.2f}x")
        if parts:
            print(f"{'hub / ' + SERVER_TITLES[base]:<34}" + "   ".join(parts))

    # Messages per CPU-second of the server: what each server gets out of the CPU it was given,
    # far less sensitive than raw throughput to other programs competing for the machine.
    def efficiency(res: dict[str, Any], phase: str) -> float | None:
        ph = res["phases"].get(phase, {})
        cpu = ph.get("server_cpu")
        return None if not cpu or cpu < 0.05 else ph["per_second"] / cpu

    if any(efficiency(r, p) for r in results for p in args.phases):
        print()
        print("messages per server CPU-second (robust to other load on the machine):")
        print(f"{'server':<34}{'heartbeat':>10}{'tx-mix':>10}")
        for res in results:
            print(
                f"{SERVER_TITLES[res['server']]:<34}"
                f"{_fmt(efficiency(res, 'heartbeat'), ',.0f'):>10}"
                f"{_fmt(efficiency(res, 'txmix'), ',.0f'):>10}"
            )
        for base in ("ocpp", "raw"):
            other = by_kind.get(base)
            if hub is None or other is None:
                continue
            cells = []
            for phase in ("heartbeat", "txmix"):
                a, b = efficiency(hub, phase), efficiency(other, phase)
                cells.append("-" if a is None or not b else f"{a / b:.2f}x")
            print(f"{'hub / ' + SERVER_TITLES[base]:<34}{cells[0]:>10}{cells[1]:>10}")
    if notes:
        print()
        for note in notes:
            print(note)
    print()


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="OCPP 1.6J load benchmark: the hub against two baselines.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--stations", type=int, default=50, help="simulated stations per server")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each phase")
    p.add_argument(
        "--only",
        default=",".join(SERVERS),
        help="comma-separated servers to run, from: hub, ocpp, raw",
    )
    p.add_argument(
        "--phases", default=",".join(PHASES), help="comma-separated phases: heartbeat, txmix"
    )
    p.add_argument(
        "--hub-url",
        default=None,
        help="OCPP base URL of a running hub (e.g. ws://127.0.0.1:9751/ocpp); "
        "the station id is appended. Default: start one on a fresh SQLite database",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every phase this many times per server (interleaved); report the best",
    )
    p.add_argument("--workers", type=int, default=1, help="generator processes per server")
    p.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the server to CPU 0 and the generator to the other CPUs",
    )
    p.add_argument(
        "--hub-token",
        default=None,
        help="bearer token for the /metrics of a hub given by --hub-url (a hub the bench "
        "starts prints its dev admin token, which is used)",
    )
    p.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, database)")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = set(args.only) - set(SERVERS)
    if bad or not args.only:
        p.error(f"--only: unknown server(s) {sorted(bad)}; choose from {', '.join(SERVERS)}")
    args.only = [s for s in SERVERS if s in args.only]
    args.phases = [s.strip() for s in args.phases.split(",") if s.strip()]
    if set(args.phases) - set(PHASES) or not args.phases:
        p.error(f"--phases: choose from {', '.join(PHASES)}")
    if min(args.stations, args.workers, args.rounds) < 1 or args.seconds <= 0 or args.warmup < 0:
        p.error("--stations, --workers, --rounds must be >= 1, --seconds > 0, --warmup >= 0")
    if args.pin and (os.cpu_count() or 1) < 2:
        args.pin = False
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pin:
        gen_cpus = set(range(os.cpu_count() or 1)) - {0}
        try:
            os.sched_setaffinity(0, gen_cpus)
        except OSError:
            args.pin = False
    workdir = Path(tempfile.mkdtemp(prefix="pnc-bench-"))
    results: list[dict[str, Any]] = []
    t0 = time.monotonic()
    try:
        results = run_all(args, workdir)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(results, args)
    print(f"total wall time {time.monotonic() - t0:.0f} s")
    if args.json_path:
        out = {
            "stations": args.stations,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "workers": args.workers,
            "pinned": args.pin,
            "cpus": os.cpu_count(),
            "results": results,
        }
        Path(args.json_path).write_text(json.dumps(out, indent=2))
    failed = any(r.get("failed") for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
