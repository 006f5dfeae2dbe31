"""One target per server under test, and the measured windows interleaved across them."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .common import GRACE_SECONDS, REPO_ROOT, SERVER_TITLES
from .generator import GeneratorError, Workers
from .hub_checks import hub_database_facts, hub_metrics, hub_window_metrics
from .report import add_counts, cpu_rates, cpu_snapshot, merge_errors, pct, window_figures
from .servers import SERVER_CPU, Server, ServerError, generator_cpus


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Target:
    """One server under test with its generator workers and what was measured against it."""

    def __init__(self, kind: str, args: argparse.Namespace, workdir: Path) -> None:
        self.kind = kind
        self.args = args
        cpu = SERVER_CPU if args.pin else None
        self.server = Server(kind, workdir, cpu, args.hub_url, args.hub_token, args.ocpp_version)
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
        _progress(f"[{kind}] starting {SERVER_TITLES[kind]} ...")
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
        gen_cpus = generator_cpus() if args.pin else None
        self.workers = Workers(
            args.workers, server.ws_base, station_ids, gen_cpus, args.ocpp_version
        )
        try:
            ready = self.workers.recv_all("ready", timeout=60 + args.stations * 0.1)
        except GeneratorError as exc:
            self.fail(str(exc))
            return
        for r in ready:
            merge_errors(self.errors, r["errors"])
            add_counts(self.server_calls, r["server_calls"])
            add_counts(self.answered, r["answered"])
        result["connected"] = sum(r["connected"] for r in ready)
        result["connect_seconds"] = round(max(r["seconds"] for r in ready), 2)
        _progress(
            f"[{kind}] {result['connected']}/{args.stations} stations booted in "
            f"{result['connect_seconds']} s"
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
            metrics0 = hub_metrics(server)
            cpu0 = cpu_snapshot(server, workers)
            time.sleep(max(0.0, t_end - time.perf_counter()))
            cpu1 = cpu_snapshot(server, workers)
            metrics1 = hub_metrics(server)
            reports = workers.recv_all("result", timeout=GRACE_SECONDS + 30)
        except (GeneratorError, OSError) as exc:
            self.fail(f"generator failed during {phase}: {exc}")
            return
        for r in reports:
            merge_errors(self.errors, r["errors"])
            add_counts(self.server_calls, r["server_calls"])
            add_counts(self.answered, r["answered"])
        cpu = cpu_rates(cpu0, cpu1, args.seconds, reports)
        ph = window_figures(phase, round_no, args.seconds, reports, cpu)
        ph["hub_metrics"] = hub_window_metrics(metrics0, metrics1)
        self.result["rounds"].append(ph)
        best = self.result["phases"].get(phase)
        if best is None or ph["per_second"] > best["per_second"]:
            self.result["phases"][phase] = ph
        _progress(
            f"[{self.kind}] {phase} round {round_no}: {ph['per_second']:,.0f}/s, "
            f"{sum(ph['errors'].get('counts', {}).values())} errors, "
            f"other CPU {pct(cpu['other'])}"
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
            result["database"] = hub_database_facts(server.database_path())


def run_all(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """Start every server, then interleave the measured windows across them.

    The windows run hub, ocpp, raw for one phase, then the next phase, for each round, so that a
    disturbance from elsewhere on the machine does not land on one server only; every other
    round runs them in the reverse order, so no server always measures right after another.
    With several rounds the best window of each phase and each round's ratio are reported.
    """
    targets = [Target(kind, args, workdir) for kind in args.only]
    try:
        for target in targets:
            target.setup()
        for round_no in range(1, args.rounds + 1):
            order = targets if round_no % 2 else targets[::-1]
            for phase in args.phases:
                for target in order:
                    if target.usable:
                        target.measure(phase, round_no)
    finally:
        for target in targets:
            target.teardown()
    return [target.result for target in targets]
