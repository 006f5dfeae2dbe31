"""What every part of the benchmark shares: where things are, the servers, phases and limits."""

from __future__ import annotations

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1]
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
