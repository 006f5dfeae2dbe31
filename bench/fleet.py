#!/usr/bin/env python3
"""Fleet benchmark: N stations living a realistic day on one hub, time compressed.

Every station (one connector each) boots, then lives its day:

- a Heartbeat every 300 s;
- about 30 % of the time charging: sessions of 20 to 90 minutes (uniform), idle gaps drawn so
  that the share of charging connectors stays near 30 %; a session is StatusNotification
  Preparing (2.0.1: Occupied), Authorize, StartTransaction (2.0.1: TransactionEvent Started),
  StatusNotification Charging, a MeterValues (2.0.1: TransactionEvent Updated) every 60 s with
  four measurands (energy register, power, current, SoC), StopTransaction (Ended),
  StatusNotification Finishing and Available (2.0.1: Available);
- 1.6 and 2.0.1 stations mixed (``--mix``: mixed = every other one, or one version only).

Time runs ``--speed`` times faster than a real day (default 60: a heartbeat every 5 s, meter
values every second per charging connector), so one station here offers the message load of
``--speed`` real ones; memory and connections are per simulated station.

For each N of ``--stations`` (a ladder, smallest first) the bench starts a fresh hub
(``python3 -m hub serve --dev`` on a fresh SQLite database, pinned to CPU 0), connects the
stations from ``--workers`` generator processes (pinned to the other CPUs), lets them live for
``--warmup`` + ``--seconds``, and measures in the window: answers, the p50/p99 answer latency
(send to answer, every call sent in the window), the hub's CPU (user + system, so a busy shared
machine does not inflate it) and its resident memory per held station. It reports the largest
N whose p99 stayed under 1 s, with N per server CPU core (N divided by the server's CPU use in
the window) and memory per station. The ladder stops at the first N above 1 s.

Bounded: loopback only (it starts its own hub on 127.0.0.1), at most MAX_STATIONS stations and
``--max-minutes`` in all; it stops by itself.

    python3 bench/fleet.py                                 # mixed, 250..4000 stations
    python3 bench/fleet.py --mix 2.0.1 --stations 500,1000,2000 --seconds 30
    # a burst: 2,000 stations boot at once, all start a transaction, meter values every 10 s
    python3 bench/fleet.py --stations 2000 --speed 6 --charging 1 --connect-at-once 1000

Handshakes refused with an HTTP answer (503 + Retry-After) are retried like a charger would;
a handshake closed without an HTTP answer is counted as such.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ocpp_bench import ocpp16, ocpp201  # noqa: E402
from ocpp_bench.common import ID_TAG  # noqa: E402
from ocpp_bench.servers import SERVER_CPU, Server, generator_cpus  # noqa: E402
from ocpp_bench.station import Recorder, Station, StationLost, utc_now  # noqa: E402
from ocpp_bench.versions import DIALECTS  # noqa: E402

MAX_STATIONS = 20_000
HEARTBEAT_S = 300.0
METER_S = 60.0
SESSION_S = (20 * 60.0, 90 * 60.0)
CHARGING_SHARE = 0.3
# Mean idle gap that makes sessions (mean 55 min) fill 30 % of the time.
IDLE_MEAN_S = (sum(SESSION_S) / 2) * (1 - CHARGING_SHARE) / CHARGING_SHARE
P99_LIMIT = 1.0
GRACE_S = 10.0


# --------------------------------------------------------------------------------------------
# One station's day (in a generator process)
# --------------------------------------------------------------------------------------------


START_LABELS = ("StartTransaction", ocpp201.STARTED)


class Day:
    """What one generator process measured in the window."""

    def __init__(self, t_start: float, t_end: float) -> None:
        self.rec = Recorder(t_start, t_end)
        self.lat = array("d")
        self.start_lat = array("d")  # StartTransaction / TransactionEvent Started
        self.unanswered = 0
        self.sessions = 0


async def _call(st: Station, day: Day, action: str, payload: str, label: str | None = None
                ) -> dict | None:
    answer, t0, t1 = await st.call(action, payload, day.rec, label)
    if label in START_LABELS or action == "StartTransaction":
        # Every start, also those of the warm-up: with --charging 1 every station starts its
        # transaction as soon as it lives, a burst the window would otherwise not see.
        day.start_lat.append(t1 - t0)
    if day.rec.t_start <= t0 <= day.rec.t_end:
        day.rec.by_action[label or action] += 1
        day.lat.append(t1 - t0)
        if answer is None:
            day.unanswered += 1
    return answer


def _status(version: str, status: str) -> str:
    if version == "1.6":
        return (f'{{"connectorId":1,"errorCode":"NoError","status":"{status}",'
                f'"timestamp":"{utc_now()}"}}')
    status = {"Preparing": "Occupied", "Charging": "Occupied", "Finishing": "Occupied"}.get(
        status, status)
    return f'{{"timestamp":"{utc_now()}","connectorStatus":"{status}","evseId":1,"connectorId":1}}'


class Session:
    """One charging session of one station, in either version."""

    def __init__(self, st: Station, version: str, day: Day) -> None:
        self.st, self.version, self.day = st, version, day
        self.tx: Any = None
        self.seq = 0
        self.n = 0

    async def start(self) -> bool:
        st, day = self.st, self.day
        await _call(st, day, "StatusNotification", _status(self.version, "Preparing"))
        if self.version == "1.6":
            await _call(st, day, "Authorize", f'{{"idTag":"{ID_TAG}"}}')
            answer = await _call(st, day, "StartTransaction",
                                 f'{{"connectorId":1,"idTag":"{ID_TAG}","meterStart":'
                                 f'{st.meter},"timestamp":"{utc_now()}"}}')
            self.tx = (answer or {}).get("transactionId")
        else:
            await _call(st, day, "Authorize", f'{{"idToken":{ocpp201.ID_TOKEN}}}')
            self.tx = f"{st.sid}-{time.time_ns()}"
            answer = await _call(st, day, "TransactionEvent", ocpp201._event(
                "Started", "Authorized", 0,
                f'{{"transactionId":"{self.tx}","chargingState":"Charging"}}',
                f',"idToken":{ocpp201.ID_TOKEN},"evse":{ocpp201.EVSE},'
                f'"meterValue":{ocpp201._register(st.meter, "Transaction.Begin")}'),
                ocpp201.STARTED)
        if answer is None or self.tx is None:
            return False
        day.sessions += 1
        await _call(st, day, "StatusNotification", _status(self.version, "Charging"))
        return True

    async def meter(self) -> None:
        st = self.st
        st.meter += 180  # 10.8 kW for one minute
        self.n += 1
        power, soc = 10800 - 10 * self.n, min(100, 20 + self.n)
        if self.version == "1.6":
            values = ocpp16._sampled_values(st.meter, power, soc)
            await _call(st, self.day, "MeterValues",
                        f'{{"connectorId":1,"transactionId":{self.tx},"meterValue":'
                        f'[{{"timestamp":"{utc_now()}","sampledValue":{values}}}]}}')
        else:
            self.seq += 1
            await _call(st, self.day, "TransactionEvent", ocpp201._event(
                "Updated", "MeterValuePeriodic", self.seq,
                f'{{"transactionId":"{self.tx}","chargingState":"Charging"}}',
                f',"meterValue":{ocpp201._periodic(st.meter, power, soc)}'), ocpp201.UPDATED)

    async def stop(self) -> None:
        st, day = self.st, self.day
        if self.version == "1.6":
            await _call(st, day, "StopTransaction",
                        f'{{"idTag":"{ID_TAG}","meterStop":{st.meter},"timestamp":'
                        f'"{utc_now()}","transactionId":{self.tx},"reason":"Local"}}')
            await _call(st, day, "StatusNotification", _status("1.6", "Finishing"))
        else:
            await _call(st, day, "TransactionEvent", ocpp201._event(
                "Ended", "EVCommunicationLost", self.seq + 1,
                f'{{"transactionId":"{self.tx}","stoppedReason":"EVDisconnected"}}',
                f',"meterValue":{ocpp201._register(st.meter, "Transaction.End")}'),
                ocpp201.ENDED)
        await _call(st, day, "StatusNotification", _status(self.version, "Available"))


async def live(st: Station, version: str, speed: float, day: Day, rng: random.Random,
               charging_share: float = CHARGING_SHARE) -> None:
    """The station's day until the window ends: heartbeats, and sessions with meter values."""
    perf = time.perf_counter
    now = perf()
    next_heartbeat = now + rng.uniform(0, HEARTBEAT_S / speed)
    session: Session | None = None
    if rng.random() < charging_share:  # already charging: somewhere in its session
        change = now + rng.uniform(*SESSION_S) * rng.random() / speed
        session = Session(st, version, day)
        if not await session.start():
            session = None
    else:
        change = now + rng.expovariate(1 / IDLE_MEAN_S) * rng.random() / speed
    next_meter = perf() + METER_S / speed
    while perf() < day.rec.t_end:
        due = min(next_heartbeat, change, next_meter if session else change)
        await asyncio.sleep(max(0.0, min(due, day.rec.t_end) - perf()))
        now = perf()
        if now >= day.rec.t_end:
            break
        if now >= next_heartbeat:
            await _call(st, day, "Heartbeat", "{}")
            next_heartbeat += HEARTBEAT_S / speed
        if session is not None and now >= next_meter:
            await session.meter()
            next_meter += METER_S / speed
        if now >= change:
            if session is not None:
                await session.stop()
                session = None
                change = perf() + rng.expovariate(1 / IDLE_MEAN_S) / speed
            else:
                session = Session(st, version, day)
                if not await session.start():
                    session = None
                change = perf() + rng.uniform(*SESSION_S) / speed
                next_meter = perf() + METER_S / speed


