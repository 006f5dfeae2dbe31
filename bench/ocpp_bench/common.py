"""What every part of the benchmark shares: where things are, the servers, phases and limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .station import Recorder, Station

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


@dataclass(frozen=True)
class Dialect:
    """What differs between OCPP versions, for the generator and the report."""

    version: str  # as given to --ocpp-version
    title: str  # as printed in the report
    subprotocol: str
    boot_notification: Callable[[str], str]  # station id -> payload
    status_notification: Callable[[], str]
    txmix_loop: Callable[[Station, Recorder], Awaitable[None]]
    # The tx-mix's calls as counted (an action, or an action and its event type).
    tx_labels: tuple[str, ...]
    started: str  # the call that starts a transaction
    samples: dict[str, int]  # sampled values each answered call carries, by label
