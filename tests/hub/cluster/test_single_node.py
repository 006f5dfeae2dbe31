"""Without ``[cluster] nats_url`` the hub is one node: it never imports NATS, its cluster seam
subscribes on the local bus only, and every lease is its own."""

from __future__ import annotations

import subprocess
import sys

from tests.harness.process import ROOT

# A whole hub (every shipped feature) started in a fresh interpreter, a station connected and
# booted through it, then: was any NATS module ever imported?
_SCRIPT = """
import asyncio, sys
from tests.harness import connect_station, start_hub, wait_for

async def main():
    running = await start_hub(sys.argv[1], dev=True)
    try:
        hub = running.hub
        assert hub.cluster.clustered is False and await hub.cluster.lead("pnc-lifecycle")
        async with connect_station(running, "CP-SINGLE"):
            await wait_for(lambda: "CP-SINGLE" in hub.stations, 10)
    finally:
        await running.stop()
    print(sorted(m for m in sys.modules if m == "nats" or m.startswith("nats.")))

asyncio.run(main())
"""


def test_a_single_node_never_imports_nats(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