async def _worker_main(conn: Any, url: str, stations: list[tuple[str, str]], speed: float,
                       seed: int, charging_share: float, connect_at_once: int) -> None:
    rng = random.Random(seed)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        boot = Recorder(0.0, 0.0)
        gate = asyncio.Semaphore(connect_at_once)

        deadline = time.monotonic() + CONNECT_DEADLINE_S

        async def connect(sid: str, version: str) -> tuple[Station | None, str]:
            while time.monotonic() < deadline:
                async with gate:
                    result = await _connect(http, url, sid, version, boot)
                if isinstance(result, Station):
                    return result, version
                await asyncio.sleep(min(result, 5.0) * rng.uniform(0.5, 1.0))
            boot.errors.add("connect: gave up", sid)
            return None, version

        held = [(st, v) for st, v in await asyncio.gather(*(connect(s, v) for s, v in stations))
                if st is not None]
        conn.send(("ready", len(held), boot.errors.as_dict()))
        loop = asyncio.get_running_loop()
        t_start_wall, t_end_wall = await loop.run_in_executor(None, conn.recv)
        offset = time.perf_counter() - time.time()
        day = Day(t_start_wall + offset, t_end_wall + offset)

        async def guarded(st: Station, version: str) -> None:
            try:
                await live(st, version, speed, day, rng, charging_share)
            except StationLost as exc:
                day.rec.errors.add("connection lost", f"{st.sid}: {exc}")

        tasks = [asyncio.ensure_future(guarded(st, v)) for st, v in held]
        budget = day.rec.t_end - time.perf_counter() + GRACE_S
        _, pending = await asyncio.wait(tasks, timeout=max(budget, 0.1))
        for task in pending:
            task.cancel()
            day.unanswered += 1  # a call still waiting GRACE_S after the window
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(st.ws.close() for st, _ in held), return_exceptions=True)
        conn.send(("result", day.lat.tobytes(), day.start_lat.tobytes(), day.unanswered,
                   day.sessions,
                   dict(day.rec.by_action), day.rec.errors.as_dict()))


