"""Options and ``main`` of ``bench/ocpp_load.py``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PHASES, SERVERS
from .report import median, print_report, round_ratios
from .run import run_all
from .servers import pin_this_process
from .versions import DEFAULT_VERSION, DIALECTS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="ocpp_load.py",
        description="OCPP load benchmark: the hub against two baselines.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--ocpp-version",
        choices=sorted(DIALECTS),
        default=DEFAULT_VERSION,
        help="OCPP version the stations speak (subprotocol ocpp1.6 or ocpp2.0.1)",
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
        help="measure every phase this many times per server (alternating servers); report "
        "the best window, and each round's hub / ocpp ratio per CPU-second with their median",
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


def _round_ratios(results: list[dict[str, Any]], phases: list[str]) -> dict[str, Any]:
    """Hub / ocpp per server CPU-second, each round and the median, by phase."""
    by_kind = {r["server"]: r for r in results}
    if "hub" not in by_kind or "ocpp" not in by_kind:
        return {}
    out: dict[str, Any] = {}
    for phase in phases:
        ratios = round_ratios(by_kind["hub"], by_kind["ocpp"], phase)
        out[phase] = {"rounds": ratios, "median": median(ratios)}
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.pin and not pin_this_process():
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
            "ocpp_version": args.ocpp_version,
            "stations": args.stations,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "workers": args.workers,
            "pinned": args.pin,
            "cpus": os.cpu_count(),
            "results": results,
            "round_ratios": _round_ratios(results, args.phases),
        }
        Path(args.json_path).write_text(json.dumps(out, indent=2))
    failed = any(r.get("failed") for r in results)
    return 1 if failed else 0