CONNECT_DEADLINE_S = 120.0


async def _connect(http: aiohttp.ClientSession, url: str, sid: str, version: str,
                   boot: Recorder) -> Station | float:
    """The booted station, or seconds to wait before trying again. Refusals are counted by
    kind: an HTTP answer (503 + Retry-After, 408), or a connection closed without one, which a
    charger cannot tell from a network fault."""
    dialect = DIALECTS[version]
    try:
        ws = await http.ws_connect(f"{url}/{sid}", protocols=(dialect.subprotocol,),
                                   heartbeat=None, compress=0,
                                   timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
    except aiohttp.WSServerHandshakeError as exc:
        boot.errors.add(f"handshake answered HTTP {exc.status} (retried)")
        return float((exc.headers or {}).get("Retry-After", 1))
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionError) as exc:
        boot.errors.add("handshake closed without an HTTP answer", f"{sid}: {exc!r}")
        return 1.0
    except (TimeoutError, aiohttp.ClientError) as exc:
        boot.errors.add(f"handshake failed: {type(exc).__name__}", f"{sid}: {exc!r}")
        return 1.0
    st = Station(sid, ws)
    try:
        answer, _, _ = await asyncio.wait_for(
            st.call("BootNotification", dialect.boot_notification(sid), boot), GRACE_S)
        if answer is None or answer.get("status") != "Accepted":
            raise StationLost(f"BootNotification answered {answer!r}")
        await asyncio.wait_for(
            st.call("StatusNotification", dialect.status_notification(), boot), GRACE_S)
    except (TimeoutError, StationLost) as exc:
        boot.errors.add("boot failed", f"{sid}: {exc!r}")
        await ws.close()
        return 1.0
    return st


def _worker(conn: Any, url: str, stations: list[tuple[str, str]], speed: float, seed: int,
            cpus: list[int], charging_share: float, connect_at_once: int) -> None:
    try:
        os.sched_setaffinity(0, cpus)
    except (OSError, AttributeError):
        pass
    asyncio.run(_worker_main(conn, url, stations, speed, seed, charging_share,
                             connect_at_once))


# --------------------------------------------------------------------------------------------
# One step of the ladder (the parent)
# --------------------------------------------------------------------------------------------


def _versions(mix: str, n: int) -> list[str]:
    if mix == "mixed":
        return ["1.6" if i % 2 == 0 else "2.0.1" for i in range(n)]
    return [mix] * n


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def run_step(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server = Server("hub", workdir, SERVER_CPU if args.pin else None, None)
    note = server.prepare_hub()
    server.start()
    ctx = multiprocessing.get_context("spawn")
    procs, pipes = [], []
    try:
        rss_before = server.rss_mib() or 0.0
        versions = _versions(args.mix, n)
        ids = [(f"FLEET-{i:05d}", versions[i]) for i in range(n)]
        cpus = generator_cpus() if args.pin else list(range(os.cpu_count() or 1))
        for w in range(args.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(
                child, server.ws_base, ids[w::args.workers], args.speed, args.seed + w, cpus,
                args.charging, args.connect_at_once),
                daemon=True)
            proc.start()
            procs.append(proc)
            pipes.append(parent)
        held, boot_errors = 0, Counter()
        booting = time.monotonic()
        for pipe in pipes:
            if not pipe.poll(args.connect_timeout):
                raise RuntimeError("a generator did not connect its stations in time")
            _, count, errors = pipe.recv()
            held += count
            boot_errors.update(errors["counts"])
        boot_s = time.monotonic() - booting
        rss_held = server.rss_mib() or 0.0
        t_start = time.time() + args.warmup
        t_end = t_start + args.seconds
        for pipe in pipes:
            pipe.send((t_start, t_end))
        time.sleep(max(0.0, t_start - time.time()))
        cpu0 = server.cpu_seconds() or 0.0
        time.sleep(max(0.0, t_end - time.time()))
        cpu1 = server.cpu_seconds() or 0.0
        lat, start_lat = array("d"), array("d")
        unanswered, sessions, by_action, errors = 0, 0, Counter(), Counter()
        for pipe in pipes:
            if not pipe.poll(GRACE_S + 30):
                raise RuntimeError("a generator did not report")
            _, raw, raw_starts, lost, started, actions, errs = pipe.recv()
            lat.frombytes(raw)
            start_lat.frombytes(raw_starts)
            unanswered += lost
            sessions += started
            by_action.update(actions)
            errors.update(errs["counts"])
    finally:
        for proc in procs:
            proc.join(timeout=15)
            if proc.is_alive():
                proc.kill()
        server.stop()
    ordered = sorted(lat)
    # An unanswered call counts as slower than any limit.
    ordered += [float("inf")] * unanswered
    cpu = (cpu1 - cpu0) / args.seconds
    p99 = _percentile(ordered, 0.99)
    return {
        "stations": n, "held": held, "mix": args.mix, "speed": args.speed,
        "answers_per_s": round(len(lat) / args.seconds, 1),
        "p50_ms": round(1000 * (_percentile(ordered, 0.5) or 0), 1),
        "p99_ms": None if p99 is None or p99 == float("inf") else round(1000 * p99, 1),
        "start_p99_ms": round(1000 * (_percentile(sorted(start_lat), 0.99) or 0), 1),
        "start_max_ms": round(1000 * max(start_lat, default=0), 1),
        "starts_answered": len(start_lat), "boot_s": round(boot_s, 1),
        "unanswered": unanswered, "sessions_started": sessions,
        "server_cpu": round(cpu, 3),
        "stations_per_core": round(held / cpu) if cpu > 0 else None,
        "rss_mib_per_station": round((rss_held - rss_before) / held * 1024, 1) if held else None,
        "by_action": dict(by_action), "errors": dict(errors), "boot_errors": dict(boot_errors),
        "note": note,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stations", default="250,500,1000,2000,4000",
                   help="comma-separated ladder of station counts")
    p.add_argument("--mix", choices=("mixed", "1.6", "2.0.1"), default="mixed")
    p.add_argument("--speed", type=float, default=60.0, help="time compression factor")
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds per step")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=2, help="generator processes")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--charging", type=float, default=CHARGING_SHARE,
                   help="share of connectors charging (1.0 with --speed 6: a transaction burst "
                        "with meter values every 10 s)")
    p.add_argument("--connect-at-once", type=int, default=50,
                   help="handshakes in flight per generator process (a boot burst: 1000)")
    p.add_argument("--connect-timeout", type=float, default=120.0)
    p.add_argument("--max-minutes", type=float, default=30.0, help="stop the ladder after this")
    p.add_argument("--no-pin", dest="pin", action="store_false")
    p.add_argument("--json", dest="json_path", default=None)
    args = p.parse_args(argv)
    args.ladder = sorted({int(s) for s in args.stations.split(",") if s.strip()})
    if not args.ladder or args.ladder[0] < 1 or args.ladder[-1] > MAX_STATIONS:
        p.error(f"station counts must be 1..{MAX_STATIONS}")
    if not 0 < args.seconds <= 600 or args.speed <= 0 or args.workers < 1:
        p.error("--seconds must be in (0, 600], --speed and --workers positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    deadline = time.monotonic() + 60 * args.max_minutes
    steps: list[dict[str, Any]] = []
    print(f"fleet: mix {args.mix}, speed x{args.speed:g}, {args.seconds:g} s per step")
    print(f"{'stations':>8} {'held':>6} {'answers/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'lost':>5} {'srv cpu':>8} {'st/core':>8} {'KiB/st':>7}")
    with tempfile.TemporaryDirectory(prefix="pnc-fleet-") as tmp:
        for n in args.ladder:
            if time.monotonic() > deadline:
                print("time budget spent; ladder stopped")
                break
            workdir = Path(tmp) / f"n{n}"
            workdir.mkdir()
            step = run_step(n, args, workdir)
            steps.append(step)
            p99 = step["p99_ms"]
            print(f"{n:>8} {step['held']:>6} {step['answers_per_s']:>10} {step['p50_ms']:>8} "
                  f"{p99 if p99 is not None else 'inf':>8} {step['unanswered']:>5} "
                  f"{step['server_cpu'] * 100:>7.0f}% {step['stations_per_core'] or '-':>8} "
                  f"{step['rss_mib_per_station'] or '-':>7}", flush=True)
            print(f"         {step['held']} booted in {step['boot_s']} s; transaction starts "
                  f"(warm-up included) p99 {step['start_p99_ms']} ms, max "
                  f"{step['start_max_ms']} ms, {step['starts_answered']} answered; "
                  f"{step['sessions_started']} sessions started")
            if step["errors"] or step["boot_errors"]:
                print(f"         errors: {step['errors']} boot: {step['boot_errors']}")
            if p99 is None or p99 >= 1000 * P99_LIMIT or step["held"] < n:
                break
    good = [s for s in steps if s["p99_ms"] is not None and s["p99_ms"] < 1000 * P99_LIMIT
            and s["held"] == s["stations"]]
    best = good[-1] if good else None
    if best:
        print(f"largest N with p99 < {P99_LIMIT:g} s: {best['stations']} stations "
              f"(x{args.speed:g} time: the message load of {best['stations'] * args.speed:,.0f} "
              f"real ones), server CPU {best['server_cpu'] * 100:.0f}% -> "
              f"{best['stations_per_core']} stations per server core at that load; "
              f"{best['rss_mib_per_station']} KiB per held station")
    else:
        print(f"no step kept p99 under {P99_LIMIT:g} s")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"steps": steps, "best": best}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
